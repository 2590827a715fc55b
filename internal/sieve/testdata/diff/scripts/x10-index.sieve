require ["index","fileinto"];
if header :index 1 :contains "received" "mx" { fileinto "first-received"; }
if address :index 2 :is "cc" "frank@example.org" { fileinto "second-cc"; }
if header :index 1 :last :contains "cc" "bob" { fileinto "last-cc"; }
