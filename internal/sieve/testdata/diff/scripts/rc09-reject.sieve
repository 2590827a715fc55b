require ["reject"];
# rule:[no prizes]
if header :contains "subject" "prize"
{
	reject "I do not accept prize mail.";
	stop;
}
