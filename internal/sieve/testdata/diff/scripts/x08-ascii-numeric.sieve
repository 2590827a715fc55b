require ["fileinto","comparator-i;ascii-numeric"];
if header :is :comparator "i;ascii-numeric" "x-spam-score" "7" { fileinto "seven"; }
if header :contains "x-priority" "1" { fileinto "urgent"; }
