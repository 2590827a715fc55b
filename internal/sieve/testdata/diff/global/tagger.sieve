# A before script that edits the header (an administrator's spam tagger):
# the user's script sees its edits (Pigeonhole runs each script of the
# sequence on the message as edited so far).
require ["editheader"];
addheader "X-Tagged" "by-before";
deleteheader "List-Id";
