# diff-before: spam
# diff-after: after-hello
# spam → Junk before the user's script; the flags carry into the after script.
require ["imap4flags"];
addflag "\\Flagged";
