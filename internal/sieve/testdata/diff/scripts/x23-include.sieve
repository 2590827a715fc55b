require ["include","fileinto"];
include :personal "filters";
include :global "spam";
fileinto "after-include";
