#!/bin/bash
# End-to-end proof of maildeliver against the real stack: a private Postfix injects
# mail over SMTP and hands it to our binaries through pipe(8) (cmd/deliver) and LMTP
# (cmd/lmtpd); a private Dovecot then finds every message with doveadm. Four setups
# (SPEC "Examples that must work unchanged") x two routes.
#
# Run as root on a Debian 12 machine with the shared PostgreSQL (127.0.0.1:5432, trust)
# and MariaDB (127.0.0.1:3306, root, no password) running:
#     e2e/run.sh
# Environment (all optional):
#     E2E_SETUPS="pg my002 my004 sqlite"   which setups
#     E2E_ROUTES="pipe lmtp"               which routes
#     E2E_AGENT=ours|dovecot               dovecot = harness self-test with dovecot-lda/-lmtp
#     E2E_KEEP=1                           keep the temp dir even on success
#     E2E_DELIVER=/path E2E_LMTPD=/path    test these binaries instead of building ./cmd/...
#     E2E_MD_LOG_TARGET=...                [log] target in the maildeliver configs
#                                          (default file:<combo dir>/maildeliver.log)
#     E2E_DEADLINE=180                     seconds to wait for Postfix to settle, per phase
#     E2E_DOC=README.md                    the guide whose snippets must match e2e/conf (docs.sh)
set -euo pipefail

E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
. "$E2E/lib/common.sh"
# shellcheck source=lib/inject.sh
. "$E2E/lib/inject.sh"
# shellcheck source=lib/postfix.sh
. "$E2E/lib/postfix.sh"
# shellcheck source=lib/dovecot.sh
. "$E2E/lib/dovecot.sh"
# shellcheck source=lib/setups.sh
. "$E2E/lib/setups.sh"
# shellcheck source=lib/verify.sh
. "$E2E/lib/verify.sh"
# shellcheck source=lib/explain.sh
. "$E2E/lib/explain.sh"
# shellcheck source=lib/sieve.sh
. "$E2E/lib/sieve.sh"

read -r -a SETUPS <<<"${E2E_SETUPS:-${ALL_SETUPS[*]}}"
read -r -a ROUTES <<<"${E2E_ROUTES:-pipe lmtp}"
AGENT=${E2E_AGENT:-ours}
DEADLINE=${E2E_DEADLINE:-180}
START=$SECONDS

[[ $(id -u) == 0 ]] || die "run as root (private Postfix and Dovecot instances, pipe(8) users)"

# ---- packages ------------------------------------------------------------------------
PACKAGES=(postfix postfix-pgsql postfix-mysql postfix-sqlite dovecot-core dovecot-imapd
  dovecot-pgsql dovecot-mysql dovecot-sqlite swaks)
[[ $AGENT == dovecot ]] && PACKAGES+=(dovecot-lmtpd)
install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v mysql >/dev/null || missing+=(mariadb-client)
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
install_packages
PKG_SECONDS=$((SECONDS - START))

T=$(mktemp -d /tmp/md-e2e.XXXXXX)
chmod 0755 "$T" # pipe(8) runs deliver as the mailbox uid: it must reach $T/bin and the configs
trap teardown EXIT
trap 'exit 130' INT TERM
RUN_ID=$(basename "$T" | cut -d. -f2)
log "temp dir $T"

ensure_users

# the shared database servers must be up (the suite only creates and drops databases there)
for setup in "${SETUPS[@]}"; do
  case $setup in
  pg) psql -X -q -h /var/run/postgresql -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
    die "PostgreSQL does not answer on /var/run/postgresql as postgres (needed by setup pg)" ;;
  my002 | my004) mysql -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null 2>&1 ||
    die "MariaDB does not answer on 127.0.0.1:3306 as root (needed by setup $setup)" ;;
  sqlite) ;;
  *) die "unknown setup $setup (want: ${ALL_SETUPS[*]})" ;;
  esac
done

# the deployment guide quotes e2e/conf: it must not drift from what runs here
DOC_PROBLEM=""
"$E2E/docs.sh" "${E2E_DOC:-$E2E/../README.md}" >"$T/docs.log" 2>&1 || DOC_PROBLEM=$(cat "$T/docs.log")

# ---- our binaries ------------------------------------------------------------------
mkdir -p "$T/bin"
BUILD_ERR=()
[[ $AGENT == dovecot ]] || build_ours "$T/bin"
# tools/promcheck reads lmtpd's /metrics with Prometheus's own parser (check_metrics)
GO=$(command -v go || echo /usr/local/go/bin/go)
if [[ $AGENT == ours ]] && ! (cd "$E2E/.." && CGO_ENABLED=0 "$GO" build -trimpath -o "$T/bin/promcheck" ./tools/promcheck) >"$T/build-promcheck.log" 2>&1; then
  BUILD_ERR+=(promcheck)
  log "tools/promcheck does not build:"; sed 's/^/    /' "$T/build-promcheck.log" | head -20 >&2
