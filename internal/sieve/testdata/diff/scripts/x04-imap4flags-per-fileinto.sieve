require ["fileinto","imap4flags"];
setflag "\\Seen";
fileinto :flags "\\Flagged Work" "Tagged";
fileinto "Plain";
addflag "Later";
