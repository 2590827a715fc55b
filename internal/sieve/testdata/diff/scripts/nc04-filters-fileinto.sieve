### Nextcloud Mail: Filters ### DON'T EDIT ###
require ["fileinto"];
### Nextcloud Mail: Filters ### DON'T EDIT ###
### Nextcloud Mail: Filters ### DON'T EDIT ###
# FILTER: [{"name":"Shop","enable":true,"operator":"anyof","tests":[{"operator":"contains","values":["shop.example"],"field":"from"},{"operator":"is","values":["Your order"],"field":"subject"}],"actions":[{"type":"fileinto","mailbox":"Shopping"}],"priority":10}]
# Shop
if anyof (address :contains "From" ["shop.example"], header :is "Subject" ["Your order"]) {
	fileinto "Shopping";
}
### Nextcloud Mail: Filters ### DON'T EDIT ###
