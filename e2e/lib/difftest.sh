# shellcheck shell=bash
# The differential suite (diff.sh): its cases, both delivering sides, what is compared.
# One private Dovecot per setup (lib/dovecot.sh) answers userdb lookups for dovecot-lda,
# the standalone lmtp and doveadm; maildeliver's deliver and lmtpd read the setup's TOML
# with the case's location. Everything of one row lives under $K = $T/<setup>/<case>-<route>.

ALL_CASES=(plain mixedcase mixedcase-detail lowervars detail detail-utf8 detail-dot layoutfs layoutfs-dot inbox utf8 combined)
DOVECOT_LDA=/usr/lib/dovecot/dovecot-lda
DOVECOT_LMTP=/usr/lib/dovecot/lmtp

# diff_setup_up: the setup's Dovecot, configured as the oracle (conf/dovecot/difftest.conf),
# started; LOC_BASE is the setup's own mail_location, LOC_LOWER the same with %Ld/%Ln,
# INBOX_PATH where the INBOX= cases put INBOX. The mail root is $C/mail for both sides
# (their SQL user_query names it), moved aside after each side's deliveries.
diff_setup_up() {
  C=$T/$SETUP ROUTE=diff MAILROOT=$T/$SETUP/mail
  mkdir -p "$C"; chmod 0755 "$C"
  dc_configure
  render "$E2E/conf/dovecot/difftest.conf" "$C/dovecot/difftest.conf"
  chmod 0644 "$C/dovecot/difftest.conf"
  printf '!include %s\n' "$C/dovecot/difftest.conf" >>"$DC_CONF"
  chmod 0666 "$DC_LOG" "$DC_INFO_LOG" # dovecot-lda and lmtp log as the mailbox uid
  dc_start
  LOC_BASE=$(doveconf -c "$DC_CONF" -h mail_location)
  case $SETUP in
  pg | sqlite) # uid per domain: home/<domain> is the only directory the mailbox uid may write in
    LOC_LOWER="maildir:$MAILROOT/home/%Ld/lv/%Ln/Maildir" INBOX_PATH="~/Inbox" ;;
  my002) LOC_LOWER="maildir:$MAILROOT/home/vmail/%Ld/%Ln/Maildir" INBOX_PATH="$MAILROOT/home/vmail/%d/%n/Inbox" ;;
  my004) LOC_LOWER="maildir:$MAILROOT/var/spool/vmail/%Ld/%Ln" INBOX_PATH="$MAILROOT/var/spool/vmail/inbox/%u" ;;
  esac
}

# case_plan CASE: sets CASE_LOC (the location both sides get), RCPT[i] (the recipient as
# typed), FOLDER[i] (the folder Dovecot must put it in, "" = INBOX) and LMTP_NA (why the
# LMTP route cannot run this case, "" = it can).
case_plan() {
  local l=${U_MAIN%@*} d=${U_MAIN#*@} o=${U_OTHER%@*} od=${U_OTHER#*@}
  local L=${l^} D O=${o^} OD
  D=$(mixcase "x@$d") D=${D#*@} OD=$(mixcase "x@$od") OD=${OD#*@}
  CASE_LOC=$LOC_BASE RCPT=("$U_MAIN") FOLDER=("") LMTP_NA=""
  case $1 in
  plain) ;;
  mixedcase) RCPT=("$L@$D" "$O@$OD") FOLDER=("" "") ;;
  mixedcase-detail) RCPT=("$L@$D" "$L+Lists@$D") FOLDER=("" Lists) ;;
  lowervars) CASE_LOC=$LOC_LOWER RCPT=("$U_MAIN" "$U_OTHER") FOLDER=("" "") ;;
  detail) RCPT+=("$l+lists@$d") FOLDER+=(lists) ;;
  detail-utf8) RCPT+=("$l+Entwürfe@$d") FOLDER+=(Entwürfe) ;;
  # a dot in the detail is Maildir++'s hierarchy separator: folder a, subfolder b
  detail-dot) RCPT+=("$l+a.b@$d") FOLDER+=(a.b) ;;
  layoutfs) CASE_LOC+=:LAYOUT=fs RCPT+=("$l+lists@$d") FOLDER+=(lists) ;;
  layoutfs-dot) CASE_LOC+=:LAYOUT=fs RCPT+=("$l+a.b@$d") FOLDER+=(a.b) ;;
  inbox) CASE_LOC+=:INBOX=$INBOX_PATH RCPT+=("$l+lists@$d") FOLDER+=(lists) ;;
  # Dovecot 2.3 spells the option UTF-8 ("UTF8" is "Unknown setting")
  utf8) CASE_LOC+=:UTF-8 RCPT+=("$l+Entwürfe@$d") FOLDER+=(Entwürfe) ;;
  combined) CASE_LOC=$LOC_LOWER:LAYOUT=fs:UTF-8 RCPT=("$L@$D" "$L+Lists@$D" "$O@$OD") FOLDER=("" Lists "") ;;
  esac
  if [[ " ${RCPT[*]} " == *[![:ascii:]]* ]]; then
    LMTP_NA="Dovecot 2.3's LMTP refuses UTF-8 addresses (501 5.5.4) and offers no SMTPUTF8"
  fi
}

