require ["regex","fileinto"];
if header :regex "subject" "^[[]dev[]]" { fileinto "regex-dev"; }
