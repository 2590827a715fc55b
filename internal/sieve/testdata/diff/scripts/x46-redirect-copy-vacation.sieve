require ["vacation","copy"];
redirect :copy "archive@example.net";
vacation :days 5 :addresses ["bob@example.com"] "Away with copy";
