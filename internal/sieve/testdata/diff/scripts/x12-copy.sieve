require ["fileinto","copy"];
fileinto :copy "Copy1";
redirect :copy "archive@example.net";
