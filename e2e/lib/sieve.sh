# shellcheck shell=bash
# Sieve at delivery through the real Postfix (issue 12). With SIEVE=full (setup_roles: the
# userdb gives homes) every combination has:
#   - the global before script conf/sieve/before.d/10-spam.sieve (X-Spam-Flag: YES -> Junk,
#     named with the setup's FOLDER_PREFIX: "INBOX.Junk" with seed 002's namespace);
#   - U_SIEVE: a Roundcube filter (List-Id -> :create "Lists", \Flagged) and a vacation rule,
#     as ManageSieve stores them: ~/sieve/roundcube.sieve and the symlink ~/.dovecot.sieve,
#     in the home Dovecot's userdb gives (doveadm user), owned by the user;
#   - U_REDIR: a script redirecting to U_REDIR_TARGET; U_BROKEN: a script that does not compile.
# maildeliver sends vacation replies and redirected copies to the private Postfix's SMTP port
# ([sieve] submission_host), which delivers them through the same route back into maildeliver;
# Dovecot then reads them where the senders (local mailboxes) keep their mail.
# SIEVE=global (no homes): the global script only. SIEVE=off: nothing.

# sieve_configure: append conf/sieve/maildeliver.toml to $MD_CONF and install the global
# scripts (root's, readable by every mailbox uid). Outgoing mail goes to the private
# Postfix's SMTP port, or on route $SIEVE_SENDMAIL_ON through its sendmail (-C: this
# instance's configuration).
sieve_configure() {
  [[ $SIEVE != off ]] || return 0
  if [[ $ROUTE == "$SIEVE_SENDMAIL_ON" ]]; then
    SIEVE_SUBMISSION_HOST="" SIEVE_SENDMAIL_PATH="/usr/sbin/sendmail -C $PF_CONF"
    sieve_allow_instance || return 1
  else
    SIEVE_SUBMISSION_HOST=127.0.0.1:$PF_PORT SIEVE_SENDMAIL_PATH=/usr/sbin/sendmail
  fi
  SIEVE_GLOBAL=$C/sieve-global
  install -d -m 0755 "$SIEVE_GLOBAL" "$SIEVE_GLOBAL/before.d"
  render "$E2E/conf/sieve/before.d/10-spam.sieve" "$SIEVE_GLOBAL/before.d/10-spam.sieve"
  chmod 0644 "$SIEVE_GLOBAL/before.d/10-spam.sieve"
  { echo; render "$E2E/conf/sieve/maildeliver.toml" -; } >>"$MD_CONF"
}

# sieve_allow_instance: sendmail_path runs as the mailbox owner (as Pigeonhole's does
# inside dovecot-lda/lmtp), and Postfix lets a user other than root pick another
# instance's configuration (-C) only when the default main.cf lists it in
# alternate_config_directories. This machine's Postfix has no main.cf ("No
# configuration"): one is written for the run, naming this combination's instance, and
# removed at exit; an administrator's own main.cf is never changed (then it must list it).
SIEVE_MAINCF_MARK="# written by the maildeliver e2e suite for sendmail -C, removed at its exit"
sieve_allow_instance() {
  local cf=/etc/postfix/main.cf
  if [[ ! -e $cf ]] || [[ $(head -n1 "$cf") == "$SIEVE_MAINCF_MARK" ]]; then
    [[ -e $cf ]] || on_exit "[[ \$(head -n1 $cf) == '$SIEVE_MAINCF_MARK' ]] && rm -f $cf"
    printf '%s\nalternate_config_directories = %s\n' "$SIEVE_MAINCF_MARK" "$PF_CONF" >"$cf"
    return 0
  fi
  postconf -c /etc/postfix -h alternate_config_directories | tr ', ' '\n\n' | grep -qxF "$PF_CONF" && return 0
  log "FAIL: $cf does not list $PF_CONF in alternate_config_directories: sendmail -C as a mailbox user cannot use it"
  return 1
}

# sieve_users: the users' scripts where Pigeonhole's ManageSieve leaves them, in the home
# Dovecot's userdb names, owned by the user (after dc_start: doveadm user asks it).
sieve_users() {
  [[ $SIEVE == full ]] || return 0
  sieve_user_script "$U_SIEVE" vacation && sieve_user_script "$U_REDIR" redirect &&
    sieve_user_script "$U_BROKEN" broken
}

