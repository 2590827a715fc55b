#!/bin/bash
# What scale-out costs (issue 14): the LMTP proxy hop and PgBouncer.
#   1. proxy overhead: smtp-source -L through the proxy lmtpd (127.0.0.1, [lmtp] proxy =
#      true) and straight to the backend lmtpd (in its own network namespace, 10.X.1.2),
#      the same messages to the same user, in alternating pairs; median time per message
#      (1 session) and median throughput (8 sessions)
#   2. userdb lookups as lmtpd makes them at RCPT (bench/lookupbench, package lookup)
#      through PgBouncer (pool_mode=transaction; lmtpd's default pgx mode, exec) and
#      straight to PostgreSQL over TCP (exec, and pgx's own default, cache_statement,
#      which PgBouncer 1.18 in transaction mode cannot take), in alternating rounds; medians of p50 and of lookups/s;
#      PgBouncer has default_pool_size = 8, as many server connections as lookers
# The machines are e2e/scaleout.sh's (e2e/lib/scaleout.sh): a throwaway database on the
# machine's PostgreSQL, a private PgBouncer, backend lmtpd in a network namespace.
# Prints Markdown rows. Run as root, under the suite lock:
#     flock /tmp/e2e.lock bench/scaleout.sh [PAIRS]     (default 5 pairs; about a minute)
# Environment: BENCH_MSGS=200 (messages per run), BENCH_SIZE=4096 (bytes),
#              BENCH_LOOKUPS=2000 (lookups per run), E2E_KEEP=1 (keep the temp dir)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E=$BENCH/../e2e
# shellcheck source=../e2e/lib/common.sh
. "$E2E/lib/common.sh"
# shellcheck source=../e2e/lib/setups.sh
. "$E2E/lib/setups.sh"
# shellcheck source=../e2e/lib/scaleout.sh
. "$E2E/lib/scaleout.sh"

PAIRS=${1:-5}
MSGS=${BENCH_MSGS:-200}
SIZE=${BENCH_SIZE:-4096}
LOOKUPS=${BENCH_LOOKUPS:-2000}
[[ $(id -u) == 0 ]] || die "run as root (network namespaces, lmtpd dropping to uid 5000)"
for c in smtp-source pgbouncer psql ip; do command -v "$c" >/dev/null || die "$c is missing (scripts/install-deps.sh)"; done

T=$(mktemp -d /tmp/md-sxbench.XXXXXX)
chmod 0755 "$T"
RUN_ID=$(basename "$T" | cut -d. -f2)
trap teardown EXIT
trap 'exit 130' INT TERM
ensure_users

GO=$(command -v go || echo /usr/local/go/bin/go)
mkdir -p "$T/bin"
(cd "$BENCH/.." && CGO_ENABLED=0 "$GO" build -trimpath -o "$T/bin/lmtpd" ./cmd/lmtpd &&
  CGO_ENABLED=0 "$GO" build -trimpath -o "$T/bin/lookupbench" ./bench/lookupbench) >"$T/build.log" 2>&1 ||
  { cat "$T/build.log" >&2; die "build failed"; }
LMTPD=$T/bin/lmtpd

SX_BACKENDS=(1) # one backend is enough to time the hop
sx_net_up
on_exit sx_stop_lmtpds
sx_db_create
PGB_POOL=8 # as many server connections as the most lookers below
sx_pgbouncer_start
V=$T/bench LMTP_PORT=$(free_port)
mkdir -p "$V"
sx_db_port "$LMTP_PORT"
# the e2e proxy variant's configuration, on both lmtpd
PROXY_ADDR=127.0.0.1
SX_PROXY_QUERY="SELECT uid, gid, host, port, proxy_maybe FROM users WHERE userid = '%u'"
SX_PROXY_EXTRA="proxy = true"
SX_BACKEND_QUERY=$SX_PROXY_QUERY SX_BACKEND_EXTRA=$SX_PROXY_EXTRA
sx_backend_start 1 || die "backend did not start"
sx_proxy_start || die "proxy did not start"
RCPT=anna@sx.test ROOT=$V/b1/mail

