# shellcheck shell=bash
# Scale-out suite (e2e/scaleout.sh): the shared pieces (three backend "machines" as network
# namespaces, the throwaway userdb behind a private PgBouncer, the verifying Dovecot) and
# one variant's processes: a private Postfix, three backend lmtpd (one per namespace, each
# its own mail root) and, in the proxy variant, an lmtpd with [lmtp] proxy = true on
# 127.0.0.1. Every lmtpd listens on the same LMTP port, as on machines of one cluster: only
# the address tells them apart, and a backend knows a proxy_maybe row as its own because
# the row's host is an address of its own namespace (not of the proxy's).

SX_CONF=$E2E/conf/scaleout
SX_BACKENDS=(1 2 3)
# user -> backend number; two domains, two users per backend
SX_USERS=(anna@sx.test:1 bert@other.test:1 carl@sx.test:2 dora@other.test:2 emil@sx.test:3 fay@other.test:3)
SX_VICTIM=2 # the backend killed in the "down" step

sx_addr() { echo "10.$SX_NET.$1.2"; } # backend N's address, in its namespace
sx_gw() { echo "10.$SX_NET.$1.1"; }   # the root namespace's end of backend N's link
sx_ns() { echo "md-sx-$RUN_ID-b$1"; } # backend N's network namespace
sx_backend_of() {                     # USER: its backend number
  local u
  for u in "${SX_USERS[@]}"; do [[ ${u%:*} == "$1" ]] && { echo "${u##*:}"; return 0; }; done
  return 1
}

# ---- the machines: one network namespace per backend, a veth link to this one ----------
# sx_net_up: namespaces md-sx-<run>-b1..3, each linked to the root namespace by a /30
# (10.X.N.1 here, 10.X.N.2 there) on a 10.X/16 no interface uses yet. Backends reach
# PgBouncer at 10.X.N.1; Postfix and the proxy reach backend N at 10.X.N.2. Nothing routes
# between the backends.
sx_net_up() {
  local o n ns host peer
  for _ in $(seq 50); do
    o=$((100 + RANDOM % 150))
    ip -4 -o addr show | grep -q " 10\.$o\." || ip -4 route show | grep -q "^10\.$o\." || { SX_NET=$o; break; }
  done
  [[ -n ${SX_NET:-} ]] || die "no free 10.X/16 for the backends' links"
  for n in "${SX_BACKENDS[@]}"; do
    ns=$(sx_ns "$n") host=sx$RUN_ID${n}h peer=sx$RUN_ID${n}b
    ip netns add "$ns" || die "ip netns add $ns failed: the suite needs network namespaces (root, CAP_SYS_ADMIN)"
    on_exit "ip netns del '$ns'"
    ip link add "$host" type veth peer name "$peer"
    on_exit "ip link del '$host'"
    ip link set "$peer" netns "$ns"
    ip addr add "$(sx_gw "$n")/30" dev "$host"
    ip link set "$host" up
    ip netns exec "$ns" ip addr add "$(sx_addr "$n")/30" dev "$peer"
    ip netns exec "$ns" ip link set "$peer" up
    ip netns exec "$ns" ip link set lo up
  done
}

# ---- the userdb: a throwaway database, reached only through PgBouncer ----------------
sx_psql() { psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres "$@"; }

