#!/bin/sh
# Builds deliver and lmtpd into DIR (default ./bin) as the project ships them:
# statically linked (CGO_ENABLED=0), so that nothing but the binary is loaded
# when pipe(8) starts deliver once per message. A default cgo build links the
# C library for net's and os/user's resolvers, and the dynamic loader alone
# costs deliver about 0.9 ms of every message (~20% of its time; bench/README.md).
# Both resolvers have pure-Go equivalents that read /etc/hosts, /etc/resolv.conf
# and /etc/group, which is all maildeliver asks of them.
#
# On linux/amd64 deliver is linked with its own entry point (-E=main.entry,
# cmd/deliver/supervise.go): a fork before the Go runtime starts, so that a
# runtime death (RLIMIT_NPROC, ulimit -v) ends as exit 75, not Go's exit 2,
# which Postfix bounces. `--ldflags` prints those flags (the bench and e2e
# scripts build with the same).
#
#   scripts/build.sh [DIR]
set -eu
cd "$(dirname "$0")/.."
ldflags=
if [ "$(go env GOOS)/$(go env GOARCH)" = linux/amd64 ]; then
  ldflags=./cmd/deliver=-E=main.entry
fi
if [ "${1:-}" = --ldflags ]; then
  echo "$ldflags"
  exit 0
fi
dir=${1:-bin}
mkdir -p "$dir"
CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$dir/" ./cmd/deliver ./cmd/lmtpd