fi
chmod -R a+rX "$T/bin"
DELIVER=$T/bin/deliver LMTPD=$T/bin/lmtpd

make_big_part

# ---- one (setup, route) ------------------------------------------------------------
# run_combo SETUP ROUTE: everything of one combination under $T/<setup>-<route>.
run_combo() {
  local setup=$1 route=$2
  ROUTE=$route C=$T/$setup-$route
  mkdir -p "$C/msgs" "$C/smtp"
  chmod 0755 "$C"
  : >"$C/plan.txt"; : >"$C/inject.txt"; : >"$C/problems.txt"; : >"$C/explain.txt"
  MAILROOT=$C/mail
  PF_CONF=$C/postfix PF_SPOOL=$C/spool PF_DATA=$C/postfix-data PF_LOG=$C/postfix.log PF_PORT=$(free_port)
  MD_CONF=$C/maildeliver.toml
  # deliver runs as 1001, 1002 or vmail and appends to the same file (test only: 0666)
  MD_LOG_TARGET=${E2E_MD_LOG_TARGET:-file:$C/maildeliver.log}
  install -m 0666 /dev/null "$C/maildeliver.log"

  if [[ $AGENT == ours ]]; then
    local need=deliver; [[ $route == lmtp ]] && need=lmtpd
    if [[ " ${BUILD_ERR[*]} " == *" $need "* ]] || [[ ! -x $T/bin/$need ]]; then
      problem "cmd/$need is not built (go build ./cmd/$need failed: see above); route $route cannot run"
      return 0
    fi
  fi

  local t=$SECONDS
  route_data "$route"
  mail_root_prepare
  dc_configure # first: maildeliver.toml reads Dovecot's config (dovecot_config = $DC_CONF)
  render "$E2E/conf/$setup/maildeliver.toml" "$MD_CONF"
  if [[ $route == lmtp ]]; then # plumbing: lmtpd's metrics on a free port (check_metrics)
    MD_METRICS_PORT=$(free_port)
    printf '\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$MD_METRICS_PORT" >>"$MD_CONF"
  fi
  sieve_configure
  chmod 0644 "$MD_CONF"
  pf_configure
  pf_start
  dc_start
  if [[ $AGENT == ours && $route == lmtp ]] && ! lmtpd_start; then
    problem "lmtpd did not start listening on $PF_SPOOL/private/maildeliver-lmtp (see lmtpd.log)"
    dc_stop; pf_stop "$PF_CONF" "$PF_SPOOL"
    return 0
  fi

  sieve_users
  log "  instances up ($((SECONDS - t))s)"; t=$SECONDS
  phase1
  settle "phase 1" || true
  phase2
  settle "phase 2" || true
  [[ $route == pipe ]] && direct_mixedcase
  log "  injected and settled ($((SECONDS - t))s)"; t=$SECONDS

  verify_combo
  verify_sieve
  verify_explain
  [[ $AGENT == ours && $route == lmtp ]] && check_metrics
  log "  verified ($((SECONDS - t))s)"
  [[ $AGENT == ours && $route == lmtp ]] && lmtpd_stop
  dc_stop
  pf_stop "$PF_CONF" "$PF_SPOOL"
}

lmtpd_start() {
  local sock=$PF_SPOOL/private/maildeliver-lmtp
  "$LMTPD" -c "$MD_CONF" </dev/null >"$C/lmtpd.log" 2>&1 &
  LMTPD_PID=$!
  E2E_PIDS+=("lmtpd-$SETUP:$LMTPD_PID")
  if ! wait_until 20 "lmtpd socket $sock" lmtpd_ready "$sock"; then
    sed 's/^/    /' "$C/lmtpd.log" >&2
    stop_pid "lmtpd-$SETUP" "$LMTPD_PID"
    return 1
  fi
}
# lmtpd_ready SOCK: the socket is there (2: lmtpd has exited, stop waiting).
lmtpd_ready() {
  [[ -S $1 ]] && return 0
  alive "$LMTPD_PID" || return 2
  return 1
}
lmtpd_stop() { stop_pid "lmtpd-$SETUP" "$LMTPD_PID"; }

# ---- the test plan -------------------------------------------------------------------
# send CASE INJECTOR SENDER RCPTS MSGKIND [EXTRA_HEADER]: make and inject one message.
send() {
  local case=$1 injector=$2 from=$3 rcpts=$4 kind=$5 extra=${6:-} qid
  local id=$case.$RUN_ID msg=$C/msgs/$case.eml
  make_msg "$kind" "$id" "$from" "${rcpts%%,*}" "$extra" >"$msg"
  explain_rcpts "$case" "$rcpts" "$msg"
  case $injector in
  swaks) qid=$(swaks_send "$PF_PORT" "$from" "$rcpts" "$msg" "$C/smtp/$case.txt") ;;
  utf8) qid=$(smtp_utf8 "$PF_PORT" "$from" "$rcpts" "$msg" "$C/smtp/$case.txt") ;;
  size) qid=$(smtp_size "$PF_PORT" "$from" "$rcpts" "$msg" "$C/smtp/$case.txt") ;;
  esac
  printf '%s|%s|%s|%s\n' "$case" "$qid" "${from:-<>}" "$rcpts" >>"$C/inject.txt"
}

