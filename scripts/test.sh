#!/usr/bin/env bash
# Every test of the project: formatting, vet, unit and integration tests
# (race detector on, real PostgreSQL/MariaDB/SQLite), then the real-stack
# suite (Postfix drives deliver and lmtpd, Dovecot reads what they wrote).
# Needs root (deliver drops to mailbox uids) and the machine's PostgreSQL
# and MariaDB; .ci/run installs and starts everything on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...
go vet -tags faultinject ./cmd/deliver

echo "== go test -race"
go test -race -count=1 -timeout 30m ./...

echo "== real stack (Postfix + Dovecot)"
e2e/run.sh
