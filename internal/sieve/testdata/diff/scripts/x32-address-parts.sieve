require ["fileinto"];
if address :localpart :is "to" "bob" { fileinto "local-bob"; }
if address :all :contains ["to","cc"] "team" { fileinto "team"; }
if address :domain :matches "from" "*.example" { fileinto "dot-example"; }
if header :matches "subject" "*order ?711*" { fileinto "matches-q"; }
