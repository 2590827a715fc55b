### Nextcloud Mail: Filters ### DON'T EDIT ###
require ["fileinto","imap4flags"];
### Nextcloud Mail: Filters ### DON'T EDIT ###
### Nextcloud Mail: Filters ### DON'T EDIT ###
# Notes
if allof (header :contains "Subject" ["notes"], address :is "From" ["erin@example.org"]) {
	fileinto "Work";
	addflag "$label1";
	stop;
}
# Everything else from example.org
if address :domain :is "From" ["example.org"] {
	fileinto "Friends";
}
### Nextcloud Mail: Filters ### DON'T EDIT ###
