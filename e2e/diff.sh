#!/bin/bash
# Differential test against the real Dovecot: for each of the four setups (SPEC "Examples
# that must work unchanged") and both routes, every case is delivered twice on the same
# SQL userdb and the same location -- once by Dovecot (pipe: dovecot-lda, lmtp: Dovecot's
# lmtp), once by maildeliver (pipe: deliver, lmtp: lmtpd) -- each into a fresh mail root.
# Both must put every message in the same place (path relative to the mail root, down to
# new/, the unique file name left out), create the same folder directories, and Dovecot
# (doveadm mailbox list -s) must see the same subscriptions. Dovecot is the oracle: a row
# where Dovecot itself does not deliver where it should is a harness failure.
#
# Run as root, with the machine's PostgreSQL and MariaDB up (scripts/install-deps.sh):
#     e2e/diff.sh
# Environment (all optional):
#     E2E_SETUPS="pg my002 my004 sqlite"   which setups
#     E2E_ROUTES="pipe lmtp"               which routes
#     E2E_CASES="plain detail ..."         which cases (default: all; see CASES below)
#     E2E_AGENT=ours|dovecot               dovecot = harness self-test: Dovecot on both sides
#     E2E_KEEP=1                           keep the temp dir even on success
#     E2E_DELIVER=/path E2E_LMTPD=/path    test these binaries instead of building ./cmd/...
# Prints one row per (setup, route, case) and exits 1 if any row disagrees.
set -euo pipefail

E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
. "$E2E/lib/common.sh"
# shellcheck source=lib/inject.sh
. "$E2E/lib/inject.sh"
# shellcheck source=lib/dovecot.sh
. "$E2E/lib/dovecot.sh"
# shellcheck source=lib/setups.sh
. "$E2E/lib/setups.sh"
# shellcheck source=lib/difftest.sh
. "$E2E/lib/difftest.sh"

read -r -a SETUPS <<<"${E2E_SETUPS:-${ALL_SETUPS[*]}}"
read -r -a ROUTES <<<"${E2E_ROUTES:-pipe lmtp}"
read -r -a CASES <<<"${E2E_CASES:-${ALL_CASES[*]}}"
START=$SECONDS

[[ $(id -u) == 0 ]] || die "run as root (mailbox uids, a private Dovecot)"
for c in "${CASES[@]}"; do [[ " ${ALL_CASES[*]} " == *" $c "* ]] || die "unknown case $c (want: ${ALL_CASES[*]})"; done
for r in "${ROUTES[@]}"; do [[ $r == pipe || $r == lmtp ]] || die "unknown route $r (want: pipe lmtp)"; done
for b in /usr/lib/dovecot/dovecot-lda /usr/lib/dovecot/lmtp /usr/lib/dovecot/imap; do
  [[ -x $b ]] || die "$b is missing (scripts/install-deps.sh installs Dovecot)"
done
command -v swaks >/dev/null || die "swaks is missing (scripts/install-deps.sh installs it)"

T=$(mktemp -d /tmp/md-diff.XXXXXX)
chmod 0755 "$T"
trap teardown EXIT
trap 'exit 130' INT TERM
RUN_ID=$(basename "$T" | cut -d. -f2)
log "temp dir $T"
ensure_users

DIFF_AGENT=${E2E_AGENT:-ours}
[[ $DIFF_AGENT == ours || $DIFF_AGENT == dovecot ]] || die "E2E_AGENT: want ours or dovecot"
mkdir -p "$T/bin"
BUILD_ERR=()
[[ $DIFF_AGENT == dovecot ]] || build_ours "$T/bin"
((${#BUILD_ERR[@]} == 0)) || die "cmd/${BUILD_ERR[*]} does not build"
chmod -R a+rX "$T/bin"
DELIVER=$T/bin/deliver LMTPD=$T/bin/lmtpd

# the values the setups' templates need besides the database
MD_HOSTNAME=mx.e2e.test SENDER=alice@remote.example
AGENT=ours # lib/dovecot.sh: no include of run.sh's self-test (conf/dovecot/selftest.conf)
: >"$T/rows.tsv"
for setup in "${SETUPS[@]}"; do
  setup_roles "$setup"
  log "== $setup: $SETUP_TITLE"
  db_create
  diff_setup_up
  for case in "${CASES[@]}"; do
    for route in "${ROUTES[@]}"; do
      run_row "$case" "$route"
    done
  done
  dc_stop
done

print_rows
log "total $((SECONDS - START))s"
if awk -F'\t' '$6 == "no" || $6 == "ORACLE" { bad = 1 } END { exit !bad }' "$T/rows.tsv"; then exit 1; fi
