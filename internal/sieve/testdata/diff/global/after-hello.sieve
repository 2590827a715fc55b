require ["fileinto","imap4flags"];
if header :contains "subject" "Hello" { addflag "\\Answered"; fileinto "after-hello"; }
