# shellcheck shell=bash
# Verification: Postfix's log says what happened to each recipient; Dovecot (doveadm)
# must find every delivered message in the right folder, with one Return-Path equal to
# the envelope sender, one Delivered-To for the recipient and the body byte for byte.
# Our files are never read directly.

# problem TEXT: record a failed check of the current combo.
problem() { printf '%s\n' "$*" >>"$C/problems.txt"; log "  FAIL: $*"; }

# unfold: RFC 5322 header unfolding (continuation lines joined to their header).
unfold() { awk 'NR > 1 && /^[ \t]/ { sub(/^[ \t]+/, " "); printf "%s", $0; next } NR > 1 { print "" } { printf "%s", $0 } END { print "" }'; }

# check_delivered CASE RCPT USER FOLDER FROM MSG: Dovecot's view of one delivery.
check_delivered() {
  local case=$1 rcpt=$2 user=$3 folder=$4 from=$5 msg=$6
  local id=$case.$RUN_ID mbox where n hdr=$C/check/$case-$user.hdr body=$C/check/$case-$user.body
  mkdir -p "$C/check"
  mbox=$(dc_mailbox "$folder")
  where=$(dc_where "$user" "$id") || { problem "$case/$user: doveadm fetch failed (see doveadm.err)"; return 1; }
  n=$(grep -c . <<<"$where" || true)
  if ((n == 0)); then
    problem "$case: Dovecot finds no message for $user ($([[ $outcome == direct ]] && echo "delivery by hand exited 0" || echo "Postfix said sent"))"
    return 1
  fi
  if ((n > 1)) || [[ $where != "$mbox" ]]; then
    problem "$case: for $user Dovecot finds it in [$(tr '\n' ' ' <<<"$where")], want exactly once in $mbox"; return 1
  fi
  dc_hdr_body "$user" "$mbox" "$id" "$hdr" "$body" || { problem "$case/$user: doveadm fetch hdr body failed"; return 1; }
  local ok=0 first rp dt want_rp
  from=${from#<} from=${from%>}
  want_rp="Return-Path: <$from>"
  first=$(head -1 "$hdr")
  rp=$(grep -ci '^Return-Path:' "$hdr" || true)
  # Delivered-To values, normalised: no <>, no blanks, lower case
  dt=$(unfold <"$hdr" | sed -n 's/^[Dd][Ee][Ll][Ii][Vv][Ee][Rr][Ee][Dd]-[Tt][Oo]:[ \t]*//p' | tr -d '<> \t\r' | tr '[:upper:]' '[:lower:]')
  if [[ $AGENT == dovecot && $outcome == direct ]]; then
    : # self-test: dovecot-lda adds no Return-Path of its own (Postfix's R flag does)
  else
    if [[ $first != "$want_rp" ]]; then problem "$case/$user: first header is [$first], want [$want_rp]"; ok=1; fi
    if ((rp != 1)); then problem "$case/$user: $rp Return-Path headers, want exactly 1"; ok=1; fi
  fi
  if [[ $AGENT == dovecot && ( $outcome == any || $outcome == direct || ( $ROUTE == lmtp && -z $dt ) ) ]]; then
    : # self-test: Dovecot's LMTP adds no Delivered-To with several recipients, dovecot-lda none
    : # of its own (Postfix's D flag does); loops are delivered
  elif [[ $dt != "${rcpt,,}" ]]; then
    problem "$case/$user: Delivered-To headers [$(tr '\n' ' ' <<<"$dt")], want exactly one for $rcpt"; ok=1
  fi
  if [[ $ROUTE == lmtp && $AGENT == ours ]] && ! unfold <"$hdr" | grep -qiE '^Received: .*with LMTP'; then
    problem "$case/$user: no Received: ... with LMTP header from lmtpd"; ok=1
  fi
  local got want
  got=$(sha256sum <"$body" | cut -d' ' -f1) want=$(body_sha "$msg")
  if [[ $got != "$want" ]]; then
    problem "$case/$user: body differs from what was sent ($(stat -c %s "$body") bytes fetched, $(sed '1,/^$/d' "$msg" | wc -c) sent)"
    ok=1
  fi
  return $ok
}

# check_mailbox_health USER: force-resync reports no error; quota usage equals the sum of
# the message sizes Dovecot sees (so maildirsize and the ,S= sizes agree with the files).
check_mailbox_health() {
  local user=$1 sum kb used limit
  local mb
  while IFS= read -r mb; do
    dadm force-resync -u "$user" "$mb" || problem "doveadm force-resync -u $user $mb failed"
  done < <(dadm mailbox list -u "$user")
  sum=$(dadm -f tab fetch -u "$user" size.physical all | tail -n +2 | awk '{ s += $1 } END { print s + 0 }')
  read -r used limit < <(dadm -f tab quota get -u "$user" | awk -F'\t' '$2 == "STORAGE" { print $3, $4 }')
  kb=$(((sum + 1023) / 1024)) # doveadm quota get rounds up to whole KiB
  if [[ -z ${used:-} ]]; then
    problem "doveadm quota get -u $user: no STORAGE line"
  elif ((used != kb)); then
    problem "quota of $user: Dovecot reports ${used} KiB used, messages add up to $kb KiB ($sum bytes)"
  fi
  printf '%s\t%s\t%s\t%s\n' "$user" "$sum" "${used:-?}" "${limit:-?}" >>"$C/quota.tsv"
}

# rejected_only QID RCPT CODE: the RCPT-time refusal of RCPT is final. Nothing queued
# (QID "-"), or Postfix logged "reject: RCPT ... CODE ... to=<RCPT>" and QID has no status
# for RCPT and no non-delivery notification (no bounce generated).
rejected_only() {
  local qid=$1 rcpt=$2 code=$3
  [[ $qid == - ]] && return 0
  grep -E "reject: RCPT from .*: ${code} .*to=<${rcpt}>" "$PF_LOG" | grep -q . || return 1
  [[ -z $(pf_log_status "$qid" "$rcpt") ]] || return 1
  ! grep -qF "$qid: sender non-delivery notification" "$PF_LOG"
}

# verify_combo: walk the plan, count, and check.
verify_combo() {
  local case outcome rcpt user folder qid from rcpts line status dsn
  N_INJECTED=$(grep -c . "$C/inject.txt" || true)
  N_ACCEPTED=0 N_FOUND=0 N_BOUNCED=0 N_DEFERRED=0 N_LOST=0 N_REJECTED=0
  : >"$C/quota.tsv"
  while IFS='|' read -r case outcome rcpt user folder; do
    IFS='|' read -r _ qid from rcpts < <(grep -F "$case|" "$C/inject.txt" | grep "^$case|")
    if [[ $outcome == reject ]]; then
      # refused at RCPT time: the transcript shows the code; nothing queued, or (a message
      # with other recipients) Postfix logged the refusal and never delivered or bounced RCPT
      if grep -qE "^<\*\* +${folder// /[ -]}" "$C/smtp/$case.txt" && rejected_only "$qid" "$rcpt" "$folder"; then
        N_REJECTED=$((N_REJECTED + 1))
      else
        problem "$case: want RCPT <$rcpt> rejected with $folder, and no delivery or bounce for it; SMTP said: $(grep -E '^<\*\*|queued as' "$C/smtp/$case.txt" | head -3 | tr '\n' ' ')"
      fi
      continue
    fi
    if [[ $outcome == direct ]]; then # run by hand, not through Postfix (run.sh direct_mixedcase)
      if [[ $(cat "$C/$case.rc") != 0 ]]; then
        problem "$case: delivery by hand to $rcpt exited $(cat "$C/$case.rc"): $(head -1 "$C/$case.out")"
      elif check_delivered "$case" "$rcpt" "$user" "$folder" "$from" "$C/msgs/$case.eml"; then
        N_FOUND=$((N_FOUND + 1))
      fi
      continue
    fi
    if [[ $qid == - ]]; then
      problem "$case: Postfix did not accept the message: $(grep -E '^<\*\*|^<- [45]' "$C/smtp/$case.txt" | head -3 | tr '\n' ' ')"
      [[ $outcome == deliver ]] && N_LOST=$((N_LOST + 1))
      continue
    fi
    N_ACCEPTED=$((N_ACCEPTED + 1))
    line=$(pf_log_status "$qid" "$rcpt")
    status=$(sed -n 's/.* status=\([a-z]*\).*/\1/p' <<<"$line")
    dsn=$(sed -n 's/.* dsn=\([0-9.]*\),.*/\1/p' <<<"$line")
    [[ $status == deferred ]] && N_DEFERRED=$((N_DEFERRED + 1))
    case $outcome in
    deliver | any)
      if [[ $status == sent ]]; then
        if check_delivered "$case" "$rcpt" "$user" "$folder" "$from" "$C/msgs/$case.eml"; then
          N_FOUND=$((N_FOUND + 1))
        elif [[ -z $(dc_where "$user" "$case.$RUN_ID") ]]; then
          N_LOST=$((N_LOST + 1))
        fi
      elif [[ $outcome == deliver ]]; then
        problem "$case: want delivery to $rcpt, Postfix logged: ${line:-nothing}"
        [[ $status == bounced ]] || [[ $status == deferred ]] || N_LOST=$((N_LOST + 1))
      fi
      ;;
    sent) # delivered by maildeliver, nothing stored for RCPT (a Sieve redirect: lib/sieve.sh)
      [[ $status == sent ]] || problem "$case: want status=sent for $rcpt, Postfix logged: ${line:-nothing}"
      ;;
    bounce | defer)
      local want=bounced; [[ $outcome == defer ]] && want=deferred
      # shellcheck disable=SC2053 # the expected code is a glob
      if [[ $status == "$want" && $dsn == $folder ]]; then
        [[ $outcome == bounce ]] && N_BOUNCED=$((N_BOUNCED + 1))
        # a deferred message must still be in Postfix's deferred queue (the queue keeps the
        # reason text; the enhanced code is in the log line checked above)
        if [[ $outcome == defer ]] && ! postqueue -c "$PF_CONF" -j | grep -F "\"queue_id\": \"$qid\"" |
          grep '"queue_name": *"deferred"' | grep -q '"delay_reason": *"[^"]'; then
          problem "$case: deferred per the log, but not in the deferred queue: $(postqueue -c "$PF_CONF" -p | tail -n +2 | tr -s ' \n' ' ')"
        fi
      else
        problem "$case: want status=$want dsn=$folder for $rcpt, Postfix logged: ${line:-nothing}"
      fi
      # and nothing may have been stored
      if [[ -n $(dc_where "$rcpt" "$case.$RUN_ID") ]]; then
        problem "$case: was refused ($status) but Dovecot finds a copy"
      fi
      ;;
    esac
  done <"$C/plan.txt"

  [[ $AGENT == ours ]] && check_queue_ids

  local u
  while IFS= read -r u; do
    check_mailbox_health "$u"
  done < <(awk -F'|' '$2 == "deliver" || $2 == "direct" { print $4 }' "$C/plan.txt" | sort -u)

  # Dovecot must not have complained about anything it read
  local errs
  errs=$(cat "$DC_LOG" "$C/dovecot/doveadm.err" 2>/dev/null |
    grep -E 'Error:|Panic:|Fatal:|[Ww]arning:.*(size|S=|maildirsize|uidlist)|wrong S=|Broken|[Cc]orrupt' || true)
  if [[ $AGENT == dovecot && $ROUTE == pipe && -n ${U_MISROUTED:-} ]]; then
    # self-test: the wronguid case is dovecot-lda, as uid 1001, asking auth for a 1002 mailbox
    # (auth refuses, lda exits 75): the expected deferral, logged by Dovecot as errors
    errs=$(grep -vE "doesn't match peer uid|lookup\\(${U_MISROUTED}\\)|^[A-Z][a-z]{2} [0-9 :]+ lda\\([0-9]+\\): Fatal: Internal error occurred" <<<"$errs" || true)
  fi
  [[ -z $errs ]] || problem "Dovecot complained:"$'\n'"$(head -20 <<<"$errs")"
  # nor Postfix about its configuration or a delivery agent
  # (cleanup's clock-skew warnings come from this VM's clock, not from us)
  errs=$(grep -E 'warning:|fatal:|panic:|error:' "$PF_LOG" | grep -vE 'status=(bounced|deferred)' |
    grep -vE 'file system clock is [0-9]+ seconds? ahead|resetting file time stamps' || true)
  [[ -z $errs ]] || problem "Postfix logged warnings:"$'\n'"$(head -20 <<<"$errs")"
}

