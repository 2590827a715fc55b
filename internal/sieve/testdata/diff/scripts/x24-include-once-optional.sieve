require ["include"];
include :personal :once "flagger";
include :personal :once "flagger";
include :personal :optional "does-not-exist";
