require ["relational","comparator-i;ascii-numeric","fileinto"];
if header :count "ge" :comparator "i;ascii-numeric" ["to","cc"] "3" { fileinto "many-recipients"; }
if address :count "eq" :comparator "i;ascii-numeric" "cc" "2" { fileinto "two-cc"; }
