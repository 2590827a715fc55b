### Nextcloud Mail: Vacation Responder ### DON'T EDIT ###
require "date";
require "relational";
require "vacation";
require "variables";
### Nextcloud Mail: Vacation Responder ### DON'T EDIT ###
### Nextcloud Mail: Vacation Responder ### DON'T EDIT ###
# DATA: {"version":1,"enabled":true,"start":"2022-09-02","end":"2099-09-08","subject":"Re: ${subject}","message":"I'm on vacation."}
set "subject" "";
if header :matches "subject" "*" {
	set "subject" "${1}";
}
if allof(currentdate :value "ge" "date" "2022-09-02", currentdate :value "le" "date" "2099-09-08") {
	vacation :days 4 :subject "Re: ${subject}" :addresses ["bob@example.com"] "I'm on vacation.";
}
### Nextcloud Mail: Vacation Responder ### DON'T EDIT ###
