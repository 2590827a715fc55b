require ["fileinto","mailbox","imap4flags","envelope","regex"];
# rule: Spam score
if header :contains "X-Spam-Flag" "YES" {
  fileinto :create "Junk";
  stop;
}
# rule: Boss
if address :is "from" ["boss@example.com","ceo@example.com"] {
  addflag "\\Flagged";
}
# rule: Invoices
if anyof (header :contains "subject" "invoice", header :contains "subject" "Rechnung") {
  fileinto :create "Finance";
}
# rule: Mailing list dovecot
if header :contains "list-id" "dovecot.dovecot.org" {
  fileinto :create "Lists.Dovecot";
  stop;
}
# rule: Mailing list postfix
if header :contains "list-id" "postfix-users.postfix.org" {
  fileinto :create "Lists.Postfix";
  stop;
}
# rule: GitHub
if address :domain :is "from" "github.com" {
  fileinto :create "GitHub";
  stop;
}
# rule: Shop receipts
if address :domain :is "from" ["amazon.de","ebay.de","paypal.de"] {
  fileinto :create "Shopping";
}
# rule: Newsletter
if exists "list-unsubscribe" {
  fileinto :create "Newsletter";
  stop;
}
# rule: Family
if address :is "from" ["mom@example.org","dad@example.org","sister@example.org"] {
  addflag "\\Flagged";
  fileinto :create "Family";
}
# rule: Calendar
if header :contains "content-type" "text/calendar" {
  fileinto :create "Calendar";
}
# rule: Tickets
if header :regex "subject" "^\\[(TICKET|Ticket) #[0-9]+\\]" {
  fileinto :create "Support";
  stop;
}
# rule: Monitoring
if address :localpart :is "from" ["nagios","zabbix","monitoring"] {
  addflag "\\Seen";
  fileinto :create "Monitoring";
  stop;
}
# rule: Travel
if header :contains "subject" ["booking confirmation","Buchungsbestätigung","itinerary"] {
  fileinto :create "Travel";
}
# rule: Bank
if address :domain :is "from" ["bank.example","sparkasse.de"] {
  addflag "\\Flagged";
  fileinto :create "Finance";
}
# rule: Social
if address :domain :is "from" ["facebookmail.com","linkedin.com","mastodon.social"] {
  fileinto :create "Social";
  stop;
}
# rule: Big mail
if size :over 5M {
  addflag "Big";
}
# rule: Low priority
if header :is "x-priority" ["5","5 (Lowest)"] {
  addflag "\\Seen";
}
# rule: Old domain
if envelope :domain :is "to" "old.example" {
  fileinto :create "Old";
}
# rule: Bench mail (the bench's message matches here)
if allof (address :is "from" "sender@example.net", header :contains "subject" "maildeliver bench") {
  addflag "\\Seen";
  fileinto :create "Bench";
  stop;
}
# rule: Catch-all flag for unknown senders
if not address :domain :is "from" ["example.com","example.org"] {
  addflag "External";
}
