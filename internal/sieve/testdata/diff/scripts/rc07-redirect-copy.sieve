require ["copy"];
# rule:[forward]
if header :contains "from" "alice@example.org"
{
	redirect :copy "bob.private@example.net";
}
