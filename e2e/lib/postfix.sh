# shellcheck shell=bash
# A private Postfix instance per (setup, route): own config_directory, queue,
# data directory and log file under the combo directory $C, smtpd on
# 127.0.0.1:$PF_PORT. Follows shared/anchors' gotchas: no /dev/log (maillog_file
# + postlogd + maillog_file_prefixes), chroot = n everywhere, meta_directory =
# /etc/postfix for dynamicmaps.cf (pgsql:/mysql:/sqlite: map plugins).

# pf_configure: writes $PF_CONF/{main.cf,master.cf,maps} for setup $SETUP, route $ROUTE.
pf_configure() {
  local f svc
  mkdir -p "$PF_CONF" "$PF_SPOOL" "$PF_DATA"
  chown postfix:postfix "$PF_DATA"
  # seed lookup tables, adapted to the throwaway database
  for f in "$E2E/conf/$SETUP/postfix/"*.cf; do
    render "$f" "$PF_CONF/$(basename "$f")"
  done
  chgrp postfix "$PF_CONF"/*.cf
  chmod 0640 "$PF_CONF"/*.cf
  {
    render "$E2E/conf/postfix/instance.cf" -
    printf '\n# ---- e2e/conf/postfix/main.cf ----\n'
    render "$E2E/conf/postfix/main.cf" -
    printf '\n# ---- setup %s: lookups (e2e/conf/%s/main.cf) ----\n' "$SETUP" "$SETUP"
    render "$E2E/conf/$SETUP/main.cf" -
    # the route: e2e/conf/<setup>/route-<route>.cf if the setup has its own, else the generic one
    f=$E2E/conf/$SETUP/route-$ROUTE.cf
    [[ -f $f ]] || f=$E2E/conf/postfix/route-$ROUTE.cf
    printf '\n# ---- route %s (%s) ----\n' "$ROUTE" "${f#"$E2E/"}"
    render "$f" -
  } >"$PF_CONF/main.cf"
  render "$E2E/conf/postfix/master.cf" "$PF_CONF/master.cf"
  if [[ $AGENT == dovecot ]]; then # harness self-test: Dovecot has no quota policy service here
    sed -i '/^smtpd_recipient_restrictions = check_policy_service/d' "$PF_CONF/main.cf"
  fi
  if [[ $ROUTE == pipe ]]; then
    # one pipe(8) service per mailbox uid (pipe cannot run as root)
    for svc in "${PIPE_SERVICES[@]}"; do
      SERVICE=${svc%%:*} PIPE_USER=${svc##*:}
      render "$E2E/conf/postfix/master-pipe.cf" - >>"$PF_CONF/master.cf"
      printf '%s_destination_recipient_limit = 1\n' "$SERVICE" >>"$PF_CONF/main.cf"
    done
    if [[ $AGENT == dovecot ]]; then # harness self-test: dovecot-lda instead of our deliver
      sed -i "s|argv=$DELIVER -c $MD_CONF -q \${queue_id} -f \${sender} -d \${recipient}|argv=/usr/lib/dovecot/dovecot-lda -c $DC_CONF -e -f \${sender} -d \${user}@\${nexthop} -m $FOLDER_PREFIX\${extension}|" "$PF_CONF/master.cf"
    fi
  fi
}

pf_start() {
  : >"$PF_LOG"
  # never touch the system instance: the rendered config must point at our own queue
  [[ $(postconf -c "$PF_CONF" -h queue_directory) == "$PF_SPOOL" ]] || die "$PF_CONF/main.cf: queue_directory is not $PF_SPOOL"
  # "postfix start" runs postfix-script's own checks (and creates the queue directories)
  postfix -c "$PF_CONF" start >"$C/postfix-check.log" 2>&1 || { cat "$C/postfix-check.log" >&2; die "postfix start failed"; }
  on_exit "pf_stop '$PF_CONF' '$PF_SPOOL'"
  wait_until 20 "postfix smtpd on 127.0.0.1:$PF_PORT" pf_listening || die "postfix did not come up"
  PF_PID=$(tr -d ' ' <"$PF_SPOOL/pid/master.pid")
  if grep -qE 'warning|fatal|error' "$C/postfix-check.log"; then
    log "postfix check/start said:"; sed 's/^/    /' "$C/postfix-check.log" >&2
  fi
}

pf_listening() { ss -Htln "sport = :$PF_PORT" | grep -q .; }

# pf_stop CONF SPOOL: stop by the master's PID file; KILL the master by PID if it hangs.
pf_stop() {
  local conf=$1 spool=$2 pid
  [[ -f $spool/pid/master.pid ]] || return 0
  pid=$(tr -d ' ' <"$spool/pid/master.pid")
  alive "$pid" || return 0
  postfix -c "$conf" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null
  wait_until 15 "postfix master $pid to exit" gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
}

# pf_queue_ids: queue ids currently in the queue (any state).
pf_queue_ids() {
  postqueue -c "$PF_CONF" -j 2>/dev/null | sed -n 's/.*"queue_id": *"\([0-9A-Za-z]*\)".*/\1/p'
}

# pf_log_status QID RCPT: the last "status=" line Postfix logged for that recipient of that
# message (any letter case: Postfix may log a recipient typed in mixed case folded).
pf_log_status() {
  grep -iF " $1: to=<$2>" "$PF_LOG" | grep ' status=' | tail -1
}
