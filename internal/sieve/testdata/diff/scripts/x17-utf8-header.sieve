require ["fileinto"];
if header :contains "from" "Jürgen" { fileinto "from-juergen"; }
if address :is "from" "juergen@example.de" { fileinto "addr-juergen"; }
if header :is "subject" "Grüße aus München" { fileinto "exact-subject"; }
