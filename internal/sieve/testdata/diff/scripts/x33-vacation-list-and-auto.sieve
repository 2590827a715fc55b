require ["vacation"];
vacation :days 1 :addresses ["dev@lists.example.org"] "Away (lists too)";