sx_db_create() {
  DB=$(rand_name md_sx) DBUSER=postgres DBPASS=""
  sx_psql -d postgres -c "CREATE DATABASE $DB ENCODING 'UTF8' TEMPLATE template0" >/dev/null
  on_exit "psql -X -q -h /var/run/postgresql -U postgres -d postgres -c 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'"
  sx_psql -d "$DB" -f "$SX_CONF/schema.sql" >/dev/null
  local u
  for u in "${SX_USERS[@]}"; do
    sx_psql -d "$DB" -c "INSERT INTO users (userid, uid, gid, host, port) VALUES ('${u%:*}', 5000, 5000, '$(sx_addr "${u##*:}")', 0)" >/dev/null
  done
}

# sx_misroute USER N: harness self-test (SX_MISROUTE): the row of USER names backend N, the
# plan still expects USER on its own backend, so every step must fail as "misplaced"
sx_misroute() {
  sx_psql -d "$DB" -c "UPDATE users SET host = '$(sx_addr "$2")' WHERE userid = '$1'" >/dev/null
  echo "SX_MISROUTE: $1's row names backend $2 (harness self-test: the table must show it misplaced)" >>"$T/notes.txt"
}

# sx_db_port PORT: every row's port (each variant's lmtpd listen on a fresh port)
sx_db_port() { sx_psql -d "$DB" -c "UPDATE users SET port = $1" >/dev/null; }

# pgbouncer refuses to run as root: it runs as postgres, which owns its directory. It
# listens on 127.0.0.1 (Postfix, the proxy) and on this end of every backend's link.
sx_pgbouncer_start() {
  local n
  PGB_DIR=$T/pgbouncer PGB_PORT=$(free_port) PGB_LISTEN=127.0.0.1 PGB_POOL=${PGB_POOL:-3}
  for n in "${SX_BACKENDS[@]}"; do PGB_LISTEN+=",$(sx_gw "$n")"; done
  install -d -m 0750 -o postgres -g postgres "$PGB_DIR"
  render "$SX_CONF/pgbouncer.ini" "$PGB_DIR/pgbouncer.ini"
  printf '"postgres" ""\n' >"$PGB_DIR/userlist.txt"
  chown postgres:postgres "$PGB_DIR/pgbouncer.ini" "$PGB_DIR/userlist.txt"
  setpriv --reuid=postgres --regid=postgres --init-groups pgbouncer "$PGB_DIR/pgbouncer.ini" \
    </dev/null >"$PGB_DIR/stdout.log" 2>&1 &
  PGB_PID=$!
  E2E_PIDS+=("pgbouncer:$PGB_PID")
  on_exit "stop_pid pgbouncer $PGB_PID" # before the database is dropped
  wait_until 20 "pgbouncer on 127.0.0.1:$PGB_PORT" sx_listening 127.0.0.1 "$PGB_PORT" "$PGB_PID" ||
    { cat "$PGB_DIR/stdout.log" "$PGB_DIR/pgbouncer.log" >&2; die "pgbouncer did not start"; }
  [[ $(sx_pgb_admin 'SHOW CONFIG' | awk -F'|' '$1 == "pool_mode" { print $2 }') == transaction ]] ||
    die "pgbouncer is not in pool_mode=transaction"
}

# sx_pgb_admin SQL: PgBouncer's admin console (SHOW ...), unaligned, no header
sx_pgb_admin() { psql -X -q -A -t -h 127.0.0.1 -p "$PGB_PORT" -U postgres -d pgbouncer -c "$1"; }

# sx_pgb_xacts: transactions PgBouncer has passed to the server for our database so far
sx_pgb_xacts() { sx_pgb_admin 'SHOW STATS' | awk -F'|' -v db="$DB" '$1 == db { print $2 }'; }

# sx_listening ADDR PORT [PID [NETNS]]: something listens on ADDR:PORT (in NETNS; 2: PID
# has exited)
sx_listening() {
  local in=()
  [[ -n ${4:-} ]] && in=(ip netns exec "$4")
  "${in[@]}" ss -Htln "sport = :$2" | awk '{ print $4 }' | grep -qxF "$1:$2" && return 0
  [[ -n ${3:-} ]] && ! alive "$3" && return 2
  return 1
}

# ---- the verifying Dovecot: one instance, one config per mail root --------------------
sx_dovecot_start() {
  local d=$T/dovecot
  DC_BASE=$d/run DC_STATE=$d/state DC_LOG=$d/dovecot.log DC_INFO_LOG=$d/dovecot-info.log
  DC_CONF=$d/dovecot.conf DC_INSTANCE=e2e-scaleout-$RUN_ID
  mkdir -p "$DC_BASE" "$DC_STATE"
  touch "$DC_LOG" "$DC_INFO_LOG"
  render "$SX_CONF/dovecot.conf" "$DC_CONF"
  dovecot -c "$DC_CONF" </dev/null >"$d/start.log" 2>&1 || { cat "$d/start.log" "$DC_LOG" >&2; die "dovecot did not start"; }
  wait_until 20 "dovecot auth-userdb" test -S "$DC_BASE/auth-userdb" -a -s "$DC_BASE/master.pid" ||
    { cat "$DC_LOG" >&2; die "dovecot did not come up"; }
  E2E_PIDS+=("dovecot:$(cat "$DC_BASE/master.pid")")
}

# sx_read_root ROOT OUT: what Dovecot finds under one mail root, one line per message:
# "user<TAB>Message-ID". Every user with a maildir under ROOT is asked, so mail in a
# mailbox that should not be there shows up as well.
sx_read_root() {
  local root=$1 out=$2 conf=$1.dovecot.conf dom user
  printf '!include %s\nmail_location = maildir:%s/%%d/%%n\n' "$DC_CONF" "$root" >"$conf"
  : >"$out"
  for dom in "$root"/*/; do
    [[ -d $dom ]] || continue
    for user in "$dom"*/; do
      [[ -d $user ]] || continue
      user=$(basename "$user")@$(basename "$dom")
      doveadm -c "$conf" -f tab fetch -u "$user" hdr.message-id all </dev/null 2>>"$V/doveadm.err" |
        tail -n +2 | sed "s/^/$user\t/" >>"$out" || echo "$user	DOVEADM-FAILED" >>"$out"
    done
  done
}

# sx_count_files ROOT: message files under ROOT (new/ and cur/ of every maildir)
sx_count_files() { find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }

# ---- one variant's processes ------------------------------------------------------------
# sx_lmtpd_start NAME ADDR ROOT QUERY CONNECT NETNS [EXTRA_TOML]: one lmtpd under $V/NAME,
# listening on tcp:ADDR:$LMTP_PORT, in network namespace NETNS ("" = this one).
sx_lmtpd_start() {
  local name=$1 dir=$V/$1 ns=$6 in=()
  MD_DIR=$dir MD_ADDR=$2 MD_ROOT=$3 MD_USER_QUERY=$4 MD_CONNECT=$5 MD_HOSTNAME=$1.sx.test
  [[ -n $ns ]] && in=(ip netns exec "$ns")
  mkdir -p "$dir"
  if [[ ! -f $dir/maildeliver.toml ]]; then # a restart keeps the first one
    render "$SX_CONF/maildeliver.toml" "$dir/maildeliver.toml"
    if [[ -n ${7:-} ]]; then printf '%s\n' "$7" >>"$dir/maildeliver.toml"; fi
  fi
  [[ -d $MD_ROOT ]] || install -d -m 0750 -o 5000 -g 5000 "$MD_ROOT"
  # ip netns exec execs lmtpd: $! is lmtpd's PID
  "${in[@]}" "$LMTPD" -c "$dir/maildeliver.toml" </dev/null >>"$dir/lmtpd.log" 2>&1 &
  local pid=$!
  printf -v "PID_$name" '%s' "$pid"
  E2E_PIDS+=("lmtpd-$name:$pid")
  wait_until 20 "lmtpd $name on $2:$LMTP_PORT" sx_listening "$2" "$LMTP_PORT" "$pid" "$ns" ||
    { sed 's/^/    /' "$dir/lmtpd.log" >&2; return 1; }
}

# sx_connect ADDR: the userdb connect string for an lmtpd that reaches PgBouncer at ADDR:
# nothing PgBouncer-specific, lmtpd's default pgx mode (exec: no named statements, which
# another server connection would not know) must work in transaction pooling mode
sx_connect() { echo "host=$1 port=$PGB_PORT dbname=$DB user=postgres"; }

sx_backend_start() {
  local n=$1
  sx_lmtpd_start "b$n" "$(sx_addr "$n")" "$V/b$n/mail" "$SX_BACKEND_QUERY" "$(sx_connect "$(sx_gw "$n")")" \
    "$(sx_ns "$n")" "$SX_BACKEND_EXTRA"
}

# sx_proxy_start: the proxy, here in the root namespace on 127.0.0.1: no backend address is
# its own, so it forwards every proxy_maybe row
sx_proxy_start() {
  sx_lmtpd_start proxy "$PROXY_ADDR" "$V/proxy/mail" "$SX_PROXY_QUERY" "$(sx_connect 127.0.0.1)" "" "$SX_PROXY_EXTRA"
}

# sx_kill N: SIGKILL backend N (no shutdown, as when its machine dies)
sx_kill() {
  local var=PID_b$1
  kill -KILL "${!var}"
  { wait "${!var}"; } 2>/dev/null || true # reaped here: no "Killed" notice from bash
}

# sx_stop_lmtpds: every lmtpd of the current variant, by PID
sx_stop_lmtpds() {
  local n var
  for n in "${SX_BACKENDS[@]/#/b}" proxy; do
    var=PID_$n
    [[ -n ${!var:-} ]] && stop_pid "lmtpd-$n" "${!var}"
    printf -v "$var" '%s' ""
  done
}

sx_pf_configure() {
  C=$V PF_CONF=$V/postfix PF_SPOOL=$V/spool PF_DATA=$V/postfix-data PF_LOG=$V/postfix.log PF_PORT=$(free_port)
  mkdir -p "$PF_CONF" "$PF_SPOOL" "$PF_DATA"
  chown postfix:postfix "$PF_DATA"
  render "$SX_CONF/mailboxes.cf" "$PF_CONF/mailboxes.cf"
  render "$SX_CONF/transport.cf" "$PF_CONF/transport.cf"
  chgrp postfix "$PF_CONF"/*.cf
  chmod 0640 "$PF_CONF"/*.cf
  {
    render "$E2E/conf/postfix/instance.cf" -
    printf '\n# ---- e2e/conf/postfix/main.cf ----\n'
    render "$E2E/conf/postfix/main.cf" -
    printf '\n# ---- e2e/conf/scaleout/main-common.cf ----\n'
    render "$SX_CONF/main-common.cf" -
    printf '\n# ---- e2e/conf/scaleout/route-%s.cf ----\n' "$VARIANT"
    render "$SX_CONF/route-$VARIANT.cf" -
  } >"$PF_CONF/main.cf"
  render "$E2E/conf/postfix/master.cf" "$PF_CONF/master.cf"
}

# ---- the mail ---------------------------------------------------------------------------
# sx_send STEP TAG RCPT...: one message (Message-ID <TAG.RUN_ID.VARIANT@e2e.test>) to the
# recipients; each expected recipient is recorded as "step|msgid|rcpt|backend".
sx_send() {
  local step=$1 tag=$2 r qid; shift 2
  local id=$tag.$RUN_ID.$VARIANT msg=$V/msgs/$tag.eml rcpts
  rcpts=$(IFS=,; echo "$*")
  mkdir -p "$V/msgs" "$V/smtp"
  make_msg ascii "$id" "$SENDER" "$1" >"$msg"
  qid=$(swaks_send "$PF_PORT" "$SENDER" "$rcpts" "$msg" "$V/smtp/$tag.txt")
  if [[ $qid == - ]]; then
    sx_problem "$step" "$tag: Postfix did not queue it (see smtp/$tag.txt)"
    return 0
  fi
  for r in "$@"; do printf '%s|<%s@e2e.test>|%s|%s|%s\n' "$step" "$id" "$r" "$(sx_backend_of "$r")" "$qid" >>"$V/expect.txt"; done
}

# sx_expected_at_least STEP N: N recipients of STEP have been queued
sx_expected_at_least() { (($(grep -c "^$1|" "$V/expect.txt" || true) >= $2)); }

sx_problem() { printf '%s|%s\n' "$1" "$2" >>"$V/problems.txt"; log "  FAIL ($VARIANT/$1): $2"; }

# sx_status QID RCPT: the statuses Postfix logged for that recipient, one per line
sx_status() { grep -F " $1: to=<$2>" "$PF_LOG" | sed -n 's/.* status=\([a-z]*\).*/\1/p'; }

# sx_all_sent [STEP]: every expected recipient (of STEP, or all) has status=sent
sx_all_sent() {
  local step qid rcpt
  while IFS='|' read -r step _ rcpt _ qid; do
    [[ -n ${1:-} && $step != "$1" ]] && continue
    sx_status "$qid" "$rcpt" | grep -qx sent || return 1
  done <"$V/expect.txt"
}

# sx_down_settled STEP: with backend $SX_VICTIM down, every recipient of STEP on another
# backend is sent and every one on the victim has been deferred at least once
sx_down_settled() {
  local step qid rcpt b want
  while IFS='|' read -r step _ rcpt b qid; do
    [[ $step != "$1" ]] && continue
    want=sent; [[ $b == "$SX_VICTIM" ]] && want=deferred
    sx_status "$qid" "$rcpt" | grep -qx "$want" || return 1
  done <"$V/expect.txt"
}

# sx_flush: Postfix retries the deferred mail now (and forgets the dead destination)
sx_flush() { postqueue -c "$PF_CONF" -f; }

# ---- verification -------------------------------------------------------------------------
# sx_verify STEP: Dovecot's view of every root against everything expected so far. Sets
# the row's columns: SX_WANT SX_FOUND SX_WRONG SX_DUP SX_MISSING SX_FILES
sx_verify() {
  local step=$1 n got=$V/found.txt want=$V/want.txt
  : >"$got"
  for n in "${SX_BACKENDS[@]}"; do
    [[ -d $V/b$n/mail ]] || continue
    sx_read_root "$V/b$n/mail" "$V/b$n/found.txt"
    sed "s/^/$n\t/" "$V/b$n/found.txt" >>"$got"
  done
  # want: backend, user, Message-ID (sorted); got: the same from Dovecot
  awk -F'|' '{ printf "%s\t%s\t%s\n", $4, $3, $2 }' "$V/expect.txt" | sort >"$want"
  sort -o "$got" "$got"
  SX_WANT=$(wc -l <"$want")
  SX_FOUND=$(comm -12 "$want" <(sort -u "$got") | wc -l)
  SX_DUP=$(uniq -d "$got" | wc -l)
  # found for a (user, Message-ID) that is expected, but on another backend; or not expected at all
  SX_WRONG=$(comm -13 "$want" <(sort -u "$got") | wc -l)
  SX_MISSING=$(comm -23 "$want" <(sort -u "$got") | wc -l)
  SX_FILES=0
  for n in "${SX_BACKENDS[@]}"; do
    [[ -d $V/b$n/mail ]] && SX_FILES=$((SX_FILES + $(sx_count_files "$V/b$n/mail")))
  done
  if grep -q DOVEADM-FAILED "$got"; then sx_problem "$step" "doveadm fetch failed (see doveadm.err)"; fi
  ((SX_MISSING == 0)) || sx_problem "$step" "$SX_MISSING expected deliveries not found by Dovecot: $(comm -23 "$want" <(sort -u "$got") | tr '\t\n' ' ;')"
  ((SX_WRONG == 0)) || sx_problem "$step" "$SX_WRONG messages where they do not belong: $(comm -13 "$want" <(sort -u "$got") | tr '\t\n' ' ;')"
  ((SX_DUP == 0)) || sx_problem "$step" "$SX_DUP duplicated deliveries: $(uniq -d "$got" | tr '\t\n' ' ;')"
  ((SX_FILES == SX_WANT)) || sx_problem "$step" "$SX_FILES message files in the mail roots, want $SX_WANT"
  # the proxy delivers nothing itself: every row names a backend
  if [[ -d $V/proxy/mail ]] && ((n = $(sx_count_files "$V/proxy/mail"), n > 0)); then
    sx_problem "$step" "$n message files in the proxy's own mail root"
  fi
}

# sx_queue_ids STEP: every delivery on a backend is logged with Postfix's queue id (XFORWARD
# IDENT, passed on by the proxy in that variant) and the recipient, exactly once
sx_queue_ids() {
  local step=$1 qid rcpt b n bad=0
  while IFS='|' read -r _ _ rcpt b qid; do
    n=$(grep -F " queue_id=$qid " "$V/b$b/maildeliver.log" | grep -F " to=$rcpt " | grep -c ' result=delivered' || true)
    if ((n != 1)); then
      bad=$((bad + 1))
      ((bad <= 3)) && sx_problem "$step" "backend $b logged $n deliveries of queue id $qid to $rcpt, want 1"
    fi
  done <"$V/expect.txt"
  ((bad <= 3)) || sx_problem "$step" "... $bad recipients in all without exactly one delivery line with Postfix's queue id"
}

# sx_postfix_checks STEP: no bounce ever; the victim's recipients deferred with 4.4.x only;
# no warning from Postfix, no error from any lmtpd
sx_postfix_checks() {
  local step=$1 bad
  SX_BOUNCED=$(grep -c ' status=bounced' "$PF_LOG" || true)
  ((SX_BOUNCED == 0)) || sx_problem "$step" "Postfix bounced $SX_BOUNCED recipients: $(grep ' status=bounced' "$PF_LOG" | head -3)"
  SX_DEFERRED=$(grep -c ' status=deferred' "$PF_LOG" || true)
  bad=$(grep ' status=deferred' "$PF_LOG" | grep -v ' dsn=4\.4\.[0-9]' || true)
  [[ -z $bad ]] || sx_problem "$step" "deferred with another code than 4.4.x: $(head -3 <<<"$bad")"
  bad=$(grep -E 'warning:|fatal:|panic:' "$PF_LOG" || true)
  [[ -z $bad ]] || sx_problem "$step" "Postfix logged: $(head -3 <<<"$bad")"
  bad=$(cat "$V"/*/maildeliver.log 2>/dev/null | grep 'level=ERROR' || true)
  [[ -z $bad ]] || sx_problem "$step" "an lmtpd logged an error: $(head -3 <<<"$bad")"
  # only the victim's users may have been deferred
  local u r
  for u in $(grep ' status=deferred' "$PF_LOG" | sed -n 's/.* to=<\([^>]*\)>.*/\1/p' | sort -u); do
    r=$(sx_backend_of "$u" || echo "?")
    [[ $r == "$SX_VICTIM" ]] || sx_problem "$step" "$u (backend $r, which was up) was deferred"
  done
}

# sx_row STEP: one table row for the current variant
sx_row() {
  local step=$1 verdict=ok
  grep -q "^$step|" "$V/problems.txt" && verdict=FAIL
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$VARIANT" "$step" "$SX_WANT" "$SX_FOUND" "$SX_FILES" \
    "$SX_WRONG" "$SX_DUP" "$SX_DEFERRED" "$SX_BOUNCED" "$verdict" >>"$T/summary.tsv"
  [[ $verdict == ok ]] || FAILED=1
}

sx_print_summary() {
  printf '\n| variant | step | expected | found (Dovecot) | files | misplaced | duplicated | deferred (4.4.x) | bounced | result |\n'
  printf '|---|---|---|---|---|---|---|---|---|---|\n'
  awk -F'\t' '{ printf "| %s |\n", $1 " | " $2 " | " $3 " | " $4 " | " $5 " | " $6 " | " $7 " | " $8 " | " $9 " | " $10 }' "$T/summary.tsv"
  [[ -s $T/notes.txt ]] && { printf '\n'; cat "$T/notes.txt"; }
  printf '\n'
}

sx_dump_logs() {
  local v f
  for v in "${VARIANTS[@]}"; do
    [[ -s $T/$v/problems.txt ]] || continue
    printf '\n===== %s: problems =====\n' "$v"; cat "$T/$v/problems.txt"
    for f in "$T/$v/postfix.log" "$T/$v"/*/lmtpd.log "$T/$v"/*/maildeliver.log "$T/$v/doveadm.err"; do
      [[ -s $f ]] || continue
      printf '\n----- %s (last 40 lines) -----\n' "${f#"$T/"}"; tail -40 "$f"
    done
  done
  [[ -s $T/pgbouncer/pgbouncer.log ]] && { printf '\n----- pgbouncer.log (last 20 lines) -----\n'; tail -20 "$T/pgbouncer/pgbouncer.log"; }
  [[ -s $T/dovecot/dovecot.log ]] && { printf '\n----- dovecot.log -----\n'; tail -20 "$T/dovecot/dovecot.log"; }
  return 0
}