# expect CASE OUTCOME RCPT [USER FOLDER | CODE]
#   deliver: Postfix logs status=sent for RCPT and Dovecot finds it for USER in FOLDER
#   sent: Postfix logs status=sent for RCPT (what became of it: lib/sieve.sh checks)
#   bounce|defer CODE: Postfix logs status=bounced|deferred with dsn=CODE (a glob: "4.*")
#   reject CODE: Postfix refused RCPT at SMTP time with CODE (and, when the message was
#                queued for other recipients, logged the refusal and never bounced RCPT)
expect() { printf '%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "${4:-}" "${5:-}" >>"$C/plan.txt"; }

SENDER=alice@remote.example
MD_HOSTNAME=mx.e2e.test
phase1() {
  local main_local=${U_MAIN%@*} main_dom=${U_MAIN#*@}
  send plain swaks "$SENDER" "$U_MAIN" ascii
  expect plain deliver "$U_MAIN" "$U_MAIN" ""

  send 8bit swaks "$SENDER" "$U_OTHER" 8bit
  expect 8bit deliver "$U_OTHER" "$U_OTHER" ""

  send multi swaks "$SENDER" "$U_MAIN,$U_SAME,$U_OTHER" ascii
  expect multi deliver "$U_MAIN" "$U_MAIN" ""
  expect multi deliver "$U_SAME" "$U_SAME" ""
  expect multi deliver "$U_OTHER" "$U_OTHER" ""

  if [[ -n $ALIAS ]]; then
    send alias swaks "$SENDER" "$ALIAS" ascii
    expect alias deliver "$ALIAS_TARGET" "$ALIAS_TARGET" ""
  fi

  # as typed by a user: Postfix finds it (its lookups fold case) and passes it on as typed
  # over LMTP; pipe(8)'s flags hu fold ${recipient} first (the direct case below is pipe's)
  local mixed; mixed=$(mixcase "$U_OTHER")
  send mixedcase swaks "$SENDER" "$mixed" ascii
  expect mixedcase deliver "$mixed" "$U_OTHER" ""

  send detail swaks "$SENDER" "$main_local+$DETAIL@$main_dom" ascii
  expect detail deliver "$main_local+$DETAIL@$main_dom" "$U_MAIN" "$DETAIL"

  if [[ -n $U_UTF8 ]]; then
    send utf8 utf8 "rené@remote.example" "$U_UTF8" utf8
    expect utf8 deliver "$U_UTF8" "$U_UTF8" ""
  fi

  if [[ -n ${U_MISROUTED:-} ]]; then
    send wronguid swaks "$SENDER" "$U_MISROUTED" ascii
    if [[ $ROUTE == pipe ]]; then # deliver runs as 1001, the mailbox is 1002's: temporary
      expect wronguid defer "$U_MISROUTED" "" "4.*"
    else
      expect wronguid deliver "$U_MISROUTED" "$U_MISROUTED" ""
    fi
  fi

  send nullsender swaks "" "$U_MAIN" ascii
  expect nullsender deliver "$U_MAIN" "$U_MAIN" ""

  send big swaks "$SENDER" "$U_SAME" big
  expect big deliver "$U_SAME" "$U_SAME" ""

  send unknown swaks "$SENDER" "$UNKNOWN" ascii
  expect unknown reject "$UNKNOWN" "" "550 5.1.1"

  # a message that has been here before (as after a forward that came back)
  send loop swaks "$SENDER" "$U_OTHER" ascii "Delivered-To: $U_OTHER"
  if [[ $AGENT == dovecot ]]; then
    expect loop any "$U_OTHER" "$U_OTHER" "" # Dovecot without Sieve has no Delivered-To loop check
  else
    expect loop bounce "$U_OTHER" "" "5.4.6"
  fi
  sieve_phase1
}

# phase 2, after "big" is in: the same 27 MiB again takes $U_SAME over the 40M quota
phase2() {
  send overquota swaks "$SENDER" "$U_SAME" big
  if [[ $AGENT == dovecot ]]; then # dovecot-lda -e exits EX_NOPERM/EX_TEMPFAIL: 5.7.0/4.3.0
    expect overquota "$([[ $QUOTA_FULL == defer ]] && echo defer || echo bounce)" "$U_SAME" "" "*"
  elif [[ $QUOTA_FULL == defer ]]; then
    expect overquota defer "$U_SAME" "" "4.2.2"
  else
    expect overquota bounce "$U_SAME" "" "5.2.2"
  fi
  if [[ $AGENT == ours && $ROUTE == lmtp ]]; then
    # lmtpd's quota policy service (check_policy_service, route-lmtp.cf): the same 27 MiB
    # with SIZE= declared, to $U_SAME (27 of 40 MiB used: cannot take it) and $U_MAIN (can):
    # $U_SAME refused at RCPT, no bounce; $U_MAIN gets the message
    send policy size "$SENDER" "$U_SAME,$U_MAIN" big
    expect policy reject "$U_SAME" "" "$([[ $QUOTA_FULL == defer ]] && echo '452 4.2.2' || echo '552 5.2.2')"
    expect policy deliver "$U_MAIN" "$U_MAIN" ""
  fi
  sieve_phase2
}

# direct_mixedcase: an administrator at a shell redelivers a saved message, as root, with
# the recipient in mixed case and no Postfix in between (deliver -d, or dovecot-lda -d in the
# self-test); verify_combo checks it like the others. Exit code in $C/direct-mixedcase.rc.
direct_mixedcase() {
  local case=direct-mixedcase rcpt rc=0
  rcpt=$(mixcase "$U_MAIN")
  make_msg ascii "$case.$RUN_ID" "$SENDER" "$rcpt" >"$C/msgs/$case.eml"
  explain_rcpts "$case" "$rcpt" "$C/msgs/$case.eml" direct
  if [[ $AGENT == dovecot ]]; then
    /usr/lib/dovecot/dovecot-lda -c "$DC_CONF" -f "$SENDER" -d "$rcpt" <"$C/msgs/$case.eml" >"$C/$case.out" 2>&1 || rc=$?
  else
    "$DELIVER" -c "$MD_CONF" -f "$SENDER" -d "$rcpt" <"$C/msgs/$case.eml" >"$C/$case.out" 2>&1 || rc=$?
  fi
  echo "$rc" >"$C/$case.rc"
  printf '%s|direct|%s|%s\n' "$case" "$SENDER" "$rcpt" >>"$C/inject.txt"
  expect "$case" direct "$rcpt" "$U_MAIN" ""
}

# settle WHAT: wait (polling, with a deadline) until Postfix has logged a final status for
# every planned recipient and nothing is left in the queue but deferred mail.
settle() {
  wait_until "$DEADLINE" "Postfix to settle ($1)" settled || { problem "Postfix did not settle within ${DEADLINE}s ($1)"; return 1; }
}
settled() {
  local case outcome rcpt qid
  while IFS='|' read -r case outcome rcpt _; do
    [[ $outcome == reject ]] && continue
    qid=$(inject_qid "$case")
    [[ $qid == - ]] && continue
    [[ -n $(pf_log_status "$qid" "$rcpt") ]] || return 1
  done <"$C/plan.txt"
  ! postqueue -c "$PF_CONF" -j 2>/dev/null | grep -v '"queue_name": *"deferred"' | grep -q .
}
inject_qid() { awk -F'|' -v c="$1" '$1 == c { print $2 }' "$C/inject.txt"; }

# ---- main ----------------------------------------------------------------------------
: >"$T/summary.tsv"; : >"$T/notes.txt"
FAILED=0
for setup in "${SETUPS[@]}"; do
  setup_roles "$setup"
  if [[ $AGENT == dovecot && -n $U_UTF8 ]]; then
    U_UTF8="" UTF8_NA="self-test: Dovecot 2.3 LMTP offers no SMTPUTF8, its LDA refuses UTF-8 user names"
  fi
  [[ $AGENT == dovecot ]] && SIEVE=off SIEVE_NA="self-test: Dovecot runs without Pigeonhole here"
  db_create
  [[ -n $UTF8_NA ]] && echo "$setup: no SMTPUTF8 case ($UTF8_NA)" >>"$T/notes.txt"
  [[ -z $ALIAS ]] && echo "$setup: no alias case (the seed has no alias table)" >>"$T/notes.txt"
  [[ -n $SIEVE_NA ]] && echo "$setup: Sieve $SIEVE ($SIEVE_NA)" >>"$T/notes.txt"
  for route in "${ROUTES[@]}"; do
    log "== $setup / $route: $SETUP_TITLE"
    t0=$SECONDS
    run_combo "$setup" "$route"
    summarize_combo $((SECONDS - t0))
  done
done

print_summary
if [[ -n $DOC_PROBLEM ]]; then printf '%s\n' "$DOC_PROBLEM" >&2; FAILED=1; fi
log "total $((SECONDS - START))s (packages ${PKG_SECONDS}s)"
if ((FAILED)); then
  dump_logs
  exit 1
fi
