require ["fileinto","copy"];
# rule:[archive copy]
if header :matches "subject" "*order*"
{
	fileinto :copy "Archive";
}
