require ["reject"];
if header :contains "from" "Prize" { reject "No thanks."; }
