# Global before script (sieve_before): what the spam filter marked goes to Junk, and
# no user rule (nor a vacation reply) sees it. The folder name carries the inbox namespace's
# prefix ("INBOX." with seed 002's namespace: Pigeonhole and maildeliver fail a
# fileinto "Junk" there, outside the namespace).
require ["fileinto", "mailbox"];
if header :contains "X-Spam-Flag" "YES"
{
	fileinto :create "@FOLDER_PREFIX@Junk";
	stop;
}
