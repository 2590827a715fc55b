// Package faults is maildeliver's fault suite: it attacks the built,
// statically linked deliver and lmtpd binaries from outside (SIGKILL under
// load, strace fault injection, a database that never answers, hostile
// LMTP input, file-system races by the mailbox owner, the userdb socket)
// and prints one row of figures per fault class. The suite is the package's
// tests behind the build tag "faults" (it needs root, strace and the
// machine's PostgreSQL and MariaDB); scripts/faults.sh builds and runs it,
// and README.md's "Reliability" section holds its table.
//
//	FAULTS=REGEXP     run only the rows whose "class/row" matches
//	FAULTS_LONG=1     the longer mode (1,000 kill cycles, more tries)
//	FAULTS_SEED=N     repeat a run's random choices (the seed is printed)
//	FAULTS_BIN=DIR    use deliver and lmtpd from DIR instead of building them
//	FAULTS_TABLE=FILE also write the table to FILE, failures in short
package faults