# lmtp_run TARGET SESSIONS: one timed smtp-source run; prints its seconds. Valid only if
# the backend's mail root grew by exactly MSGS files and smtp-source exited 0.
lmtp_run() {
  local target=$1 sessions=$2 before after t0 t1
  before=$(sx_count_files "$ROOT")
  sync
  t0=$(date +%s%N)
  smtp-source -L -d -s "$sessions" -m "$MSGS" -l "$SIZE" -f bench@remote.example -t "$RCPT" "$target" \
    >>"$T/smtp-source.log" 2>&1 || die "smtp-source to $target failed (see $T/smtp-source.log)"
  t1=$(date +%s%N)
  after=$(sx_count_files "$ROOT")
  ((after - before == MSGS)) || die "run to $target: $((after - before)) new files, want $MSGS"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# warm-up: the mailbox exists, both lmtpd have their pools and the proxy its backend connection
lmtp_run "127.0.0.1:$LMTP_PORT" 1 >/dev/null
lmtp_run "$(sx_addr 1):$LMTP_PORT" 1 >/dev/null

: >"$T/lmtp.tsv"
for s in 1 8; do
  for ((i = 1; i <= PAIRS; i++)); do
    # alternate which side goes first, so that drift over the pairs hits both alike
    if ((i % 2)); then order=(proxy direct); else order=(direct proxy); fi
    for side in "${order[@]}"; do
      if [[ $side == proxy ]]; then target=127.0.0.1:$LMTP_PORT; else target=$(sx_addr 1):$LMTP_PORT; fi
      printf '%s\t%s\t%s\n' "$s" "$side" "$(lmtp_run "$target" "$s")" >>"$T/lmtp.tsv"
    done
  done
done

lmtp_median() { awk -F'\t' -v s="$1" -v d="$2" '$1 == s && $2 == d { print $3 }' "$T/lmtp.tsv" | median; }

# lookups: three connect strings, rounds alternating their order
declare -A CONNECT=(
  [pgbouncer]="host=127.0.0.1 port=$PGB_PORT dbname=$DB user=postgres"
  [direct-exec]="host=127.0.0.1 port=5432 dbname=$DB user=postgres"
  [direct-cache]="host=127.0.0.1 port=5432 dbname=$DB user=postgres default_query_exec_mode=cache_statement"
)
SIDES=(pgbouncer direct-exec direct-cache)
USERS=$(IFS=,; echo "${SX_USERS[*]%:*}")
: >"$T/lookup.tsv"
for c in 1 8; do
  for ((i = 1; i <= PAIRS; i++)); do
    if ((i % 2)); then order=("${SIDES[@]}"); else order=(direct-cache direct-exec pgbouncer); fi
    for side in "${order[@]}"; do
      out=$("$T/bin/lookupbench" -connect "${CONNECT[$side]}" -query "SELECT uid, gid, host, port, proxy_maybe FROM users WHERE userid = '%u'" \
        -users "$USERS" -n "$LOOKUPS" -c "$c") || die "lookupbench $side failed: $out"
      p50=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$out") per=$(sed -n 's/.* per_s=\([0-9]*\).*/\1/p' <<<"$out")
      printf '%s\t%s\t%s\t%s\n' "$c" "$side" "$p50" "$per" >>"$T/lookup.tsv"
    done
  done
done
lookup_median() { awk -F'\t' -v c="$1" -v d="$2" -v f="$3" '$1 == c && $2 == d { print $f }' "$T/lookup.tsv" | median; }

# ---- report ------------------------------------------------------------------------------
printf '\nbench/scaleout.sh: %s pairs, %s messages of %s bytes per run, %s lookups per run; %s, %s cores, load %s, %s\n\n' \
  "$PAIRS" "$MSGS" "$SIZE" "$LOOKUPS" "$(date -u +%FT%TZ)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(git -C "$BENCH/.." rev-parse --short HEAD 2>/dev/null || echo ?)"
printf '| LMTP, 1 recipient, keepalive | through the proxy | straight to the backend | proxy overhead |\n|---|---|---|---|\n'
p=$(lmtp_median 1 proxy) d=$(lmtp_median 1 direct)
awk -v p="$p" -v d="$d" -v m="$MSGS" 'BEGIN { printf "| 1 session: ms per message (median) | %.2f | %.2f | +%.2f ms (%+.0f%%) |\n", p / m * 1000, d / m * 1000, (p - d) / m * 1000, (p / d - 1) * 100 }'
p=$(lmtp_median 8 proxy) d=$(lmtp_median 8 direct)
awk -v p="$p" -v d="$d" -v m="$MSGS" 'BEGIN { printf "| 8 sessions: messages/s (median) | %.0f | %.0f | %+.0f%% time per message |\n", m / p, m / d, (p / d - 1) * 100 }'
printf '\n| userdb lookup (lmtpd RCPT path, no cache) | PgBouncer, transaction pool (exec, the default) | PostgreSQL direct (exec) | PostgreSQL direct (cache_statement) |\n|---|---|---|---|\n'
for c in 1 8; do
  printf '| %s looker%s: p50 µs (median) | %s | %s | %s |\n' "$c" "$([[ $c == 1 ]] || echo s)" \
    "$(lookup_median "$c" pgbouncer 3)" "$(lookup_median "$c" direct-exec 3)" "$(lookup_median "$c" direct-cache 3)"
  printf '| %s looker%s: lookups/s (median) | %s | %s | %s |\n' "$c" "$([[ $c == 1 ]] || echo s)" \
    "$(lookup_median "$c" pgbouncer 4)" "$(lookup_median "$c" direct-exec 4)" "$(lookup_median "$c" direct-cache 4)"
done
printf '\n'
