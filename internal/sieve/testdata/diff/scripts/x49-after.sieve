# diff-after: after-hello
# sieve_after runs only while the keep is in effect: not after "fileinto; stop".
require ["fileinto"];
if header :contains "from" "alice" { fileinto "from-alice"; stop; }
