require ["body","fileinto"];
if body :text :contains "invoice" { fileinto "body-invoice"; }
if body :raw :contains "<b>4711</b>" { fileinto "body-raw-html"; }
if body :content "text/plain" :contains "Tracking" { fileinto "body-content"; }
