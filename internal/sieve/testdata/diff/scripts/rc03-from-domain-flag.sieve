require ["fileinto","imap4flags"];
# rule:[shop orders]
if address :domain :is "from" "shop.example"
{
	fileinto "Orders";
	addflag "\\Flagged";
}
