# diff-before: spam
require ["fileinto"];
fileinto "UserFolder";
