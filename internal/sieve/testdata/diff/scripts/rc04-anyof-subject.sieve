require ["fileinto"];
# rule:[important]
if anyof (header :contains "subject" "invoice", header :contains "subject" "Hello", body :contains "invoice")
{
	fileinto "Important";
}
