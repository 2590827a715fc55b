require ["fileinto","imap4flags"];
# rule:[no message id]
if not exists "message-id"
{
	fileinto "NoId";
}
# rule:[mark read]
if header :contains "subject" "[dev]"
{
	addflag "\\Seen";
	fileinto "Lists";
	stop;
}
