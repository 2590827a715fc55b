require ["vacation","variables","envelope"];
if envelope :matches "to" "*" { set "me" "${1}"; }
vacation :from "${me}" :subject "Away: ${me}" "I am away.";
