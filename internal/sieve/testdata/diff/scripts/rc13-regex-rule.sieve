require ["fileinto","regex"];
# rule:[order numbers]
if header :regex "subject" "order [0-9]{4}"
{
	fileinto "Orders";
}
# rule:[german]
if anyof (header :regex "subject" "GRÜSSE|grüße", address :regex :domain "from" "\\.de$")
{
	fileinto "Deutsch";
}
