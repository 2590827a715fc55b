if header :contains "subject" "Hello" { discard; }
