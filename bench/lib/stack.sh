# The benchmark stack, sourced by bench/run.sh: packages, a private
# PostgreSQL cluster with 1,000 users, a standalone Dovecot (LMTP + LDA),
# maildeliver's binaries and lmtpd, the test messages, mailbox warm-up, and
# the teardown. Every process started here is stopped by its PID.

install_packages() {
  local need="" p
  for p in dovecot-core dovecot-lmtpd dovecot-pgsql dovecot-sieve postfix postgresql; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
  done
  if [ -n "$need" ]; then
    say "installing:$need"
    export DEBIAN_FRONTEND=noninteractive
    # postfix only for smtp-source; no system mail configuration
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "postfix postfix/mailname string localhost" | debconf-set-selections
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $need >/dev/null
  fi
  command -v smtp-source >/dev/null || die "smtp-source not found (package postfix)"
  command -v go >/dev/null || die "go not found (needed to build the binaries)"
  [ -x "$DOVECOT_LDA" ] || die "$DOVECOT_LDA not found"
  getent group "$VUSER" >/dev/null || groupadd -g "$VGID" "$VUSER"
  getent passwd "$VUSER" >/dev/null || useradd -u "$VUID" -g "$VGID" -d /nonexistent -s /usr/sbin/nologin -M "$VUSER"
  [ "$(id -u "$VUSER")" = "$VUID" ] || die "user $VUSER exists with another uid than $VUID"
}

# Stops what an earlier, killed run left behind under $W (by pidfile, after
# checking that the PID still is that program).
stop_stale() {
  local pid
  if [ -f "$W/lmtpd.pid" ]; then
    pid=$(cat "$W/lmtpd.pid")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = lmtpd ] && kill "$pid" 2>/dev/null
  fi
  if [ -f "$DC/run/master.pid" ]; then
    pid=$(cat "$DC/run/master.pid")
    grep -q dovecot "/proc/$pid/comm" 2>/dev/null && kill "$pid" 2>/dev/null
  fi
  if [ -f "$PGDATA/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -m immediate -w stop" >/dev/null 2>&1 || true
  fi
  sleep 0.5
}

