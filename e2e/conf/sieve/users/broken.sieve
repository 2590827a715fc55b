require ["fileinto"];
# written by hand: the semicolon after fileinto is missing, so the script does not compile
if header :contains "subject" "e2e"
{
	fileinto "Typo"
}
