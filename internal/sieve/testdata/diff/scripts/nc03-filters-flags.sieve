### Nextcloud Mail: Filters ### DON'T EDIT ###
require ["imap4flags"];
### Nextcloud Mail: Filters ### DON'T EDIT ###
### Nextcloud Mail: Filters ### DON'T EDIT ###
# FILTER: [{"name":"Hello","enable":true,"operator":"allof","tests":[{"operator":"contains","values":["Hello"],"field":"subject"}],"actions":[{"type":"addflag","flag":"Test 123"}],"priority":10}]
# Hello
if header :contains "Subject" ["Hello"] {
	addflag "$test_123";
}
# World
if header :contains "Subject" ["World"] {
	addflag "$test_456";
}
### Nextcloud Mail: Filters ### DON'T EDIT ###
