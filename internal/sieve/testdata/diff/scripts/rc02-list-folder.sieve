require ["fileinto"];
# rule:[dev list]
if header :contains "list-id" "dev.lists.example.org"
{
	fileinto "Lists/dev";
}