# sieve_user_script USER NAME: conf/sieve/users/NAME.sieve as USER's ~/sieve/roundcube.sieve,
# active through ~/.dovecot.sieve -> sieve/roundcube.sieve.
sieve_user_script() {
  local user=$1 name=$2 home uid gid
  home=$(dadm user -f home "$user") uid=$(dadm user -f uid "$user") gid=$(dadm user -f gid "$user")
  if [[ $home != /* || -z $uid || -z $gid ]]; then
    problem "sieve: doveadm user $user gives no home/uid/gid ($home $uid $gid): its script cannot be installed"
    return 1
  fi
  # the parents as an administrator creates them (the domain directory is already there)
  install -d -m 0750 -o "$uid" -g "$gid" "$(dirname "$home")" "$home" "$home/sieve"
  render "$E2E/conf/sieve/users/$name.sieve" "$home/sieve/roundcube.sieve"
  chown "$uid:$gid" "$home/sieve/roundcube.sieve"; chmod 0600 "$home/sieve/roundcube.sieve"
  ln -s sieve/roundcube.sieve "$home/.dovecot.sieve"
  chown -h "$uid:$gid" "$home/.dovecot.sieve"
}

# sieve_phase1: the messages whose outcome does not depend on an earlier one.
sieve_phase1() {
  [[ $SIEVE != off ]] || return 0
  # global before script, for a user without a script of their own
  send sieve-spam swaks "$SENDER" "$U_MAIN" ascii "X-Spam-Flag: YES"
  expect sieve-spam deliver "$U_MAIN" "$U_MAIN" Junk
  [[ $SIEVE == full ]] || return 0
  # the filter: list mail into "Lists" (created), flagged; the vacation rule sees a List-Id
  send sieve-list swaks "$U_OTHER" "$U_SIEVE" ascii "List-Id: e2e list <e2e-list.lists.example>"
  expect sieve-list deliver "$U_SIEVE" "$U_SIEVE" Lists
  # vacation: the sender is a local mailbox on this Postfix; the reply comes back to it
  send sieve-vacation swaks "$U_MAIN" "$U_SIEVE" ascii
  expect sieve-vacation deliver "$U_SIEVE" "$U_SIEVE" ""
  send sieve-bulk swaks "$U_SAME" "$U_SIEVE" ascii "Precedence: bulk"
  expect sieve-bulk deliver "$U_SIEVE" "$U_SIEVE" ""
  send sieve-redirect swaks "$SENDER" "$U_REDIR" ascii
  expect sieve-redirect sent "$U_REDIR" "" ""
  send sieve-broken swaks "$SENDER" "$U_BROKEN" ascii
  expect sieve-broken deliver "$U_BROKEN" "$U_BROKEN" ""
}

# sieve_phase2: after the first reply went out (and its record was written): the same sender
# again gets no second reply within :days.
sieve_phase2() {
  [[ $SIEVE == full ]] || return 0
  send sieve-vacation2 swaks "$U_MAIN" "$U_SIEVE" ascii
  expect sieve-vacation2 deliver "$U_SIEVE" "$U_SIEVE" ""
}

# md_delivery_line CASE RCPT: maildeliver's delivery line for the injected message CASE to RCPT.
md_delivery_line() {
  grep ' msg=delivery ' "$C/maildeliver.log" | grep -F " msgid=<$1.$RUN_ID@e2e.test> " | grep -iF " to=$2 " | tail -1
}

# dc_replies USER CASE: "mailbox" lines, one per message USER has whose In-Reply-To is CASE's
# Message-ID (a vacation reply to it).
dc_replies() { dadm -f tab fetch -u "$1" mailbox header In-Reply-To "<$2.$RUN_ID@e2e.test>" | tail -n +2; }

# dc_header_of USER MAILBOX SEARCH...: the header (pager format, "hdr:" stripped) of the
# one message matching SEARCH in MAILBOX.
dc_header_of() {
  local user=$1 mbox=$2; shift 2
  dadm -f pager fetch -u "$user" hdr mailbox "$mbox" "$@" | tail -n +2
}

# hdr_values FILE NAME: the values of header field NAME (unfolded), one a line.
hdr_values() { unfold <"$1" | awk -v n="$2" 'BEGIN { n = tolower(n) ":" } /^$/ { exit } tolower(substr($0, 1, length(n))) == n { v = substr($0, length(n) + 1); sub(/^[ \t]+/, "", v); sub(/\r$/, "", v); print v }'; }

# postfix_qid_of HDRFILE: the queue id under which our Postfix received the message, from
# the topmost Received field it wrote: "by mx.e2e.test (Postfix) with ESMTP id QID" (SMTP)
# or "by mx.e2e.test (Postfix, from userid 0) id QID" (sendmail).
postfix_qid_of() {
  unfold <"$1" | sed -n 's/^Received: \(.* \)\?by mx\.e2e\.test (Postfix[^)]*)\( with E\?SMTP\)\? id \([0-9A-Za-z]*\).*/\3/p' | head -1
}

# check_through_postfix WHAT QID RCPT: Postfix logged QID going to RCPT (status=sent) and
# maildeliver logged the delivery of it under that queue id.
check_through_postfix() {
  local what=$1 qid=$2 rcpt=$3
  if [[ -z $qid ]]; then problem "sieve: $what: no Received field of our Postfix: it did not come through Postfix"; return 1; fi
  pf_log_status "$qid" "$rcpt" | grep -q ' status=sent ' ||
    { problem "sieve: $what: Postfix logged no status=sent for $qid to=<$rcpt>: $(pf_log_status "$qid" "$rcpt")"; return 1; }
  local id # lmtpd's delivery id, in Postfix's "saved as": the join when there is no XFORWARD
  id=$(pf_log_status "$qid" "$rcpt" | sed -n 's/.* saved as \([^ )]*\))$/\1/p')
  if grep ' msg=delivery ' "$C/maildeliver.log" | grep -F " queue_id=$qid " | grep -qiF " to=$rcpt "; then
    SIEVE_QIDS+=("$what=$qid")
  elif [[ -n $id ]] && pf_local_submission "$id" &&
    grep ' msg=delivery ' "$C/maildeliver.log" | grep -F " id=$id " | grep -qiF " to=$rcpt "; then
    SIEVE_QIDS+=("$what=$qid(sendmail;id=$id)")
  else
    problem "sieve: $what: maildeliver logged no delivery of $qid to $rcpt"; return 1
  fi
}

# verify_sieve: what Sieve did, read through Dovecot and the logs.
verify_sieve() {
  [[ $SIEVE == full ]] || return 0
  local hdr=$C/check/sieve-reply.hdr line flags n rp want_rp dt t0=$SECONDS
  mkdir -p "$C/check"
  SIEVE_QIDS=()

  # the filter's flag on the stored copy (the folder was checked by verify_combo)
  flags=$(dadm -f tab fetch -u "$U_SIEVE" flags mailbox Lists header X-E2E-Id "sieve-list.$RUN_ID" | tail -n +2)
  [[ " $flags " == *' \Flagged '* ]] || problem "sieve: sieve-list: flags in Lists are [$flags], want \\Flagged"

  # the vacation reply: at the sender's (U_MAIN), through Postfix, from the null sender
  n=$(dc_replies "$U_MAIN" sieve-vacation | grep -c . || true)
  if ((n != 1)); then
    problem "sieve: sieve-vacation: $n replies at $U_MAIN, want exactly 1 (maildeliver: $(grep 'vacation' "$C/maildeliver.log" | tail -2 | tr '\n' ' '))"
  else
    dc_header_of "$U_MAIN" INBOX header In-Reply-To "<sieve-vacation.$RUN_ID@e2e.test>" >"$hdr"
    [[ $(head -1 "$hdr") == 'Return-Path: <>' ]] || problem "sieve: vacation reply: first header [$(head -1 "$hdr")], want Return-Path: <> (the null sender)"
    hdr_values "$hdr" Auto-Submitted | grep -q '^auto-replied' ||
      problem "sieve: vacation reply: Auto-Submitted [$(hdr_values "$hdr" Auto-Submitted)], want auto-replied"
    hdr_values "$hdr" From | grep -qiF "$U_SIEVE" || problem "sieve: vacation reply: From [$(hdr_values "$hdr" From)], want $U_SIEVE"
    hdr_values "$hdr" Subject | grep -qF 'Out of office' || problem "sieve: vacation reply: Subject [$(hdr_values "$hdr" Subject)]"
    dt=$(hdr_values "$hdr" Delivered-To | tr '[:upper:]' '[:lower:]' | tr -d '<>')
    [[ $dt == "$U_MAIN" ]] || problem "sieve: vacation reply: Delivered-To [$dt], want $U_MAIN"
    check_through_postfix vacation-reply "$(postfix_qid_of "$hdr")" "$U_MAIN"
    grep -q ' from=<>, ' <(grep -F " $(postfix_qid_of "$hdr"): from=" "$PF_LOG") ||
      problem "sieve: vacation reply: Postfix did not log it from=<>"
  fi
  line=$(md_delivery_line sieve-vacation "$U_SIEVE")
  grep 'sieve: vacation reply sent' "$C/maildeliver.log" | grep -qF " id=$(md_field id "$line") " ||
    problem "sieve: sieve-vacation: maildeliver logged no 'vacation reply sent' for delivery $(md_field id "$line")"
  # no second reply to the same sender, none to list or bulk mail
  local c s
  for c in sieve-vacation2:"$U_MAIN" sieve-list:"$U_OTHER" sieve-bulk:"$U_SAME"; do
    s=${c#*:} c=${c%%:*}
    n=$(dc_replies "$s" "$c" | grep -c . || true)
    ((n == 0)) || problem "sieve: $c: $n vacation replies at $s, want none"
    line=$(md_delivery_line "$c" "$U_SIEVE")
    grep 'sieve: vacation reply not sent' "$C/maildeliver.log" | grep -qF " id=$(md_field id "$line") " ||
      problem "sieve: $c: maildeliver logged no 'vacation reply not sent' for delivery $(md_field id "$line")"
  done
  n=$(dadm -f tab fetch -u "$U_MAIN" mailbox header Auto-Submitted auto-replied | tail -n +2 | grep -c . || true)
  ((n == 1)) || problem "sieve: $U_MAIN has $n auto-replies, want 1"

  # the redirect: nothing kept for U_REDIR, one copy at U_REDIR_TARGET through Postfix, with
  # the envelope sender redirect_envelope_from names
  [[ -z $(dc_where "$U_REDIR" "sieve-redirect.$RUN_ID") ]] || problem "sieve: sieve-redirect: $U_REDIR kept a copy (redirect cancels the implicit keep)"
  n=$(dc_where "$U_REDIR_TARGET" "sieve-redirect.$RUN_ID" | grep -c . || true)
  if ((n != 1)) || [[ $(dc_where "$U_REDIR_TARGET" "sieve-redirect.$RUN_ID") != INBOX ]]; then
    problem "sieve: sieve-redirect: at $U_REDIR_TARGET in [$(dc_where "$U_REDIR_TARGET" "sieve-redirect.$RUN_ID" | tr '\n' ' ')], want once in INBOX"
  else
    hdr=$C/check/sieve-redirect.hdr
    dc_hdr_body "$U_REDIR_TARGET" INBOX "sieve-redirect.$RUN_ID" "$hdr" "$C/check/sieve-redirect.body" ||
      problem "sieve: redirected copy: doveadm fetch hdr body failed"
    [[ $(sha256sum <"$C/check/sieve-redirect.body" | cut -d' ' -f1) == "$(body_sha "$C/msgs/sieve-redirect.eml")" ]] ||
      problem "sieve: redirected copy: the body differs from what was sent"
    case $SIEVE_REDIRECT_FROM in
    recipient) want_rp="Return-Path: <$U_REDIR>" ;;
    sender) want_rp="Return-Path: <$SENDER>" ;;
    *) die "verify_sieve: no expectation for redirect_envelope_from = $SIEVE_REDIRECT_FROM" ;;
    esac
    [[ $(head -1 "$hdr") == "$want_rp" ]] ||
      problem "sieve: redirected copy: first header [$(head -1 "$hdr")], want [$want_rp] (redirect_envelope_from = $SIEVE_REDIRECT_FROM)"
    rp=$(grep -ci '^Return-Path:' "$hdr" || true)
    ((rp == 1)) || problem "sieve: redirected copy: $rp Return-Path fields, want 1"
    # the target's Delivered-To on top, then the redirecting user's (our loop protection)
    dt=$(hdr_values "$hdr" Delivered-To | tr '[:upper:]' '[:lower:]' | tr -d '<>' | paste -sd' ')
    [[ $dt == "$U_REDIR_TARGET $U_REDIR" ]] || problem "sieve: redirected copy: Delivered-To [$dt], want [$U_REDIR_TARGET $U_REDIR]"
    [[ $(hdr_values "$hdr" X-Maildeliver-Redirected-By) == "$U_REDIR" ]] ||
      problem "sieve: redirected copy: X-Maildeliver-Redirected-By [$(hdr_values "$hdr" X-Maildeliver-Redirected-By)], want $U_REDIR"
    check_through_postfix redirect "$(postfix_qid_of "$hdr")" "$U_REDIR_TARGET"
  fi

  # a script that does not compile: the mail is in INBOX (verify_combo), the line says so
  line=$(md_delivery_line sieve-broken "$U_BROKEN")
  [[ $line == *' sieve=error'* ]] || problem "sieve: sieve-broken: the delivery line has no sieve=error: ${line:-none}"
  log "  sieve checked ($((SECONDS - t0))s); through Postfix: ${SIEVE_QIDS[*]:-nothing}"
}

# md_field KEY LINE: the value of KEY= in a logfmt line.
md_field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
