#!/bin/sh
# The fault suite (package faults): builds deliver and lmtpd as
# scripts/build.sh does, attacks the binaries from outside (SIGKILL under
# load, strace fault injection, a silent database, hostile LMTP input, the
# mailbox owner's file-system races, the userdb socket) and prints one row
# of figures per fault: README.md's "Reliability" table. Exits non-zero
# when any row fails. Needs root, strace, PostgreSQL and MariaDB.
#
#   scripts/faults.sh                      # CI: 300 kill cycles, ~2-3 minutes
#   FAULTS_LONG=1 scripts/faults.sh        # 1,000 kill cycles, more tries
#   FAULTS='crash|hostile LMTP/slow' scripts/faults.sh   # rows whose class/fault match
#   FAULTS_SEED=N scripts/faults.sh        # repeat a run's random choices
#   scripts/faults.sh -test.v              # with each row's log
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -tags faults -o "$tmp/faults.test" ./faults
cd faults
"$tmp/faults.test" -test.timeout 30m "$@"
