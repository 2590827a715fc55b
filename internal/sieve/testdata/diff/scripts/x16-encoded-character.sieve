require ["encoded-character","fileinto"];
if header :contains "subject" "${unicode:00FC}" { fileinto "umlaut"; }
if header :contains "subject" "M${hex:C3 BC}nchen" { fileinto "muenchen"; }
