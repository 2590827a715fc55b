require ["imap4flags"];
addflag "Included";
