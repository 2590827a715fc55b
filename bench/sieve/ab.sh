#!/usr/bin/env bash
# A/B of lmtpd's CPU per delivery without and with Sieve on one warmed
# stack, so that the VM's drift between a full run's rows does not enter
# the comparison (bench/README.md, "Sieve's CPU rise, A/B"). Needs a held
# bench stack with the Sieve set-up:
#
#   PHASES="sieve hold" REPS=1 bench/run.sh quick &   # wait for "holding the stack"
#   bench/sieve/ab.sh [rounds]                       # then rm /tmp/mdbench/hold
#
# It stops the bench's lmtpd and starts its own, alternately with the
# bench's configuration without and with [sieve]; each run sends 32 kept
# sessions spread over 32 mailboxes, 60 messages each, after a warm-up of 20
# each, and prints lmtpd's user+system time per delivery.
set -euo pipefail
W=${MDBENCH_DIR:-/tmp/mdbench}
ROUNDS=${1:-3}
[ -e "$W/hold" ] || { echo "no held bench stack in $W (PHASES=\"sieve hold\")" >&2; exit 2; }
[ -f "$W/ours/maildeliver-sieve.toml" ] || { echo "the held stack has no Sieve set-up (PHASES=\"sieve hold\")" >&2; exit 2; }
HZ=$(getconf CLK_TCK)
LP=
load() { # messages per session
  local g pids=()
  for g in $(seq 0 31); do
    smtp-source -L -d -s 1 -m "$1" -r 1 -f sender@example.net -t "u$((g % 10))@d$((g / 10)).example" \
      -M bench.example -F "$W/msgs/msg-4k.eml" "unix:$W/ours/run/lmtp" &
    pids+=($!)
  done
  wait "${pids[@]}" # not lmtpd, also a child of this shell
}
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$LP/stat"; }
start() {
  rm -f "$W/ours/run/lmtp"
  "$W/bin/lmtpd" -c "$1" </dev/null >>"$W/logs/ab-lmtpd.out" 2>&1 &
  LP=$!
  for _ in $(seq 100); do [ -S "$W/ours/run/lmtp" ] && return 0; sleep 0.1; done
  echo "lmtpd did not come up: $W/logs/ab-lmtpd.out" >&2
  exit 1
}
stop() { kill -TERM "$LP"; wait "$LP" 2>/dev/null || true; }
trap '[ -z "$LP" ] || stop' EXIT
kill -TERM "$(cat "$W/lmtpd.pid")" 2>/dev/null || true
sleep 1
for round in $(seq 1 "$ROUNDS"); do
  for cfg in maildeliver.toml maildeliver-sieve.toml; do
    start "$W/ours/$cfg"
    load 20
    t0=$(ticks)
    load 60
    t1=$(ticks)
    echo "round $round $cfg: $(((t1 - t0) * 1000000 / HZ / 1920)) us CPU per delivery"
    stop
    LP=
  done
done