# canonical RCPT: the user Dovecot looks up for RCPT (detail removed, %Lu).
canonical() {
  local u=${1%@*} d=${1##*@}
  u=${u%%+*}
  printf '%s\n' "${u,,}@${d,,}"
}

# run_row CASE ROUTE: both sides, the comparison, one line in $T/rows.tsv.
run_row() {
  local case=$1 route=$2 i
  K=$C/$case-$route ROUTE=$route
  mkdir -p "$K/msgs"; chmod 0755 "$K"
  case_plan "$case"
  if [[ $route == lmtp && -n $LMTP_NA ]]; then
    add_row "$case" "-" "-" "n/a" "$LMTP_NA"
    return 0
  fi
  printf '!include %s\nmail_location = %s\n' "$DC_CONF" "$CASE_LOC" >"$K/dovecot.conf"
  PF_SPOOL=$K/spool MD_LOG_TARGET=file:$K/maildeliver.log
  install -d -m 0755 "$PF_SPOOL" "$PF_SPOOL/private"
  install -m 0666 /dev/null "$K/maildeliver.log"
  render "$E2E/conf/$SETUP/maildeliver.toml" - | sed "s|^location = .*|location = \"$CASE_LOC\"|" >"$K/maildeliver.toml"
  grep -qxF "location = \"$CASE_LOC\"" "$K/maildeliver.toml" || die "$SETUP maildeliver.toml has no [mail] location line to replace"
  chmod 0644 "$K/dovecot.conf" "$K/maildeliver.toml"
  for i in "${!RCPT[@]}"; do
    make_msg ascii "$case.$route.$i.$RUN_ID" "$SENDER" "${RCPT[i]}" >"$K/msgs/$i.eml"
  done
  run_side dovecot
  run_side ours
  compare_row "$case"
}

# run_side SIDE: a fresh mail root, every message of the case delivered by SIDE
# (dovecot | ours) on route $ROUTE, then what landed where, and the root moved to $K/SIDE-mail.
run_side() {
  local side=$1 i out
  rm -rf "$MAILROOT"
  mail_root_prepare
  : >"$K/$side.outcome"
  local ours_lmtpd=0
  [[ $side == ours && $ROUTE == lmtp && $DIFF_AGENT == ours ]] && ours_lmtpd=1
  if ((ours_lmtpd)) && ! diff_lmtpd_start; then
    for i in "${!RCPT[@]}"; do echo "lmtpd-did-not-start" >>"$K/$side.outcome"; done
  else
    for i in "${!RCPT[@]}"; do
      out=$(deliver_one "$side" "$i")
      echo "$out" >>"$K/$side.outcome"
    done
    ((ours_lmtpd)) && stop_pid "lmtpd-$SETUP" "$LMTPD_PID"
  fi
  snapshot "$side"
  mv "$MAILROOT" "$K/$side-mail"
}

# deliver_one SIDE I: deliver message I; prints "ok" or what refused it (exit code, reply).
deliver_one() {
  local side=$1 i=$2 rcpt=${RCPT[$2]} msg=$K/msgs/$2.eml rc=0 user det args
  # self-test of the harness: Dovecot on both sides, every row must agree
  [[ $DIFF_AGENT == dovecot ]] && side=dovecot
  case $side:$ROUTE in
  dovecot:pipe)
    # as Postfix's documented pipe(8) service: -d ${user}@${nexthop} -m ${extension}
    user=${rcpt%@*} det=""
    if [[ $user == *+* ]]; then det=${user#*+} user=${user%%+*}; fi
    args=(-c "$K/dovecot.conf" -d "$user@${rcpt##*@}" -f "$SENDER")
    [[ -n $det ]] && args+=(-m "$FOLDER_PREFIX$det")
    "$DOVECOT_LDA" "${args[@]}" <"$msg" >>"$K/dovecot-lda.out" 2>&1 || rc=$?
    ;;
  ours:pipe)
    "$DELIVER" -c "$K/maildeliver.toml" -f "$SENDER" -d "$rcpt" <"$msg" >>"$K/deliver.out" 2>&1 || rc=$?
    ;;
  dovecot:lmtp) lmtp_send "$rcpt" "$msg" "$K/smtp-$1-$i.txt" --pipe "$DOVECOT_LMTP -c $K/dovecot.conf 2>>$K/dovecot-lmtp.err"; return 0 ;;
  ours:lmtp) lmtp_send "$rcpt" "$msg" "$K/smtp-$side-$i.txt" --socket "$PF_SPOOL/private/maildeliver-lmtp"; return 0 ;;
  esac
  if ((rc == 0)); then echo ok; else echo "exit-$rc"; fi
}

