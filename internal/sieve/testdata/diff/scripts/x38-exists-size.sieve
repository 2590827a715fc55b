require ["fileinto"];
if size :under 1K { fileinto "small"; }
if exists ["list-id","list-post"] { fileinto "both-list"; }
if header :contains "x-auto-response-suppress" "All" { fileinto "suppress"; }
