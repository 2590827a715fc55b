# Settings and helpers of the benchmark harness; sourced by bench/run.sh.
# Everything the harness creates lives under $W; nothing is installed as a
# service and nothing outside $W is touched (except apt packages and the
# vmail user, created when missing).

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$BENCH/.." && pwd)

W=${MDBENCH_DIR:-/tmp/mdbench}      # work dir: clusters, sockets, mail trees, logs
PGPORT=${MDBENCH_PGPORT:-55439}     # names the private cluster's socket (no TCP listener)
VUSER=vmail VUID=5000 VGID=5000     # the one mailbox owner (users.uid)
LMTPD_USER=${LMTPD_USER:-root}      # root (setfsuid per delivery, as with per-domain uids) | vmail
LDA_USER=${LDA_USER:-vmail}         # who runs deliver / dovecot-lda, as Postfix's pipe user=vmail does
SENDER=sender@example.net
DOVECOT_LDA=${DOVECOT_LDA:-/usr/lib/dovecot/dovecot-lda}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}     # seconds before one load generator run is killed

BIN=$W/bin
MSGS=$W/msgs
PGDATA=$W/pg
PGSOCK=$W/pgsock
DC=$W/dovecot                       # dovecot.conf, sql conf, logs; base_dir $DC/run
DC_CONF=$DC/dovecot.conf
DC_SOCK=$DC/run/lmtp
MD=$W/ours                          # maildeliver.toml, logs; lmtpd socket $MD/run/lmtp
MD_CONF=$MD/maildeliver.toml
MD_SOCK=$MD/run/lmtp
MAIL_DOVECOT=$W/mail/dovecot        # users.home is relative to these two trees
MAIL_OURS=$W/mail/ours
CSV=$W/runs.csv

PIDS=()          # load generators and workers in flight, killed on exit
LMTPD_PID=""
FAILED_RUNS=0

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FATAL: $*"; exit 1; }

# The PostgreSQL server binaries of the newest installed major version.
pgbin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  echo "$d"
}

psql_mail() { "$PGBIN/psql" -X -q -h "$PGSOCK" -p "$PGPORT" -U postgres -d mail "$@"; }

tree_of() { if [ "$1" = ours ]; then echo "$MAIL_OURS"; else echo "$MAIL_DOVECOT"; fi; }
sock_of() { if [ "$1" = ours ]; then echo "$MD_SOCK"; else echo "$DC_SOCK"; fi; }

# Local parts smtp-source -r R sends to for -t u<j>@...: R..2 prefixed, then u<j>.
rcpt_locals() { # j R
  local n
  for ((n = $2; n >= 2; n--)); do echo "${n}u$1"; done
  echo "u$1"
}

# Group g (0..99) -> the base address smtp-source -t takes.
group_addr() { echo "u$(($1 % 10))@d$(($1 / 10)).example"; }

# User k (0..999) -> address, matching sql/users.sql.
user_addr() {
  local k=$1 n=$(($1 % 10 + 1))
  [ "$n" -eq 1 ] && n=""
  echo "${n}u$((k % 100 / 10))@d$((k / 100)).example"
}

# new/ of an address's INBOX in a tree.
new_dir() { # tree address
  echo "$1/${2#*@}/mails/${2%@*}/Maildir/new"
}

# Number of files in the given new/ directories (missing ones count 0).
count_files() { find "$@" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# Persistent counter so that successive runs use fresh groups/mailboxes.
SEQ=0
next_seq() { local s=$SEQ; SEQ=$((SEQ + $1)); echo "$s"; }

# lmtpd memory (kB) from /proc: VmRSS now, VmHWM since the last reset.
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
# Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0).
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null; }

# Waits for the PIDs in PIDS (never a bare "wait": that would wait for
# lmtpd too); returns the last non-zero exit status.
wait_pids() {
  local p rc=0
  for p in "${PIDS[@]}"; do wait "$p" || rc=$?; done
  PIDS=()
  return "$rc"
}

# Size label (4k, 100k, 100m: powers of 1024) -> bytes.
size_bytes() {
  case $1 in
  *k) echo $((${1%k} << 10)) ;;
  *m) echo $((${1%m} << 20)) ;;
  *) echo "$1" ;;
  esac
}

# Seconds between two $EPOCHREALTIME readings.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

csv_row() { # phase side size conc rcpts mode variant rep msgs deliv seconds ok rss0 hwm
  local IFS=,
  echo "$*" >>"$CSV"
}

# Runs a command as user $1: root as is, vmail via setpriv (uid/gid 5000, no other groups).
as_user() { # user cmd...
  local u=$1
  shift
  if [ "$u" = root ]; then "$@"; else setpriv --reuid="$VUID" --regid="$VGID" --clear-groups -- "$@"; fi
}
