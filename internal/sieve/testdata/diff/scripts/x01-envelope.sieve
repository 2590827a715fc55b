require ["envelope","fileinto"];
if envelope :is "from" "alice@example.org" { fileinto "from-alice"; }
if envelope :domain :is "to" "example.com" { fileinto "to-example"; }
if envelope :localpart :matches "from" "*daemon*" { fileinto "daemon"; }
