require ["reject","fileinto"];
fileinto "Kept";
if header :contains "x-spam-flag" "YES" { reject "spam"; }
