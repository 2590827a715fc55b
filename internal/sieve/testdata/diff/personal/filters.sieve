require ["fileinto"];
if header :contains "subject" "Hello" { fileinto "inc-hello"; }