# lmtp_send RCPT FILE TRANSCRIPT SWAKS_TARGET...: one LMTP transaction with swaks; prints
# "ok" or the first refusing reply (code and enhanced code).
lmtp_send() {
  local rcpt=$1 file=$2 out=$3 bad; shift 3
  head -c -1 "$file" >"$file.swaks" # swaks appends "\r\n.": see lib/inject.sh
  swaks --protocol LMTP "$@" --helo client.e2e.test --from "$SENDER" --to "$rcpt" \
    --data @"$file.swaks" --timeout 60 --suppress-data >"$out" 2>&1 || true
  rm -f "$file.swaks"
  bad=$(grep -m1 -E '^<\*\* +[0-9]{3}' "$out" | awk '{ print $2 "-" $3 }') || true
  if [[ -n $bad ]]; then echo "$bad"
  elif grep -qE '^<- +250 2\.0\.0' "$out"; then echo ok
  else echo "no-reply"; fi
}

diff_lmtpd_start() {
  local sock=$PF_SPOOL/private/maildeliver-lmtp
  rm -f "$sock"
  "$LMTPD" -c "$K/maildeliver.toml" </dev/null >"$K/lmtpd.log" 2>&1 &
  LMTPD_PID=$!
  E2E_PIDS+=("lmtpd-$SETUP:$LMTPD_PID")
  wait_until 20 "lmtpd socket $sock" lmtpd_ready "$sock" && return 0
  stop_pid "lmtpd-$SETUP" "$LMTPD_PID"
  return 1
}
lmtpd_ready() { [[ -S $1 ]] && return 0; alive "$LMTPD_PID" || return 2; return 1; }

