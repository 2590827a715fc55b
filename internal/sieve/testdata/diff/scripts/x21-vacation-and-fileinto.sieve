require ["vacation","fileinto"];
if header :contains "x-spam-flag" "YES" { fileinto "Junk"; stop; }
vacation :days 10 :handle "h1" "Away";
fileinto "Seen-by-vacation";
