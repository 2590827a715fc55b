require ["vacation"];
vacation "No subject given.";
