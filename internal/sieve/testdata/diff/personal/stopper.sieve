require "fileinto";
if exists "list-id" { fileinto "inc-list"; stop; }
