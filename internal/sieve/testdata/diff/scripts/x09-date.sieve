require ["date","relational","fileinto","variables"];
if date :is "date" "year" "2026" { fileinto "y2026"; }
if date :value "lt" :originalzone "date" "hour" "10" { fileinto "morning"; }
if date :zone "+0000" :is "date" "weekday" "1" { fileinto "monday"; }
if date :matches "date" "month" "*" { fileinto "m${1}"; }
