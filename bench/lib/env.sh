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
MD_CONF_BASE=$MD_CONF               # without [sieve]; the sieve phase switches MD_CONF
SIEVE=$W/sieve                      # the global before script and the users' script
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

tree_of() { case $1 in ours | nosql) echo "$MAIL_OURS" ;; *) echo "$MAIL_DOVECOT" ;; esac; }
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

# Cold user i (0..99999) -> address, matching sql/cold.sql.
cold_addr() { echo "n$(($1 / 100))@c$(($1 % 100)).example"; }
COLD_USERS=100000

# Writes the recipients of M messages, one line each, for lmtpload -rcpts:
# every (100/NEWPCT)th message (all at 100) to the next cold user from
# COLD0 on, the others to existing user (WARM0 + i) mod 1000. Prints how
# many cold users it took.
gen_rcpts() { # M NEWPCT COLD0 WARM0 FILE
  awk -v m="$1" -v pct="$2" -v c0="$3" -v w0="$4" -v out="$5" 'BEGIN {
    step = int(100 / pct); c = 0
    for (i = 0; i < m; i++) {
      if (i % step == 0) { k = c0 + c++; print "n" int(k / 100) "@c" (k % 100) ".example" > out }
      else { k = (w0 + i) % 1000; n = k % 10 + 1; print (n == 1 ? "" : n) "u" int((k % 100) / 10) "@d" int(k / 100) ".example" > out }
    }
    print c }'
}

# new/ of every address in FILE (one per line), each once, in a tree.
new_dirs_of() { # tree file
  awk -v t="$1" '{ split($1, a, "@"); print t "/" a[2] "/mails/" a[1] "/Maildir/new" }' "$2" | sort -u
}

# new/ of an address's INBOX in a tree.
new_dir() { # tree address
  echo "$1/${2#*@}/mails/${2%@*}/Maildir/new"
}

# Number of files in the given new/ directories (missing ones count 0).
count_files() { find "$@" -maxdepth 1 -type f 2>/dev/null | wc -l; }
# Number of messages in the maildirs of the given new/ directories, INBOX
# and folders, new/ and cur/ (Sieve's fileinto, flags).
count_mail() {
  local d roots=()
  for d in "$@"; do roots+=("${d%/new}"); done
  find "${roots[@]}" -mindepth 2 -maxdepth 3 \( -path '*/new/*' -o -path '*/cur/*' \) -type f 2>/dev/null | wc -l
}

# Persistent counter so that successive runs use fresh groups/mailboxes.
SEQ=0
next_seq() { local s=$SEQ; SEQ=$((SEQ + $1)); echo "$s"; }
COLD_SEQ=0       # next unused cold user; callers advance it (no subshell)

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

# Machine CPU time in jiffies from /proc/stat: "busy total", busy being all
# but idle and iowait. busy_pct turns two readings into the busy share.
cpu_jiffies() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
busy_pct() { # "busy0 total0" "busy1 total1"
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}
# A process's CPU time (user + system) in clock ticks; CPU microseconds per unit.
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }
ticks_us_per() { # ticks0 ticks1 units
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { if (a != "" && b != "" && n > 0) printf "%.0f", (b - a) * 1e6 / hz / n }'
}
# A side's CPU (dovecot: master, lmtp, auth, stats... processes that come
# and go; ours: lmtpd and what it starts) from a cpuacct control group of
# its own, in nanoseconds. cgroup v1 (cpuacct.usage) or v2 (cpu.stat
# usage_usec); empty when neither can be made, and then lmtpd's own ticks
# stand in for ours and Dovecot's CPU is not measured.
cg_dir() { # side
  if [ -d /sys/fs/cgroup/cpuacct ] && [ -w /sys/fs/cgroup/cpuacct ]; then
    echo "/sys/fs/cgroup/cpuacct/mdbench-$1"
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo "/sys/fs/cgroup/mdbench-$1"
  fi
}
cg_make() { # side: creates the group (empty) or says why not
  local d
  d=$(cg_dir "$1")
  [ -n "$d" ] || return 1
  [ -d "$d" ] || mkdir "$d" 2>/dev/null || return 1
}
# cg_enter side: puts the calling shell ($BASHPID) into the side's group;
# what it execs and forks stays there.
cg_enter() { local d; d=$(cg_dir "$1") && [ -d "$d" ] && echo "$BASHPID" >"$d/cgroup.procs" 2>/dev/null; }
cg_ns() { # side
  local d
  d=$(cg_dir "$1")
  # a group nobody entered (cg_enter failed) would read as zero CPU
  # (control files have no size: read one)
  [ -n "$d" ] && [ -n "$(head -c 1 "$d/cgroup.procs" 2>/dev/null)" ] || return 0
  if [ -f "$d/cpuacct.usage" ]; then
    cat "$d/cpuacct.usage"
  elif [ -f "$d/cpu.stat" ]; then
    awk '$1 == "usage_usec" { print $2 * 1000 }' "$d/cpu.stat"
  fi
}
ns_us_per() { # ns0 ns1 units
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a != "" && b != "" && n > 0) printf "%.0f", (b - a) / 1e3 / n }'
}
# side_cpu side: a reading for side_cpu_us_per, "ns:N" from the side's
# group or "ticks:N" from lmtpd (ours without a group), empty for none.
side_cpu() {
  local v
  v=$(cg_ns "$1")
  if [ -n "$v" ]; then
    echo "ns:$v"
  elif [ "$1" = ours ] && lmtpd_alive; then
    echo "ticks:$(proc_ticks "$LMTPD_PID")"
  fi
}
side_cpu_us_per() { # reading0 reading1 units
  case "$1|$2" in
  ns:*\|ns:*) ns_us_per "${1#ns:}" "${2#ns:}" "$3" ;;
  ticks:*\|ticks:*) ticks_us_per "${1#ticks:}" "${2#ticks:}" "$3" ;;
  esac
}
# Sums the children's CPU (the second line of bash's times, "0m1.234s
# 0m0.567s") that pipe workers left in FILES, in microseconds per unit.
times_us_per() { # units files...
  local n=$1
  shift
  awk -v n="$n" '
    function sec(s) { sub(/s$/, "", s); split(s, p, "m"); return p[1] * 60 + p[2] }
    FNR % 2 == 0 && NF == 2 { t += sec($1) + sec($2); k++ }
    END { if (k > 0 && n > 0) printf "%.0f", t * 1e6 / n }' "$@" 2>/dev/null
}

csv_row() { # phase side size conc rcpts mode variant rep msgs deliv seconds ok rss0 hwm busy_pct cpu_us
  local IFS=,
  echo "$*" >>"$CSV"
}

# Runs a command as user $1: root as is, vmail via setpriv (uid/gid 5000, no other groups).
as_user() { # user cmd...
  local u=$1
  shift
  if [ "$u" = root ]; then "$@"; else setpriv --reuid="$VUID" --regid="$VGID" --clear-groups -- "$@"; fi
}
