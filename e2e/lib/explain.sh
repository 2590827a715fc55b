# shellcheck shell=bash
# deliver -explain against the real stack: before each message is injected, every one of
# its recipients is explained (as the user that will deliver it: the pipe(8) service's
# user on the pipe route, root for lmtpd), with the message Postfix will hand over; after
# the run, each prediction must match what Postfix then logged for that recipient (sent,
# bounced or deferred with the same enhanced code, rejected at RCPT with it) or the exit
# code of a delivery by hand. Predictions: $C/explain.txt (case|rcpt|exit|dsn) and the
# full output in $C/explain/.

# pipe_user RCPT: the user pipe(8) runs deliver as for RCPT (Postfix's transport_maps,
# by address then domain, else virtual_transport; then PIPE_SERVICES); "" if none.
pipe_user() {
  local rcpt=${1,,} maps svc="" key s
  maps=$(postconf -c "$PF_CONF" -h transport_maps)
  if [[ -n $maps ]]; then
    for key in "$rcpt" "${rcpt#*@}"; do
      svc=$(postmap -c "$PF_CONF" -q "$key" "${maps%%[, ]*}" 2>/dev/null | head -1) || true
      [[ -n $svc ]] && break
    done
  fi
  [[ -n $svc ]] || svc=$(postconf -c "$PF_CONF" -h virtual_transport)
  for s in "${PIPE_SERVICES[@]}"; do
    [[ ${s%%:*} == "${svc%%:*}" ]] && { echo "${s##*:}"; return 0; }
  done
  echo ""
}

# explain_rcpts CASE RCPTS(comma-separated) MSG [direct]: predict each recipient's outcome
# (direct: a delivery by hand, as root, of MSG as it is).
explain_rcpts() {
  local case=$1 rcpts=$2 msg=$3 direct=${4:-} rcpt n=0 out rc user dsn
  local -a list as
  [[ $AGENT == ours ]] || return 0
  mkdir -p "$C/explain"
  # Postfix puts its Received field on top of what it was sent: so must the prediction (a
  # Delivered-To right at the top would be taken for the one Postfix's D flag prepends)
  if [[ -n $direct ]]; then
    cp "$msg" "$C/explain/$case.eml"
  else
    { printf 'Received: from client.e2e.test by %s (what Postfix prepends)\n' "$MD_HOSTNAME"; cat "$msg"; } >"$C/explain/$case.eml"
  fi
  IFS=, read -r -a list <<<"$rcpts"
  for rcpt in "${list[@]}"; do
    n=$((n + 1)) out=$C/explain/$case-$n.txt rc=0 as=()
    if [[ $ROUTE == pipe && -z $direct ]]; then
      user=$(pipe_user "$rcpt")
      [[ -n $user ]] && as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups)
    fi
    "${as[@]}" "$DELIVER" -c "$MD_CONF" -p "$C/explain/$case.eml" -explain "$rcpt" >"$out" 2>&1 || rc=$?
    dsn=$(sed -n 's/^result: [0-9]* \([0-9.]*\) .*/\1/p' "$out")
    printf '%s|%s|%s|%s\n' "$case" "$rcpt" "$rc" "$dsn" >>"$C/explain.txt"
  done
}

# explain_record CASE RCPT: the prediction for RCPT (any case) in CASE, else the case's
# only one (an alias: Postfix hands over the target, -explain was asked the alias).
explain_record() {
  local rec
  rec=$(awk -F'|' -v c="$1" -v r="${2,,}" '$1 == c && tolower($2) == r' "$C/explain.txt")
  [[ -n $rec ]] || rec=$(awk -F'|' -v c="$1" '$1 == c' "$C/explain.txt")
  [[ $(grep -c . <<<"$rec") == 1 ]] && echo "$rec"
}

# verify_explain: every planned recipient's prediction against what happened.
verify_explain() {
  local case outcome rcpt folder rec x_exit x_dsn qid line status dsn ok
  [[ $AGENT == ours ]] || return 0
  N_EXPLAINED=0
  while IFS='|' read -r case outcome rcpt _ folder; do
    if ! rec=$(explain_record "$case" "$rcpt"); then
      problem "$case: no single deliver -explain prediction for $rcpt"; continue
    fi
    IFS='|' read -r _ _ x_exit x_dsn <<<"$rec"
    case $outcome in
    reject) status=rejected dsn=${folder#* } ;;
    direct) status=direct dsn=$(cat "$C/$case.rc") ;;
    *)
      qid=$(inject_qid "$case")
      [[ $qid == - ]] && continue
      line=$(pf_log_status "$qid" "$rcpt")
      status=$(sed -n 's/.* status=\([a-z]*\).*/\1/p' <<<"$line")
      dsn=$(sed -n 's/.* dsn=\([0-9.]*\),.*/\1/p' <<<"$line")
      ;;
    esac
    case $status in
    sent) [[ $x_exit == 0 ]] && ok=0 || ok=1 ;;
    bounced) [[ $x_exit != 0 && $x_exit != 75 && $x_dsn == "$dsn" ]] && ok=0 || ok=1 ;;
    rejected) # at RCPT (quota policy): 5.x.x as a bounce, 4.x.x (full = "defer") as a deferral
      if [[ $dsn == 4.* ]]; then
        [[ $x_exit == 75 && $x_dsn == "$dsn" ]] && ok=0 || ok=1
      else
        [[ $x_exit != 0 && $x_exit != 75 && $x_dsn == "$dsn" ]] && ok=0 || ok=1
      fi ;;
    deferred) [[ $x_exit == 75 && $x_dsn == "$dsn" ]] && ok=0 || ok=1 ;;
    direct) [[ $x_exit == "$dsn" ]] && ok=0 || ok=1 ;;
    *) continue ;; # nothing logged: verify_combo reports it
    esac
    if ((ok)); then
      problem "$case: deliver -explain $rcpt predicted exit $x_exit ${x_dsn:-?}, then: $status ${dsn:-?} (see explain/$case-*.txt)"
    else
      N_EXPLAINED=$((N_EXPLAINED + 1))
    fi
  done <"$C/plan.txt"
  log "  deliver -explain agreed with the outcome for $N_EXPLAINED recipients"
}
