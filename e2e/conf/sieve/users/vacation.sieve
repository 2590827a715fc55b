require ["fileinto","mailbox","imap4flags","vacation"];
# rule:[e2e list]
if header :contains "list-id" "e2e-list.lists.example"
{
	addflag "\\Flagged";
	fileinto :create "Lists";
}
# rule:[Out of office]
if true
{
	vacation :days 1 :subject "Out of office" "I am away until Monday.";
}
