require ["variables","fileinto"];
if header :matches "subject" "[*] *" { set :lower "list" "${1}"; fileinto "L-${list}"; }
set "n" "Mixed Case";
set :upper "u" "${n}";
if string :is "${u}" "MIXED CASE" { fileinto "upper-ok"; }
