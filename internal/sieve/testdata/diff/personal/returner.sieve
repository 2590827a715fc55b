require ["include","fileinto"];
if header :contains "subject" "Hello" { return; }
fileinto "not-hello";
