require ["fileinto"];
fileinto "A" "B";
