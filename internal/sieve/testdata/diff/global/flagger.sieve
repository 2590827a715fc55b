require ["imap4flags"];
addflag "FromBefore";
