#!/usr/bin/env bash
# Every test of the project: formatting, vet, unit and integration tests
# (race detector on, real PostgreSQL/MariaDB/SQLite), the fault suite
# (scripts/faults.sh), the real-stack suite (Postfix drives deliver and
# lmtpd, Dovecot reads what they wrote) and the differential tests
# (maildeliver and Dovecot deliver the same mail: same place? the same
# Sieve outcome as Pigeonhole, file by file?).
# Needs root (deliver drops to mailbox uids): it installs the Debian
# packages it needs and starts the machine's PostgreSQL and MariaDB first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== dependencies"
scripts/install-deps.sh
# the quota interoperability test must run, not skip, here
export MAILDELIVER_REQUIRE_DOVECOT=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...
go vet -tags faultinject ./cmd/deliver
go vet -tags maildeliver_nosql ./...
go vet -tags faults ./faults

echo "== go test -race"
# e2e/sievediff runs below, on its own, so that its summary line shows
go test -race -count=1 -timeout 30m $(go list ./... | grep -v '/e2e/sievediff$')

echo "== Sieve: stored-file differential against Pigeonhole (README: Sieve)"
go test -race -count=1 -timeout 15m -v ./e2e/sievediff/

# every suite runs even when an earlier one fails: each prints its own table
rc=0
echo "== fault suite (README: Reliability)"
scripts/faults.sh || rc=1

echo "== real stack (Postfix + Dovecot)"
e2e/run.sh || rc=1

echo "== differential test against Dovecot (dovecot-lda, Dovecot's lmtp)"
e2e/diff.sh || rc=1

echo "== scale-out (three backends, proxy and transport_maps, PgBouncer)"
e2e/scaleout.sh || rc=1
exit $rc
