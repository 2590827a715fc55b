require ["fileinto","imap4flags","variables"];
addflag "a";
addflag "b c";
removeflag "b";
keep;
fileinto :flags "x" "X";
