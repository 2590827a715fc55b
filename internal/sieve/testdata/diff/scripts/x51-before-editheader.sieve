# diff-before: tagger
require ["fileinto"];
if header :is "X-Tagged" "by-before" { fileinto "Tagged"; }
if exists "List-Id" { fileinto "StillList"; stop; }
