#!/usr/bin/env bash
# Side-by-side benchmark: maildeliver (lmtpd, deliver) against dovecot-lmtp
# and dovecot-lda on the same private PostgreSQL userdb, with the disk's
# fsync ceiling beside every figure. See bench/README.md.
#
#   bench/run.sh [quick|full]          as root; quick ~2 min, full ~35 min
#   bench/run.sh [quick|full] --plan   print the matrix and exit
#
# Writes bench/results/<UTC time>-<mode>.md (the tables, also printed) and
# .csv (every run). Exits 1 when any run was invalid.
set -uo pipefail
MODE=${1:-quick}
. "$(dirname "$0")/lib/env.sh"
. "$BENCH/lib/stack.sh"
. "$BENCH/lib/workloads.sh"

case $MODE in
quick)
  REPS=${REPS:-2}
  MSGS_R1=${MSGS_R1:-300} MSGS_RN=${MSGS_RN:-60}
  LMTP_ROWS=${LMTP_ROWS:-"4k 1 1 spread new-conn
4k 8 1 spread new-conn
4k 32 1 spread new-conn
4k 32 1 spread keepalive
4k 8 10 same new-conn
100k 8 1 same new-conn"}
  LDA_N=${LDA_N:-80}
  LDA_ROWS=${LDA_ROWS:-"4k 1 spread
4k 8 spread"}
  COLD_LMTP_ROWS=${COLD_LMTP_ROWS:-"4k 32 100
4k 32 10"}
  COLD_LDA_ROWS=${COLD_LDA_ROWS:-"4k 1"}
  SIEVE_ROWS=${SIEVE_ROWS:-"4k 32 1 spread keepalive"}
  FSYNC_SIZES=${FSYNC_SIZES:-4k,100k} FSYNC_CONCS=${FSYNC_CONCS:-1,8,32}
  FSYNC_SYNCS=${FSYNC_SYNCS:-full} FSYNC_N=${FSYNC_N:-400} FSYNC_REPS=${FSYNC_REPS:-1}
  RUN_TIMEOUT=${RUN_TIMEOUT:-120}
  ;;
full)
  REPS=${REPS:-3}
  MSGS_R1=${MSGS_R1:-2000} MSGS_RN=${MSGS_RN:-400}
  if [ -z "${LMTP_ROWS:-}" ]; then
    LMTP_ROWS=$(
      for size in 4k 100k; do
        for S in 1 8 32; do
          for R in 1 10; do
            echo "$size $S $R spread new-conn"                    # s=1: spread = same
            [ "$S" -gt 1 ] && echo "$size $S $R same new-conn"
          done
        done
      done
      # Postfix's LMTP client reuses connections (lmtp_connection_cache_on_demand)
      echo "4k 1 1 spread keepalive"
      echo "4k 8 1 spread keepalive"
      echo "4k 32 1 spread keepalive"
      echo "4k 32 1 same keepalive"
      echo "100k 32 1 spread keepalive"
    )
  fi
  COLD_LMTP_ROWS=${COLD_LMTP_ROWS:-"4k 32 100
4k 1 100
4k 32 10"}
  COLD_LDA_ROWS=${COLD_LDA_ROWS:-"4k 1
4k 8"}
  SIEVE_ROWS=${SIEVE_ROWS:-"4k 32 1 spread keepalive"}
  LDA_N=${LDA_N:-500}
  LDA_ROWS=${LDA_ROWS:-"4k 1 spread
4k 8 spread
100k 1 spread
100k 8 spread
4k 8 same"}
  FSYNC_SIZES=${FSYNC_SIZES:-4k,100k} FSYNC_CONCS=${FSYNC_CONCS:-1,8,32}
  FSYNC_SYNCS=${FSYNC_SYNCS:-full} FSYNC_N=${FSYNC_N:-2000} FSYNC_REPS=${FSYNC_REPS:-3}
  ;;
*)
  echo "usage: bench/run.sh [quick|full]" >&2
  exit 2
  ;;
esac
MEM_SIZE=${MEM_SIZE:-100m}
PHASES=${PHASES:-"fsync lda floor lmtp cold mem sieve"}

if [ "${2:-}" = --plan ]; then
  echo "phases: $PHASES; reps per side: $REPS"
  echo "LMTP rows (size sessions rcpts mode variant), $MSGS_R1 msgs per run at r=1, $MSGS_RN at r>1:"
  echo "$LMTP_ROWS" | sed 's/^/  /'
  echo "pipe-mode rows (size workers mode), $LDA_N msgs per run:"
  echo "$LDA_ROWS" | sed 's/^/  /'
  echo "cold mailboxes, LMTP with lmtpload, kept sessions (size sessions new-mailbox-%), $MSGS_R1 msgs per run:"
  echo "$COLD_LMTP_ROWS" | sed 's/^/  /'
  echo "cold mailboxes, pipe mode (size workers), each message to a new mailbox, $LDA_N msgs per run:"
  echo "$COLD_LDA_ROWS" | sed 's/^/  /'
  echo "Sieve on both sides (size sessions rcpts mode variant), after the phases above:"
  echo "$SIEVE_ROWS" | sed 's/^/  /'
  echo "pipe-mode floor: /bin/true, goempty, godrivers at P=1 and 8, $LDA_N per run"
  echo "fsynclimit: sizes $FSYNC_SIZES, c $FSYNC_CONCS, spread+same, sync $FSYNC_SYNCS, $FSYNC_N per run, $FSYNC_REPS reps"
  echo "large message: $MEM_SIZE"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (private Dovecot, PostgreSQL as postgres, deliveries as vmail)"
case $W in /?*/?*) ;; *) die "MDBENCH_DIR must be an absolute path below a directory: $W" ;; esac
[ ! -e "$W" ] || [ -f "$W/.mdbench" ] || die "$W exists and is not a bench work dir"

exec 9>"$W.lock"
flock -n 9 || die "another bench/run.sh holds $W.lock"
PGBIN=$(pgbin)
stop_stale
rm -rf "$W"
mkdir -p "$W/logs" "$W/lda"
cg_make dovecot && cg_make ours || say "no cpuacct control group: Dovecot's CPU per delivery is not measured, lmtpd's from its own ticks"
touch "$W/.mdbench"
chmod 0755 "$W" "$W/lda"
trap teardown EXIT
trap 'exit 130' INT TERM

START=$EPOCHREALTIME
say "bench/run.sh $MODE, work dir $W, lmtpd as $LMTPD_USER, pipe mode as $LDA_USER"
install_packages
build
make_messages 4k:4096 100k:102400 "$MEM_SIZE:$(size_bytes "$MEM_SIZE")"
start_postgres
start_dovecot
write_ours_config
start_lmtpd
warm dovecot
warm ours
WARM_AT=$EPOCHSECONDS

# age_mail waits until the warmed tree (mail root, domains, mailboxes) is
# older than maildeliver's young-mailbox window (2 min, README
# "Reliability": a delivery into a mailbox younger than that also fsyncs
# its young parents, in case another process created them): a site's users
# and domains exist long before their mail arrives. In full mode the fsync
# phase has taken longer than that already; the cold rows' new mailboxes
# are still young, as they are on a site.
age_mail() {
  local left=$((WARM_AT + 125 - EPOCHSECONDS))
  if [ "$left" -gt 0 ]; then
    say "waiting ${left}s: the warmed mailboxes get older than the young-mailbox window (2 min)"
    sleep "$left"
  fi
}

echo "phase,side,size,conc,rcpts,mode,variant,rep,msgs,deliv,seconds,ok,rss0_kb,hwm_kb,busy_pct,cpu_us" >"$CSV"
for phase in $PHASES; do
  case $phase in
  fsync) fsync_phase ;;
  lda) age_mail; lda_phase ;;
  floor) floor_phase ;;
  lmtp) age_mail; lmtp_phase ;;
  cold) age_mail; cold_phase ;;
  sieve) age_mail; sieve_phase ;;
  mem) age_mail; mem_phase ;;
  hold) hold_phase ;;
  *) say "unknown phase $phase" ;;
  esac
