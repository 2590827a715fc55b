#!/bin/bash
# Scale-out on the real stack (issue 14, SPEC "Many machines"): one Postfix, one PostgreSQL
# userdb behind a private PgBouncer in pool_mode=transaction, three backend lmtpd with their
# own mail roots on 127.0.0.2, .3 and .4, and two ways of routing each user to its backend:
#   transport  no proxy: Postfix's transport_maps = pgsql: returns lmtp:inet:[host]:port
#              from the user's row (README "Many machines": the transport_maps recipe)
#   proxy      Postfix hands everything to one lmtpd with [lmtp] proxy = true on 127.0.0.1,
#              which forwards each recipient to the host/port its row names; the backends
#              run the same configuration and deliver their own users (proxy_maybe)
# Per variant: mail to every user and one message to users on all three backends, each
# found by Dovecot exactly once on the right backend and nowhere else; then backend 2 is
# killed (SIGKILL) and mail keeps coming: its recipients are deferred 4.4.x by Postfix (no
# bounce), the others delivered; backend 2 comes back, postqueue -f, and every Message-ID x
# recipient is there exactly once.
#
# Run as root, under the suite lock:  flock /tmp/e2e.lock e2e/scaleout.sh
# Environment (optional):
#     SX_VARIANTS="transport proxy"   which variants
#     E2E_KEEP=1                      keep the temp dir even on success
#     E2E_LMTPD=/path                 test this lmtpd instead of building ./cmd/lmtpd
#     E2E_DEADLINE=120                seconds to wait for Postfix, per step
#     SX_MISROUTE=fay@other.test:1    harness self-test: that user's row names backend 1;
#                                     every step must then fail (misplaced)
set -euo pipefail

E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
. "$E2E/lib/common.sh"
# shellcheck source=lib/inject.sh
. "$E2E/lib/inject.sh"
# shellcheck source=lib/postfix.sh
. "$E2E/lib/postfix.sh"
# shellcheck source=lib/setups.sh
. "$E2E/lib/setups.sh"
# shellcheck source=lib/scaleout.sh
. "$E2E/lib/scaleout.sh"

read -r -a VARIANTS <<<"${SX_VARIANTS:-transport proxy}"
DEADLINE=${E2E_DEADLINE:-120}
START=$SECONDS
SENDER=alice@remote.example

[[ $(id -u) == 0 ]] || die "run as root (private Postfix, lmtpd dropping to uid 5000)"

