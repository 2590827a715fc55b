require ["fileinto","mailbox"];
# site-wide, before every user's script: the spam filter's verdict
if anyof (header :contains "X-Spam-Flag" "YES", header :contains "X-Spam-Status" "Yes,") {
  fileinto :create "Junk";
  stop;
}
