require ["editheader","fileinto"];
addheader "X-Filtered" "yes";
if header :is "x-filtered" "yes" { fileinto "edited"; }
deleteheader "x-spam-level";
if not exists "x-spam-level" { fileinto "deleted"; }
