# Global before script (sieve_before): what the spam filter marked goes to Junk, and
# no user rule (nor a vacation reply) sees it.
require ["fileinto", "mailbox"];
if header :contains "X-Spam-Flag" "YES"
{
	fileinto :create "Junk";
	stop;
}
