require ["envelope","subaddress","fileinto","variables"];
if envelope :detail :matches "to" "*" { if string :is "${1}" "" { keep; } else { fileinto "plus-${1}"; } }
if envelope :user :is "to" "bob" { fileinto "user-bob"; }
