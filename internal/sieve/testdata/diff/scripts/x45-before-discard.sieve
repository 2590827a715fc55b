# diff-before: discarder
require ["fileinto"];
fileinto "NeverReached";