done
check_tmp
lmtpd_alive || [ -z "$LMTPD_PID" ] || say "WARNING: lmtpd (pid $LMTPD_PID) is no longer running; see $W/logs/lmtpd.out"

if [ "$(wc -l <"$CSV")" -le 1 ]; then
  say "no timed runs (PHASES=$PHASES); no results written"
  exit 0
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
out=$BENCH/results/$stamp-$MODE
cp "$CSV" "$out.csv"
{
  echo "# maildeliver vs Dovecot, bench/run.sh $MODE, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(findmnt -no FSTYPE,SOURCE -T "$W" | tr -s ' ' ' ')"
  echo "- dovecot $(dovecot --version | awk '{print $1}') (mail_fsync=optimized, auth_cache_size=0), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') private cluster on a unix socket"
  echo "- maildeliver $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?'), $(go version | awk '{print $3}'); lmtpd as $LMTPD_USER, deliver and dovecot-lda as $LDA_USER"
  echo "- cold rows: each message to a mailbox that did not exist (lmtpload, kept sessions); Sieve rows: bench/sieve/user.sieve (20 rules) + before.sieve on both sides"
  echo "- reps per side: $REPS, alternating dovecot/ours on the same mailboxes; msgs per LMTP run: $MSGS_R1 (r=1) / $MSGS_RN (r=10); pipe mode: $LDA_N per run"
  echo "- wall time $(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s; invalid runs: $FAILED_RUNS"
  echo
  "$BIN/report" "$CSV"
} >"$out.md"
cat "$out.md"
say "results: $out.md, $out.csv"
[ "$FAILED_RUNS" -eq 0 ]