# check_queue_ids: Postfix's queue id joins its log to ours (deliver -q ${queue_id}; lmtpd
# from XFORWARD IDENT). Every "delivery" line maildeliver logged carries the queue id under
# which Postfix logged that recipient, and every recipient the plan routes to maildeliver
# (delivered, bounced or deferred by it) has such a line.
check_queue_ids() {
  local log=$C/maildeliver.log line qid to n=0 case outcome rcpt
  if [[ ! -f $log ]] || [[ $MD_LOG_TARGET != file:$log ]]; then
    echo "$SETUP/$ROUTE: queue ids not compared (maildeliver logs to $MD_LOG_TARGET)" >>"$T/notes.txt"
    return 0
  fi
  while IFS= read -r line; do
    n=$((n + 1))
    qid=$(sed -n 's/.* queue_id=\([0-9A-Za-z]*\) .*/\1/p' <<<"$line")
    to=$(sed -n 's/.* to=\([^ ]*\) .*/\1/p' <<<"$line") to=${to#\"} to=${to%\"}
    # direct_mixedcase is an administrator's redelivery at a shell: no Postfix, no -q
    [[ $line == *" msgid=<direct-mixedcase.$RUN_ID@"* ]] && continue
    if [[ -z $qid ]] && [[ $ROUTE == lmtp ]] && pf_local_submission "$(sed -n 's/.* id=\([^ ]*\) .*/\1/p' <<<"$line")"; then
      : # mail submitted with sendmail (a Sieve reply): Postfix's lmtp sends no XFORWARD for it
    elif [[ -z $qid ]]; then
      problem "queue id: maildeliver logged a delivery without queue_id=: $line"
    elif ! grep -qiF " $qid: to=<$to>" "$PF_LOG"; then
      problem "queue id: maildeliver logged queue_id=$qid to=$to, Postfix logged no such recipient under $qid"
    fi
  done < <(grep ' msg=delivery ' "$log" | grep -v ' msgid=<direct-') # by hand (direct-*): no queue
  while IFS='|' read -r case outcome rcpt _; do
    [[ $outcome == deliver || $outcome == sent || $outcome == bounce || $outcome == defer ]] || continue
    qid=$(inject_qid "$case")
    [[ $qid == - ]] && continue
    # pipe(8)'s D flag finds this loop itself ("mail forwarding loop for") and never runs deliver
    [[ $ROUTE == pipe ]] && pf_log_status "$qid" "$rcpt" | grep -q 'mail forwarding loop for' && continue
    grep ' msg=delivery ' "$log" | grep -F " queue_id=$qid " | grep -qiF " to=$rcpt " ||
      problem "queue id: $case: Postfix queued $rcpt as $qid, maildeliver logged no delivery line with queue_id=$qid to=$rcpt"
  done <"$C/plan.txt"
  ((n > 0)) || problem "queue id: maildeliver logged no delivery lines"
}

# pf_local_submission ID: Postfix's lmtp logged "saved as ID" (lmtpd's delivery id) for a
# message that came in through sendmail (pickup logged its uid=). Postfix sends XFORWARD
# only with client attributes, which such mail has none of (smtp_proto.c): lmtpd cannot
# learn its queue id, and the delivery id is the join.
pf_local_submission() {
  local qid
  [[ -n $1 ]] || return 1
  qid=$(grep -F " saved as $1)" "$PF_LOG" | sed -n 's/.*\]: \([0-9A-Za-z]*\): to=.*/\1/p' | head -1)
  [[ -n $qid ]] && grep -qE "postfix/pickup\[[0-9]+\]: $qid: uid=" "$PF_LOG"
}

# check_metrics (lmtp route): after the load, lmtpd's /metrics, parsed by tools/promcheck
# with Prometheus's text parser, counts exactly the delivery lines lmtpd logged, by result
# and code, and their bytes; and its deliveries equal Postfix's status=sent for lmtpd.
check_metrics() {
  local got want log=$C/maildeliver.log sent bytes have_bytes have_sent
  if [[ " ${BUILD_ERR[*]} " == *" promcheck "* ]]; then problem "metrics: tools/promcheck is not built"; return 0; fi
  if ! got=$("$T/bin/promcheck" "http://127.0.0.1:$MD_METRICS_PORT/metrics" 2>&1); then
    problem "metrics: $got"; return 0
  fi
  printf '%s\n' "$got" >"$C/metrics.txt"
  want=$(grep ' msg=delivery ' "$log" | sed -n 's/.* result=\([a-z]*\) code=\([0-9.]*\).*/maildeliver_deliveries_total{code="\2",result="\1"}/p' |
    sort | uniq -c | awk '{ print $2, $1 }' | sort)
  got=$(grep '^maildeliver_deliveries_total{' "$C/metrics.txt" | sort)
  [[ -n $want && $got == "$want" ]] ||
    problem "metrics: deliveries_total is [$(tr '\n' ' ' <<<"$got")], the log says [$(tr '\n' ' ' <<<"$want")]"
  bytes=$(grep ' msg=delivery ' "$log" | grep ' result=delivered ' | sed -n 's/.* size=\([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
  have_bytes=$(sed -n 's/^maildeliver_delivered_bytes_total \([0-9]*\)$/\1/p' "$C/metrics.txt")
  [[ $have_bytes == "$bytes" ]] || problem "metrics: delivered_bytes_total ${have_bytes:-missing}, the log's sizes add up to $bytes"
  sent=$(grep -c 'status=sent (250 2.0.0 <[^>]*> saved as ' "$PF_LOG" || true)
  # a 250 is a delivery or a discard (Sieve stored nothing: a redirect, discard)
  have_sent=$(sed -n 's/^maildeliver_deliveries_total{code="2.0.0",result="\(delivered\|discarded\)"} \([0-9]*\)$/\2/p' "$C/metrics.txt" |
    awk '{ s += $1 } END { if (NR) print s }')
  [[ $have_sent == "$sent" ]] || problem "metrics: ${have_sent:-no} deliveries and discards counted, Postfix logged $sent status=sent from lmtpd"
}

summarize_combo() {
  local secs=$1 nprob
  nprob=$(grep -c '^[^ ]' "$C/problems.txt" || true)
  ((nprob == 0)) || FAILED=1
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROUTE" "$SETUP" "${N_INJECTED:-0}" "${N_ACCEPTED:-0}" \
    "${N_FOUND:-0}" "${N_BOUNCED:-0}" "${N_REJECTED:-0}" "${N_DEFERRED:-0}" "${N_LOST:-0}" "$nprob" "${secs}s" >>"$T/summary.tsv"
  N_INJECTED=0 N_ACCEPTED=0 N_FOUND=0 N_BOUNCED=0 N_REJECTED=0 N_DEFERRED=0 N_LOST=0
}

print_summary() {
  {
    echo
    echo "maildeliver end-to-end (agent: $AGENT; Postfix $(postconf -d -h mail_version 2>/dev/null || echo ?), Dovecot $(dovecot --version | cut -d' ' -f1))"
    printf '%-5s %-7s %8s %8s %7s %8s %8s %8s %5s %7s %6s\n' route setup injected accepted found bounced rejected deferred lost checks time
    printf '%-5s %-7s %8s %8s %7s %8s %8s %8s %5s %7s %6s\n' ----- ------- -------- -------- ------- -------- -------- -------- ----- ------- ------
    sort -s -k1,1r "$T/summary.tsv" | while IFS=$'\t' read -r r s i a f b rj d l p t; do
      printf '%-5s %-7s %8s %8s %7s %8s %8s %8s %5s %7s %6s\n' "$r" "$s" "$i" "$a" "$f" "$b" "$rj" "$d" "$l" \
        "$([[ $p == 0 ]] && echo ok || echo "$p FAIL")" "$t"
    done
    echo "  injected: messages sent to Postfix's SMTP port; accepted: recipients Postfix queued;"
    echo "  found: deliveries Dovecot finds, in the right folder, with the right headers and body;"
    echo "  bounced/deferred: with the expected enhanced code in Postfix's log; rejected: at RCPT (550 5.1.1;"
    echo "  on the lmtp route also 552 5.2.2 / 452 4.2.2 from lmtpd's quota policy service);"
    echo "  lost: accepted, never bounced or deferred, and not found (must be 0)."
    [[ -s $T/notes.txt ]] && sed 's/^/  note: /' "$T/notes.txt"
    # one line CI runners read: combinations (setup x route) that passed and failed
    awk -F'\t' '{ if ($10 == 0) p++; else f++ } END { printf "e2e: %d passed, %d failed\n", p, f }' "$T/summary.tsv"
    local c
    for c in "$T"/*-pipe "$T"/*-lmtp; do
      [[ -s $c/problems.txt ]] || continue
      echo; echo "problems in $(basename "$c"):"; sed 's/^/  /' "$c/problems.txt"
    done
  } >&2
}

DUMPED=0
dump_logs() {
  ((DUMPED)) && return 0
  DUMPED=1
  local c f
  {
    for f in "$T"/build-*.log; do [[ -s $f ]] && { echo "==== $f"; cat "$f"; }; done
    for c in "$T"/*-pipe "$T"/*-lmtp; do
      # only the combinations that failed (or the one that was running when the run died)
      [[ -s $c/problems.txt || $c == "${C:-}" ]] || continue
      for f in "$c/postfix.log" "$c/postfix-check.log" "$c/dovecot/dovecot.log" "$c/dovecot/doveadm.err" \
        "$c/dovecot/start.log" "$c/lmtpd.log" "$c/maildeliver.log"; do
        [[ -s $f ]] || continue
        echo "==== $f (last 300 lines)"; tail -n 300 "$f"
      done
      for f in "$c"/smtp/*.txt; do
        [[ -s $f ]] && grep -qE '^<\*\*|^<- [45]' "$f" && { echo "==== $f"; grep -vE '^ *[A-Za-z0-9+/=]{60,}$' "$f" | tail -40; }
      done
    done
  } >&2
}
