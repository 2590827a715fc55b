require ["fileinto","imap4flags"];
addflag "z";
fileinto "INBOX";
