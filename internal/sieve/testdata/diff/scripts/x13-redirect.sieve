if header :contains "subject" "Meeting" { redirect "assistant@example.com"; }