# snapshot SIDE: what SIDE left in the mail root, in files compared between the sides:
#   SIDE.placed   per message: the directory (relative to the mail root) of its file under
#                 new/, or its refusal; SIDE.folders: every directory holding a new/;
#   SIDE.subs     per user, doveadm mailbox list -s; SIDE.mbox: per message, the mailbox
#                 doveadm fetch finds it in (what an IMAP client sees).
snapshot() {
  local side=$1 i f id dirs users u
  : >"$K/$side.placed"; : >"$K/$side.mbox"
  for i in "${!RCPT[@]}"; do
    id=$case.$ROUTE.$i.$RUN_ID
    dirs=$({ grep -rlF "X-E2E-Id: $id" "$MAILROOT" 2>/dev/null || true; } | grep '/new/[^/]*$' |
      while IFS= read -r f; do f=${f#"$MAILROOT"/}; echo "${f%/*}"; done | sort | paste -sd' ') || true
    printf '%s\t%s\n' "$i" "${dirs:-[$(sed -n "$((i + 1))p" "$K/$side.outcome")]}" >>"$K/$side.placed"
  done
  find "$MAILROOT" -type d -name new -printf '%h\n' | sed "s|^$MAILROOT|.|" | sort >"$K/$side.folders"
  users=$(for i in "${!RCPT[@]}"; do canonical "${RCPT[i]}"; done | sort -u)
  : >"$K/$side.subs"
  for u in $users; do
    kadm mailbox list -s -u "$u" | sort | sed "s|^|$u\t|" >>"$K/$side.subs" ||
      printf '%s\tdoveadm failed\n' "$u" >>"$K/$side.subs"
  done
  for i in "${!RCPT[@]}"; do
    u=$(canonical "${RCPT[i]}")
    printf '%s\t%s\n' "$i" "$(kadm -f tab fetch -u "$u" mailbox header X-E2E-Id "$case.$ROUTE.$i.$RUN_ID" |
      tail -n +2 | paste -sd' ')" >>"$K/$side.mbox"
  done
}

# kadm ARGS...: doveadm with the row's Dovecot configuration (its location), stderr kept.
kadm() { doveadm -c "$K/dovecot.conf" "$@" </dev/null 2>>"$K/doveadm.err"; }

# oracle_problems: why Dovecot's own side of the row is not a usable reference (empty: it is).
# Every message must be delivered, and doveadm must find it in the folder the case names.
oracle_problems() {
  local i want got
  for i in "${!RCPT[@]}"; do
    got=$(sed -n "$((i + 1))p" "$K/dovecot.outcome")
    [[ $got == ok ]] || { echo "Dovecot refused ${RCPT[i]}: $got"; continue; }
    want=$(dc_mailbox "${FOLDER[i]}")
    got=$(awk -F'\t' -v i="$i" '$1 == i { sub(/ $/, "", $2); print $2 }' "$K/dovecot.mbox")
    [[ $got == "$want" ]] || echo "Dovecot put ${RCPT[i]} in mailbox [$got], the case wants [$want]"
  done
}

# compare_row CASE: one row: the two sides' placements, and whether everything agrees.
compare_row() {
  local case=$1 agree=yes why="" f oracle
  oracle=$(oracle_problems)
  if [[ -n $oracle ]]; then
    agree=ORACLE why=$(tr '\n' ';' <<<"$oracle")
  else
    for f in placed folders subs; do
      cmp -s "$K/dovecot.$f" "$K/ours.$f" || { agree=no why+="$f differ; "; }
    done
  fi
  add_row "$case" "$(placements dovecot)" "$(placements ours)" "$agree" "$why"
}

# placements SIDE: the directories (or refusals) of the row's messages, in message order.
placements() { cut -f2 "$K/$1.placed" | sed -e 's/ $//' -e 's|/new$||' | paste -sd' '; }

# add_row CASE DOVECOT OURS AGREE WHY
add_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SETUP" "$ROUTE" "$1" "$2" "$3" "$4" "$5" >>"$T/rows.tsv"; }

# print_rows: the table, then what differs in each row that does not agree.
print_rows() {
  local setup route case dc ours agree why k
  {
    echo
    echo "maildeliver vs Dovecot $(dovecot --version | cut -d' ' -f1): the same message, config and userdb; where it lands"
    echo "(per message: its folder directory relative to the mail root, the file is in its new/; [..] = refused)"
    { printf 'setup\troute\tcase\tdovecot\tmaildeliver\tagree?\n'
      cut -f1-6 "$T/rows.tsv"; } | align_tsv
    while IFS=$'\t' read -r setup route case dc ours agree why; do
      [[ $agree == yes || $agree == n/a ]] && continue
      echo
      echo "-- $setup / $route / $case: $agree${why:+ ($why)}"
      k=$T/$setup/$case-$route
      for f in placed folders subs mbox; do
        cmp -s "$k/dovecot.$f" "$k/ours.$f" && continue
        echo "   $f (- dovecot, + maildeliver):"
        diff -U0 "$k/dovecot.$f" "$k/ours.$f" | tail -n +3 | grep -v '^@@' | sed 's/^/     /' || true
      done
      if grep -qv '^ok$' "$k/ours.outcome"; then
        echo "   maildeliver said:"
        { cat "$k/deliver.out" "$k/lmtpd.log" "$k"/smtp-ours-*.txt 2>/dev/null || true; } |
          { grep -E '^[45]\.|<\*\*|level=(ERROR|WARN)' || true; } | head -5 | sed 's/^/     /'
      fi
    done <"$T/rows.tsv"
    awk -F'\t' '$6 == "n/a" { print "n/a: " $2 " " $3 ": " $7 }' "$T/rows.tsv" | sort -u | sed 's/^/  /'
    awk -F'\t' '{ n[$6]++ } END { printf "\ndiff: %d agree, %d disagree, %d oracle failures, %d n/a\n", n["yes"], n["no"], n["ORACLE"], n["n/a"] }' "$T/rows.tsv"
  } >&2
}

# align_tsv: a tab-separated table on stdin, columns padded to their widest cell.
align_tsv() {
  awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n[NR] = NF }
    END { for (r = 1; r <= NR; r++) { for (i = 1; i <= n[r]; i++) printf "%-*s%s", (i < n[r] ? w[i] : 0), c[r, i], (i < n[r] ? "  " : "\n") } }'
}
