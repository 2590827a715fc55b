require ["include","fileinto"];
include :personal "stopper";
fileinto "after-stop";
