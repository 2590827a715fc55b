require ["environment","fileinto"];
if environment :contains "name" "Pigeonhole" { fileinto "env-name"; }
if environment :is "unknown-item" "" { fileinto "env-unknown"; }
