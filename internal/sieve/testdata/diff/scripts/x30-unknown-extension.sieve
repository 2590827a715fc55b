require ["nonexistent"];
keep;
