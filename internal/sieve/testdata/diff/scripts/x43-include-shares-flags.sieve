require ["include","fileinto"];
include :personal "flagger";
fileinto "AfterFlag";
