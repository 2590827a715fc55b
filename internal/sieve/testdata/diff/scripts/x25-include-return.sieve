require ["include","fileinto"];
include :personal "returner";
fileinto "main-continued";