build() {
  mkdir -p "$BIN"
  local pkg
  # static, -trimpath: the binaries exactly as scripts/build.sh ships them
  # (and deliver with its supervising entry point: scripts/build.sh --ldflags)
  local ldflags
  ldflags=$(sh "$ROOT/scripts/build.sh" --ldflags)
  for pkg in cmd/deliver cmd/lmtpd bench/fsynclimit bench/lmtpload bench/report bench/startfloor/goempty bench/startfloor/godrivers; do
    (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$BIN/" "./$pkg") || say "WARNING: build of $pkg failed; its rows will be missing or FAILED"
  done
  # deliver without SQL drivers (asks lmtpd's userdb socket only): pipe mode's third side
  (cd "$ROOT" && CGO_ENABLED=0 go build -tags maildeliver_nosql -trimpath -ldflags="$ldflags" -o "$BIN/deliver-nosql" ./cmd/deliver) ||
    say "WARNING: build of deliver -tags maildeliver_nosql failed; its pipe-mode column will be missing"
  install -m 0755 "$BENCH/lib/pipe-worker.sh" "$BIN/pipe-worker.sh"
  chmod 0755 "$BIN"
}

start_postgres() {
  mkdir -p "$PGDATA" "$PGSOCK"
  chown postgres:postgres "$PGDATA" "$PGSOCK"
  chmod 0700 "$PGDATA"
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N" >"$W/logs/initdb.log" 2>&1 ||
    die "initdb failed, see $W/logs/initdb.log"
  cat >>"$PGDATA/postgresql.conf" <<EOF
# maildeliver bench: unix socket only, trust (throwaway cluster)
listen_addresses = ''
port = $PGPORT
unix_socket_directories = '$PGSOCK'
max_connections = 100
EOF
  touch "$W/logs/pg.log"
  chown postgres "$W/logs/pg.log"
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -l $W/logs/pg.log -w start" >/dev/null ||
    die "PostgreSQL did not start, see $W/logs/pg.log"
  "$PGBIN/createdb" -h "$PGSOCK" -p "$PGPORT" -U postgres mail || die "createdb failed"
  psql_mail -v ON_ERROR_STOP=1 -f "$BENCH/sql/schema.sql" >/dev/null || die "schema failed"
  psql_mail -v ON_ERROR_STOP=1 -f "$BENCH/sql/users.sql" >/dev/null || die "users failed"
  psql_mail -v ON_ERROR_STOP=1 -f "$BENCH/sql/cold.sql" >/dev/null || die "cold users failed"
  say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on $PGSOCK port $PGPORT: $(psql_mail -Atc 'SELECT count(*) FROM users') users, $(psql_mail -Atc 'SELECT count(DISTINCT uid) FROM users') uid"
}

# start_dovecot [sieve]: with "sieve", Pigeonhole runs for LMTP and LDA
# deliveries (the users' ~/.dovecot.sieve after the global before script).
start_dovecot() {
  local proto_sieve="" plugin=""
  if [ "${1:-}" = sieve ]; then
    proto_sieve='  mail_plugins = $mail_plugins sieve'
    plugin="plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_before = $SIEVE/before.sieve
}"
  fi
  mkdir -p "$DC/run" "$DC/state"
  cat >"$DC/sql.conf.ext" <<EOF
driver = pgsql
connect = host=$PGSOCK port=$PGPORT dbname=mail user=postgres
# the howto's user_query; home is relative to the dovecot mail tree
user_query = SELECT '$MAIL_DOVECOT/'||home AS home, uid, gid FROM users WHERE userid = '%u'
password_query = SELECT userid AS user, password FROM users WHERE userid = '%u'
EOF
  cat >"$DC_CONF" <<EOF
# Standalone Dovecot for bench/run.sh; not the system instance.
instance_name = mdbench
hostname = mdbench.example
base_dir = $DC/run
state_dir = $DC/state
protocols = lmtp
listen = 127.0.0.1
ssl = no
log_path = $DC/dovecot.log
info_log_path = $DC/info.log
mail_location = maildir:~/Maildir
first_valid_uid = $VUID
# Durable, as stock: these are the defaults, spelled out.
mail_fsync = optimized
auth_cache_size = 0
lmtp_add_received_header = yes
passdb {
  driver = sql
  args = $DC/sql.conf.ext
}
userdb {
  driver = sql
  args = $DC/sql.conf.ext
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
# dovecot-lda runs as vmail (as under Postfix's pipe user=vmail)
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
protocol lda {
  postmaster_address = postmaster@d0.example
$proto_sieve
}
protocol lmtp {
  postmaster_address = postmaster@d0.example
$proto_sieve
}
$plugin
EOF
  chmod 0644 "$DC_CONF"
  touch "$DC/dovecot.log" "$DC/info.log"
  chown "$VUID:$VGID" "$DC/dovecot.log" "$DC/info.log"
  (cg_enter dovecot; exec dovecot -c "$DC_CONF") </dev/null >>"$W/logs/dovecot-start.log" 2>&1 || die "dovecot did not start: $(cat "$W/logs/dovecot-start.log")"
  local i
  for i in $(seq 100); do [ -S "$DC_SOCK" ] && break; sleep 0.1; done
  [ -S "$DC_SOCK" ] || die "dovecot LMTP socket missing; see $DC/dovecot.log"
  say "dovecot $(dovecot --version | awk '{print $1}') master $(cat "$DC/run/master.pid"), LMTP unix:$DC_SOCK"
}

write_ours_config() {
  mkdir -p "$MD/run" "$MD/spool"
  cat >"$MD_CONF" <<EOF
# maildeliver for bench/run.sh: seed 000/001 on the private cluster.
hostname = "mdbench.example"

[log]
level = "info"
target = "file:$MD/maildeliver.log"

[userdb]
driver = "pgsql"
connect = "host=$PGSOCK port=$PGPORT dbname=mail user=postgres"
user_query = "SELECT '$MAIL_OURS/'||home AS home, uid, gid FROM users WHERE userid = '%u'"
# defaults, spelled out: a pool of 4, no lookup cache (Dovecot: auth_cache_size = 0)
max_connections = 4
cache_ttl = "0s"
# deliver asks lmtpd over this socket, as dovecot-lda asks Dovecot's auth
# process over auth-userdb, instead of opening a PostgreSQL connection per message
socket = "$MD/run/userdb"
socket_mode = "0666"

[mail]
location = "maildir:~/Maildir"
min_uid = 1000

[lmtp]
listen = ["unix:$MD_SOCK"]
socket_mode = "0666"
socket_group = ""
# the memory test sends 100 MiB (default 50M)
max_message_size = "200M"
spool_dir = "$MD/spool"
# as the Dovecot 2.3 side (lmtp_user_concurrency_limit = 0): "same" runs
# send every session to one user
user_concurrency_limit = 0
EOF
  chmod 0644 "$MD_CONF"
  touch "$MD/maildeliver.log"
  chown "$VUID:$VGID" "$MD/maildeliver.log"
  if [ "$LMTPD_USER" != root ]; then chown "$VUID:$VGID" "$MD/run" "$MD/spool"; fi
}

start_lmtpd() {
  [ -x "$BIN/lmtpd" ] || { say "WARNING: no lmtpd binary; LMTP rows of ours will fail"; return 0; }
  local cmd=("$BIN/lmtpd" -c "$MD_CONF") i
  [ "$LMTPD_USER" = root ] || cmd=(setpriv --reuid="$VUID" --regid="$VGID" --clear-groups -- "${cmd[@]}")
  rm -f "$MD_SOCK"
  (cg_enter ours; exec "${cmd[@]}") </dev/null >>"$W/logs/lmtpd.out" 2>&1 &
  LMTPD_PID=$!
  echo "$LMTPD_PID" >"$W/lmtpd.pid"
  for i in $(seq 100); do
    [ -S "$MD_SOCK" ] && break
    kill -0 "$LMTPD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -S "$MD_SOCK" ] && kill -0 "$LMTPD_PID" 2>/dev/null; then
    say "lmtpd pid $LMTPD_PID as $LMTPD_USER, LMTP unix:$MD_SOCK, VmRSS $(proc_kb "$LMTPD_PID" VmRSS) kB"
  else
    say "WARNING: lmtpd did not come up; LMTP rows of ours will fail. Output:"
    tail -n 5 "$W/logs/lmtpd.out" >&2
  fi
}

stop_dovecot() {
  local p i
  [ -f "$DC/run/master.pid" ] || return 0
  p=$(cat "$DC/run/master.pid")
  grep -q dovecot "/proc/$p/comm" 2>/dev/null || return 0
  kill -TERM "$p"
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}

stop_lmtpd() {
  local i
  lmtpd_alive || return 0
  kill -TERM "$LMTPD_PID"
  for i in $(seq 100); do kill -0 "$LMTPD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$LMTPD_PID" 2>/dev/null && kill -KILL "$LMTPD_PID"
  wait "$LMTPD_PID" 2>/dev/null
  LMTPD_PID=""
}

# Sieve on both sides: the same user script (bench/sieve/user.sieve, 20
# Roundcube-style rules) as ~/.dovecot.sieve of each of the 1,000 warm
# users in both trees, and one global before script; Dovecot restarted
# with Pigeonhole, lmtpd with [sieve] enabled. A warm-up message per group
# compiles the scripts (Pigeonhole keeps ~/.dovecot.svbin) and creates the
# folder the rules file into, so that neither is timed.
sieve_setup() {
  local tree h script
  mkdir -p "$SIEVE"
  cp "$BENCH/sieve/user.sieve" "$BENCH/sieve/before.sieve" "$SIEVE/"
  sievec "$SIEVE/before.sieve" 2>>"$W/logs/sievec.err" || say "WARNING: sievec failed (see $W/logs/sievec.err)"
  chmod 0755 "$SIEVE"
  chmod 0644 "$SIEVE"/*
  script=$(cat "$SIEVE/user.sieve")
  for tree in "$MAIL_DOVECOT" "$MAIL_OURS"; do
    while IFS= read -r h; do printf '%s\n' "$script" >"$h/.dovecot.sieve"; done < <(find "$tree" -mindepth 3 -maxdepth 3 -path "$tree/d*.example/mails/*" -type d)
    find "$tree" -mindepth 4 -maxdepth 4 -name .dovecot.sieve -exec chown "$VUID:$VGID" {} +
  done
  stop_dovecot
  start_dovecot sieve
  MD_CONF=$MD/maildeliver-sieve.toml
  {
    cat "$MD_CONF_BASE"
    printf '\n[sieve]\nenabled = true\nscript = "~/.dovecot.sieve"\nbefore = ["%s"]\n' "$SIEVE/before.sieve"
  } >"$MD_CONF"
  chmod 0644 "$MD_CONF"
  stop_lmtpd
  start_lmtpd
  local side g
  for side in dovecot ours; do
    for g in $(seq 0 99); do
      timeout 120 smtp-source -L -s 1 -m 1 -r 10 -f "$SENDER" -t "$(group_addr "$g")" -M bench.example \
        -F "$MSGS/msg-4k.eml" "unix:$(sock_of "$side")" 2>>"$W/logs/sieve-warm-$side.err" &
      PIDS+=($!)
      [ ${#PIDS[@]} -lt 10 ] || wait_pids
    done
    wait_pids
    tree=$(tree_of "$side")
    say "Sieve warm-up $side: $(find "$tree" -path "$tree/d*.example/mails/*/Maildir/.Bench/cur/*" -type f | wc -l) of 1000 filed into Bench"
  done
}

lmtpd_alive() { [ -n "$LMTPD_PID" ] && kill -0 "$LMTPD_PID" 2>/dev/null; }

# Test messages: plain text, LF line endings (smtp-source -F sends CRLF),
# exactly the given number of bytes.
make_messages() {
  mkdir -p "$MSGS"
  local spec size label
  for spec in "$@"; do
    label=${spec%%:*} size=${spec#*:}
    {
      printf 'From: Bench Sender <%s>\n' "$SENDER"
      printf 'To: Bench Box <u0@d0.example>\n'
      printf 'Subject: maildeliver bench %s\n' "$label"
      printf 'Date: Mon, 01 Jan 2024 00:00:00 +0000\n'
      printf 'Message-ID: <bench-%s@example.net>\n' "$label"
      printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
      yes 'Lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789 abcdefghij'
    } | head -c "$((size - 1))" >"$MSGS/msg-$label.eml" || true
    echo >>"$MSGS/msg-$label.eml"
  done
  chmod 0755 "$MSGS"
  chmod 0644 "$MSGS"/*.eml
}

# One delivery to each of the 1,000 mailboxes of a side, so that creating
# mailboxes (and Dovecot's index files) is never measured. Over LMTP: one
# message with 10 recipients per group; by pipe when LMTP does not work.
warm() { # side
  local side=$1 tree sock g want=1000 got
  tree=$(tree_of "$side") sock=$(sock_of "$side")
  mkdir -p "$tree"
  chown "$VUID:$VGID" "$tree" "$W/mail"
  chmod 0755 "$W/mail"
  chmod 0750 "$tree"
  # the cold users' domains exist (a site adding users to its domains);
  # their mailboxes are created by the timed deliveries
  local d
  for d in $(seq 0 99); do install -d -o "$VUID" -g "$VGID" -m 0700 "$tree/c$d.example" "$tree/c$d.example/mails"; done
  if [ "$side" = dovecot ] || lmtpd_alive; then
    for g in $(seq 0 99); do
      timeout 120 smtp-source -L -s 1 -m 1 -r 10 -f "$SENDER" -t "$(group_addr "$g")" -M bench.example \
        -F "$MSGS/msg-4k.eml" "unix:$sock" 2>>"$W/logs/warm-$side.err" &
      PIDS+=($!)
      [ ${#PIDS[@]} -lt 10 ] || wait_pids
    done
    wait_pids
  fi
  got=$(find "$tree" -path "$tree/*/new/*" -type f | wc -l)
  if [ "$got" -ne "$want" ] && [ "$side" = ours ] && [ -x "$BIN/deliver" ]; then
    say "warming ours by pipe (deliver), LMTP gave $got of $want"
    rm -rf "${tree:?}"/*
    local k w
    for w in $(seq 0 7); do
      for k in $(seq $((w * 125)) $((w * 125 + 124))); do user_addr "$k"; done >"$W/lda/warm-$w.txt"
    done
    chmod 0644 "$W"/lda/warm-*.txt
    for w in $(seq 0 7); do
      "${LDA_RUNNER[@]}" "$BIN/pipe-worker.sh" "$W/lda/warm-$w.txt" "$MSGS/msg-4k.eml" "$SENDER" "$BIN/deliver" -c "$MD_CONF" \
        2>>"$W/logs/warm-$side.err" &
      PIDS+=($!)
    done
    wait_pids
    got=$(find "$tree" -path "$tree/*/new/*" -type f | wc -l)
  fi
  if [ "$got" -eq "$want" ]; then
    say "warm-up $side: 1000 mailboxes hold one message each"
  else
    say "WARNING: warm-up $side: $got of $want deliveries landed (see $W/logs/warm-$side.err)"
  fi
}

# Prefix that runs a pipe-mode worker as $LDA_USER. An array, not a
# function, so that "${LDA_RUNNER[@]}" cmd & leaves cmd's own PID in $!.
LDA_RUNNER=()
[ "$LDA_USER" = root ] || LDA_RUNNER=(setpriv --reuid="$VUID" --regid="$VGID" --clear-groups --)

teardown() {
  local rc=$? p i
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$LMTPD_PID" ] && kill -0 "$LMTPD_PID" 2>/dev/null; then
    kill -TERM "$LMTPD_PID"
    for i in $(seq 100); do kill -0 "$LMTPD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$LMTPD_PID" 2>/dev/null && kill -KILL "$LMTPD_PID"
  fi
  if [ -f "$DC/run/master.pid" ]; then
    p=$(cat "$DC/run/master.pid")
    if grep -q dovecot "/proc/$p/comm" 2>/dev/null; then
      kill -TERM "$p"
      for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  if [ -n "${PGBIN:-}" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null 2>&1 || true
  fi
  rmdir "$(cg_dir dovecot)" "$(cg_dir ours)" 2>/dev/null # only once empty
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    say "work dir kept: $W"
  elif [ -f "$W/.mdbench" ]; then
    rm -rf "$W"
  fi
  exit "$rc"
}