PACKAGES=(postfix postfix-pgsql dovecot-core pgbouncer swaks iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v psql >/dev/null || missing+=(postgresql-client)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
psql -X -q -h /var/run/postgresql -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
  die "PostgreSQL does not answer on /var/run/postgresql as postgres"
ensure_users # vmail (5000): the mailbox owner of every user here

T=$(mktemp -d /tmp/md-scaleout.XXXXXX)
chmod 0755 "$T" # lmtpd writes and doveadm reads the mail roots as uid 5000
RUN_ID=$(basename "$T" | cut -d. -f2)
FAILED=0
: >"$T/summary.tsv"; : >"$T/notes.txt"
dump_logs() { sx_dump_logs; }
trap teardown EXIT
trap 'exit 130' INT TERM
log "temp dir $T"

mkdir -p "$T/bin"
if [[ -n ${E2E_LMTPD:-} ]]; then
  install -m 0755 "$E2E_LMTPD" "$T/bin/lmtpd"
else
  GO=$(command -v go || echo /usr/local/go/bin/go)
  (cd "$E2E/.." && CGO_ENABLED=0 "$GO" build -trimpath -ldflags="$(sh scripts/build.sh --ldflags)" -o "$T/bin/lmtpd" ./cmd/lmtpd) >"$T/build.log" 2>&1 ||
    { cat "$T/build.log" >&2; die "cmd/lmtpd does not build"; }
fi
LMTPD=$T/bin/lmtpd

sx_net_up
on_exit sx_stop_lmtpds # first of all at exit: nothing may hold the namespaces or the database
sx_db_create
[[ -n ${SX_MISROUTE:-} ]] && sx_misroute "${SX_MISROUTE%:*}" "${SX_MISROUTE##*:}"
sx_pgbouncer_start
sx_dovecot_start
log "backends at $(sx_addr 1), $(sx_addr 2), $(sx_addr 3) (namespaces $(sx_ns '*'))"
log "userdb $DB behind pgbouncer $PGB_LISTEN port $PGB_PORT (pid $PGB_PID), pool_mode=transaction"
PGB_XACTS0=$(sx_pgb_xacts)

# ---- one variant --------------------------------------------------------------------------
run_variant() {
  VARIANT=$1 V=$T/$1
  mkdir -p "$V"
  : >"$V/expect.txt"; : >"$V/problems.txt"
  LMTP_PORT=$(free_port)
  sx_db_port "$LMTP_PORT"
  case $VARIANT in
  transport)
    SX_BACKEND_QUERY="SELECT uid, gid FROM users WHERE userid = '%u'"
    SX_BACKEND_EXTRA=""
    ;;
  proxy)
    # the proxy and the backends run the same configuration: a proxy_maybe row naming this
    # lmtpd (its address and port) is delivered here, any other is forwarded
    PROXY_ADDR=127.0.0.1
    SX_PROXY_QUERY="SELECT uid, gid, host, port, proxy_maybe FROM users WHERE userid = '%u'"
    SX_PROXY_EXTRA="proxy = true"
    SX_BACKEND_QUERY=$SX_PROXY_QUERY SX_BACKEND_EXTRA=$SX_PROXY_EXTRA
    ;;
  *) die "unknown variant $VARIANT (want: transport proxy)" ;;
  esac

  local n u t=$SECONDS
  for n in "${SX_BACKENDS[@]}"; do sx_backend_start "$n" || { sx_problem start "backend $n did not start"; return 0; }; done
  if [[ $VARIANT == proxy ]]; then
    sx_proxy_start || { sx_problem start "the proxy did not start"; return 0; }
  fi
  sx_pf_configure
  pf_start
  log "  $VARIANT: up ($((SECONDS - t))s)"

  # step 1: every user, then one message for users on all three backends
  local i=0
  for u in "${SX_USERS[@]}"; do i=$((i + 1)); sx_send spread "one$i" "${u%:*}"; done
  sx_send spread all3 anna@sx.test dora@other.test fay@other.test
  sx_send spread all6 "${SX_USERS[@]%:*}"
  wait_until "$DEADLINE" "$VARIANT: step spread delivered" sx_all_sent spread ||
    sx_problem spread "Postfix did not deliver everything within ${DEADLINE}s"
  SX_DEFERRED=0 SX_BOUNCED=0
  sx_postfix_checks spread
  sx_verify spread
  sx_row spread

  # step 2: backend 2 dies while mail to the other backends streams in, and mail for all
  # keeps coming. Backend 2 itself is idle when it dies (all its mail so far is delivered,
  # none of the stream is for it): a kill inside a transaction, after its fsync and before
  # its reply, would make Postfix deliver that message again, which LMTP cannot prevent.
  local others=() bg
  for u in "${SX_USERS[@]}"; do [[ ${u##*:} == "$SX_VICTIM" ]] || others+=("${u%:*}"); done
  (for i in 1 2 3 4; do for u in "${others[@]}"; do sx_send down "s$i-${u%%@*}" "$u"; done; done) &
  bg=$!
  wait_until 60 "the stream to the other backends under way" sx_expected_at_least down 3 ||
    sx_problem down "the stream did not start"
  sx_kill "$SX_VICTIM"
  log "  $VARIANT: backend $SX_VICTIM killed"
  for i in 1 2 3; do
    for u in "${SX_USERS[@]}"; do sx_send down "d$i-${u%%@*}" "${u%:*}"; done
    sx_send down "d$i-all6" "${SX_USERS[@]%:*}"
  done
  wait "$bg"
  wait_until "$DEADLINE" "$VARIANT: others delivered, backend $SX_VICTIM's users deferred" sx_down_settled down ||
    sx_problem down "Postfix did not settle within ${DEADLINE}s with backend $SX_VICTIM down"
  sx_postfix_checks down
  # what is expected so far: everything but the victim's recipients of this step
  cp "$V/expect.txt" "$V/expect-all.txt"
  awk -F'|' -v v="$SX_VICTIM" '!($1 == "down" && $4 == v)' "$V/expect-all.txt" >"$V/expect.txt"
  sx_verify down
  cp "$V/expect-all.txt" "$V/expect.txt"
  sx_row down

  # step 3: backend 2 is back; Postfix retries now
  sx_backend_start "$SX_VICTIM" || { sx_problem restart "backend $SX_VICTIM did not restart"; return 0; }
  sx_flush
  wait_until "$DEADLINE" "$VARIANT: everything delivered after the restart" sx_all_sent ||
    sx_problem restart "not everything delivered within ${DEADLINE}s after the restart"
  sx_postfix_checks restart
  sx_verify restart
  sx_queue_ids restart
  local per=""
  for n in "${SX_BACKENDS[@]}"; do per+=" b$n=$(sx_count_files "$V/b$n/mail")"; done
  [[ -d $V/proxy/mail ]] && per+=" proxy=$(sx_count_files "$V/proxy/mail")"
  echo "$VARIANT: message files per mail root at the end:$per" >>"$T/notes.txt"
  sx_row restart

  pf_stop "$PF_CONF" "$PF_SPOOL"
  sx_stop_lmtpds
  log "  $VARIANT: done ($((SECONDS - t))s)"
}

for variant in "${VARIANTS[@]}"; do
  log "== variant $variant"
  run_variant "$variant"
done

PGB_XACTS=$(($(sx_pgb_xacts) - PGB_XACTS0))
echo "PgBouncer (pool_mode=transaction, default_pool_size=$PGB_POOL) passed $PGB_XACTS transactions to PostgreSQL for $DB" >>"$T/notes.txt"
((PGB_XACTS > 0)) || { echo "FAIL: no userdb transaction went through PgBouncer" >>"$T/notes.txt"; FAILED=1; }
sx_print_summary
log "total $((SECONDS - START))s"
if ((FAILED)); then exit 1; fi
