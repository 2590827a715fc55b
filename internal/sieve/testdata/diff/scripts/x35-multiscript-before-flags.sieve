# diff-before: flagger
require ["fileinto"];
if header :contains "subject" "Hello" { fileinto "Hello"; }
