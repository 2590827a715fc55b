require ["fileinto","comparator-i;unicode-casemap"];
if header :contains :comparator "i;unicode-casemap" "subject" "GRÜSSE" { fileinto "casemap"; }
if header :contains :comparator "i;octet" "subject" "hello" { fileinto "octet-lower"; }
if header :contains "subject" "HELLO" { fileinto "ascii-casemap"; }
