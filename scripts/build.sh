#!/bin/sh
# Builds deliver and lmtpd into DIR (default ./bin) as the project ships them:
# statically linked (CGO_ENABLED=0), so that nothing but the binary is loaded
# when pipe(8) starts deliver once per message. A default cgo build links the
# C library for net's and os/user's resolvers, and the dynamic loader alone
# costs deliver about 0.9 ms of every message (~20% of its time; bench/README.md).
# Both resolvers have pure-Go equivalents that read /etc/hosts, /etc/resolv.conf
# and /etc/group, which is all maildeliver asks of them.
#
#   scripts/build.sh [DIR]
set -eu
cd "$(dirname "$0")/.."
dir=${1:-bin}
mkdir -p "$dir"
CGO_ENABLED=0 go build -trimpath -o "$dir/" ./cmd/deliver ./cmd/lmtpd
