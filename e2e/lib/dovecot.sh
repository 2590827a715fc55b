# shellcheck shell=bash
# A private Dovecot per (setup, route), used only to verify: its own base_dir,
# state_dir and logs under $C/dovecot, IMAP on 127.0.0.1:$DC_IMAP_PORT, the
# setup's mail_location and userdb (e2e/conf/<setup>/dovecot.conf).

dc_configure() {
  local d=$C/dovecot
  DC_BASE=$d/run DC_STATE=$d/state DC_LOG=$d/dovecot.log DC_INFO_LOG=$d/dovecot-info.log
  DC_CONF=$d/dovecot.conf DC_SQL=$d/dovecot-sql.conf.ext DC_SETUP_CONF=$d/setup.conf
  DC_INSTANCE=e2e-$SETUP-$ROUTE DC_IMAP_PORT=$(free_port)
  DC_QUOTA_TEMPFAIL=$([[ $QUOTA_FULL == defer ]] && echo yes || echo no)
  mkdir -p "$d" "$DC_BASE" "$DC_STATE"
  touch "$DC_LOG" "$DC_INFO_LOG"
  render "$E2E/conf/$SETUP/dovecot-sql.conf.ext" "$DC_SQL"
  render "$E2E/conf/$SETUP/dovecot.conf" "$DC_SETUP_CONF"
  render "$E2E/conf/dovecot/dovecot.conf" "$DC_CONF"
  if [[ $AGENT == dovecot ]]; then
    render "$E2E/conf/dovecot/selftest.conf" "$d/selftest.conf"
    printf '!include %s\n' "$d/selftest.conf" >>"$DC_CONF"
    chmod 0666 "$DC_LOG" "$DC_INFO_LOG" # dovecot-lda logs as the mailbox uid
  fi
  chmod 0755 "$d"; chmod 0644 "$DC_CONF" "$DC_SQL" "$DC_SETUP_CONF"
}

dc_start() {
  dovecot -c "$DC_CONF" </dev/null >"$C/dovecot/start.log" 2>&1 || { cat "$C/dovecot/start.log" "$DC_LOG" >&2; die "dovecot did not start"; }
  wait_until 20 "dovecot master.pid and auth-userdb" test -S "$DC_BASE/auth-userdb" -a -s "$DC_BASE/master.pid" ||
    { cat "$DC_LOG" >&2; die "dovecot did not come up"; }
  DC_PID=$(cat "$DC_BASE/master.pid")
  E2E_PIDS+=("dovecot-$SETUP-$ROUTE:$DC_PID")
}

dc_stop() { [[ -n ${DC_PID:-} ]] && stop_pid "dovecot-$SETUP-$ROUTE" "$DC_PID"; DC_PID=""; }

# doveadm ARGS...: doveadm against the private instance; its stderr is kept for the error scan.
dadm() { doveadm -c "$DC_CONF" "$@" </dev/null 2>>"$C/dovecot/doveadm.err"; }

# dc_mailbox NAME: Dovecot's name for Maildir++ folder NAME in this setup ("" = INBOX).
dc_mailbox() { if [[ -z $1 ]]; then echo INBOX; else echo "$FOLDER_PREFIX$1"; fi; }

# dc_where USER ID: one line per message carrying X-E2E-Id ID, in any mailbox: its mailbox name.
dc_where() { dadm -f tab fetch -u "$1" mailbox header X-E2E-Id "$2" | tail -n +2; }

# dc_hdr_body USER MAILBOX ID HDR_OUT BODY_OUT: header and body of the message with
# X-E2E-Id ID, byte for byte. doveadm's pager format streams them as
# "hdr:\n<header, ending in the empty line>body:\n<body>" (and "\f\n" between records,
# not after the last one); the header cannot contain "\n\nbody:\n" before its end.
dc_hdr_body() {
  local user=$1 mbox=$2 id=$3 hout=$4 bout=$5 raw=$4.raw n hlen
  dadm -f pager fetch -u "$user" 'hdr body' mailbox "$mbox" header X-E2E-Id "$id" >"$raw" || return 1
  n=$(stat -c %s "$raw")
  [[ $(head -c 5 "$raw") == "hdr:"* ]] || return 1
  # offset of the "\n\nbody:\n" that ends the header (grep -b counts bytes, lines start after \n)
  hlen=$(grep -a -b -m1 -x 'body:' "$raw" | cut -d: -f1) || return 1
  [[ -n $hlen ]] || return 1
  if [[ $(tail -c 2 "$raw" | od -An -tx1 | tr -d ' \n') == 0c0a ]]; then n=$((n - 2)); fi
  head -c "$hlen" "$raw" | tail -c +6 >"$hout"                      # after "hdr:\n"
  tail -c +$((hlen + 7)) "$raw" | head -c $((n - hlen - 6)) >"$bout" # after "body:\n"
  rm -f "$raw"
}
