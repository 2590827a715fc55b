# The timed runs of bench/run.sh. Each run appends one row to $CSV (format:
# bench/report/main.go) and counts as valid only when the files in the
# new/ directories of exactly the mailboxes it addressed grew by the
# expected number of deliveries and the load generator reported success.
# Dovecot and maildeliver always run as a pair on the same mailboxes (each
# in its own tree), one after the other: dovecot, ours, dovecot, ours, ...

# record side ... ok: appends the row, prints a line, counts failures.
record() { # phase side size conc rcpts mode variant rep msgs deliv seconds ok rss0 hwm busy_pct cpu_us
  csv_row "$@"
  local rate
  rate=$(awk -v m="$9" -v d="${10}" -v s="${11}" 'BEGIN { if (s > 0) printf "%7.1f msgs/s %7.1f deliveries/s", m / s, d / s }')
  printf '  %-4s %-7s %-4s c=%-2s r=%-2s %-6s %-9s rep=%s  %ss  %s%s%s%s%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" \
    "${11}" "$rate" "${14:+  peak RSS ${14} kB}" "${15:+  CPU busy ${15}%}" "${16:+  ${16} us CPU/unit}" \
    "$([ "${12}" = 1 ] || echo '  ** INVALID **')" >&2
  [ "${12}" = 1 ] || FAILED_RUNS=$((FAILED_RUNS + 1))
}

# One LMTP run: smtp-source -L against one side's socket.
#   mode same:   one smtp-source -s S, every message to group g0 (r=1: one
#                mailbox; r=10: that group's 10 mailboxes)
#   mode spread: S smtp-source -s 1, session i to group g0+i
lmtp_run() { # side size S R mode variant M rep g0
  local side=$1 size=$2 S=$3 R=$4 mode=$5 variant=$6 M=$7 rep=$8 g0=$9
  local tree sock msg=$MSGS/msg-$size.eml dflag=() dirs=() groups=() g lp i rc=0
  tree=$(tree_of "$side") sock=$(sock_of "$side")
  local count=count_files
  case $variant in keepalive*) dflag=(-d) ;; esac
  case $variant in *sieve) count=count_mail ;; esac
  if [ "$mode" = same ]; then groups=("$g0"); else for ((i = 0; i < S; i++)); do groups+=($(((g0 + i) % 100))); done; fi
  for g in "${groups[@]}"; do
    for lp in $(rcpt_locals $((g % 10)) "$R"); do dirs+=("$(new_dir "$tree" "$lp@d$((g / 10)).example")"); done
  done
  local err=$W/logs/lmtp-$side.err before after rss0="" hwm="" t0 t1 c0 c1 k0 k1
  sync
  before=$($count "${dirs[@]}")
  if [ "$side" = ours ] && lmtpd_alive; then
    rss0=$(proc_kb "$LMTPD_PID" VmRSS)
    reset_hwm "$LMTPD_PID"
  fi
  PIDS=()
  k0=$(side_cpu "$side")
  c0=$(cpu_jiffies)
  t0=$EPOCHREALTIME
  if [ "$mode" = same ]; then
    timeout "$RUN_TIMEOUT" smtp-source -L "${dflag[@]}" -s "$S" -m "$M" -r "$R" -f "$SENDER" -t "$(group_addr "$g0")" \
      -M bench.example -F "$msg" "unix:$sock" 2>>"$err" &
    PIDS+=($!)
  else
    for g in "${groups[@]}"; do
      timeout "$RUN_TIMEOUT" smtp-source -L "${dflag[@]}" -s 1 -m $((M / S)) -r "$R" -f "$SENDER" -t "$(group_addr "$g")" \
        -M bench.example -F "$msg" "unix:$sock" 2>>"$err" &
      PIDS+=($!)
    done
  fi
  wait_pids || rc=$?
  t1=$EPOCHREALTIME
  c1=$(cpu_jiffies)
  k1=$(side_cpu "$side")
  if [ "$side" = ours ] && lmtpd_alive; then
    hwm=$(proc_kb "$LMTPD_PID" VmHWM)
  fi
  after=$($count "${dirs[@]}")
  local ok=1 want=$((M * R))
  if [ "$((after - before))" -ne "$want" ] || [ "$rc" -ne 0 ]; then
    ok=0
    say "$side lmtp $size s=$S r=$R $mode $variant: want $want new files, got $((after - before)); smtp-source exit $rc (see $err)"
  fi
  # CPU: the machine's busy share, and each side's CPU per delivery from its
  # control group (Dovecot: every process of the instance, lmtp, auth,
  # stats...; ours: lmtpd), or lmtpd's own ticks without one
  record lmtp "$side" "$size" "$S" "$R" "$mode" "$variant" "$rep" "$M" "$want" "$(elapsed "$t0" "$t1")" "$ok" "$rss0" "$hwm" \
    "$(busy_pct "$c0" "$c1")" "$(side_cpu_us_per "$k0" "$k1" "$want")"
}

# LMTP_ROWS: lines "size sessions rcpts mode variant".
lmtp_phase() {
  local size S R mode variant M rep g0 n
  say "LMTP: dovecot-lmtp vs lmtpd, $REPS reps each, alternating"
  while read -r size S R mode variant; do
    [ -n "$size" ] || continue
    M=$MSGS_R1
    [ "$R" -gt 1 ] && M=$MSGS_RN
    M=$((M / S * S))
    [ "$M" -ge "$S" ] || M=$S
    n=1
    [ "$mode" = spread ] && n=$S
    for rep in $(seq 1 "$REPS"); do
      g0=$(( $(next_seq "$n") % 100 ))   # fresh mailboxes for each pair; same ones for both sides
      lmtp_run dovecot "$size" "$S" "$R" "$mode" "$variant" "$M" "$rep" "$g0"
      lmtp_run ours "$size" "$S" "$R" "$mode" "$variant" "$M" "$rep" "$g0"
    done
  done <<<"$LMTP_ROWS"
}

# One LMTP run of lmtpload against one side's socket: S kept sessions,
# message i to line i of RCPTS (cold: a mailbox the delivery creates;
# mixed: every tenth one, the others existing mailboxes). Valid when the
# new/ of exactly those mailboxes grew by M and lmtpload exited 0.
lmtpload_run() { # side size S mode M rep rcptfile
  local side=$1 size=$2 S=$3 mode=$4 M=$5 rep=$6 rcpts=$7
  local tree sock dirs=() err=$W/logs/lmtpload-$side.err before after rss0="" hwm="" t0 t1 c0 c1 k0 k1 rc=0
  tree=$(tree_of "$side") sock=$(sock_of "$side")
  mapfile -t dirs < <(new_dirs_of "$tree" "$rcpts")
  sync
  before=$(count_files "${dirs[@]}")
  if [ "$side" = ours ] && lmtpd_alive; then
    rss0=$(proc_kb "$LMTPD_PID" VmRSS)
    reset_hwm "$LMTPD_PID"
  fi
  k0=$(side_cpu "$side")
  c0=$(cpu_jiffies)
  t0=$EPOCHREALTIME
  timeout "$RUN_TIMEOUT" "$BIN/lmtpload" -s "$S" -F "$MSGS/msg-$size.eml" -f "$SENDER" -rcpts "$rcpts" "unix:$sock" 2>>"$err" || rc=$?
  t1=$EPOCHREALTIME
  c1=$(cpu_jiffies)
  k1=$(side_cpu "$side")
  if [ "$side" = ours ] && lmtpd_alive; then
    hwm=$(proc_kb "$LMTPD_PID" VmHWM)
  fi
  after=$(count_files "${dirs[@]}")
  local ok=1
  if [ "$((after - before))" -ne "$M" ] || [ "$rc" -ne 0 ]; then
    ok=0
    say "$side lmtpload $size s=$S $mode: want $M new files, got $((after - before)); lmtpload exit $rc (see $err)"
  fi
  record lmtp "$side" "$size" "$S" 1 "$mode" keepalive "$rep" "$M" "$M" "$(elapsed "$t0" "$t1")" "$ok" "$rss0" "$hwm" \
    "$(busy_pct "$c0" "$c1")" "$(side_cpu_us_per "$k0" "$k1" "$M")"
}

# COLD_LMTP_ROWS: lines "size sessions newpct" (100: every message to a
# mailbox that does not exist yet; 10: every tenth, the rest to existing
# ones spread over the 1,000), MSGS_R1 messages per run, over lmtpload.
# COLD_LDA_ROWS: lines "size workers": pipe mode, each message to a new
# mailbox (the nosql side takes other new mailboxes than the pair).
cold_phase() {
  local size S pct M rep P u0 mode file used
  [ -x "$BIN/lmtpload" ] || { say "WARNING: no lmtpload binary; cold LMTP rows skipped"; }
  say "cold mailboxes: LMTP (lmtpload) and pipe mode, $REPS reps each, alternating"
  while read -r size S pct; do
    [ -n "$size" ] && [ -x "$BIN/lmtpload" ] || continue
    M=$((MSGS_R1 / S * S))
    mode=cold
    [ "$pct" = 100 ] || mode=mixed$pct
    for rep in $(seq 1 "$REPS"); do
      file=$W/lda/rcpts-$rep.txt
      used=$(gen_rcpts "$M" "$pct" "$COLD_SEQ" "$(next_seq "$S")" "$file")
      chmod 0644 "$file"
      COLD_SEQ=$((COLD_SEQ + used))
      [ "$COLD_SEQ" -le "$COLD_USERS" ] || { say "WARNING: out of cold users; row skipped"; break; }
      lmtpload_run dovecot "$size" "$S" "$mode" "$M" "$rep" "$file"
      lmtpload_run ours "$size" "$S" "$mode" "$M" "$rep" "$file"
    done
  done <<<"$COLD_LMTP_ROWS"
  while read -r size P; do
    [ -n "$size" ] || continue
    for rep in $(seq 1 "$REPS"); do
      [ $((COLD_SEQ + 2 * LDA_N)) -le "$COLD_USERS" ] || { say "WARNING: out of cold users; row skipped"; break; }
      u0=$COLD_SEQ
      lda_run dovecot "$size" "$P" cold "$LDA_N" "$rep" "$u0"
      lda_run ours "$size" "$P" cold "$LDA_N" "$rep" "$u0"
      [ ! -x "$BIN/deliver-nosql" ] || lda_run nosql "$size" "$P" cold "$LDA_N" "$rep" $((u0 + LDA_N))
      COLD_SEQ=$((COLD_SEQ + 2 * LDA_N))
    done
  done <<<"$COLD_LDA_ROWS"
}

# SIEVE_ROWS: LMTP_ROWS' format, run with Sieve on both sides (variant
# "<variant>+sieve"); the rows count what landed in the INBOX and in the
# folders, new/ and cur/.
sieve_phase() {
  local size S R mode variant M rep g0 n
  say "Sieve: Pigeonhole vs lmtpd [sieve], $REPS reps each, alternating"
  sieve_setup
  while read -r size S R mode variant; do
    [ -n "$size" ] || continue
    M=$MSGS_R1
    [ "$R" -gt 1 ] && M=$MSGS_RN
    M=$((M / S * S))
    n=1
    [ "$mode" = spread ] && n=$S
    for rep in $(seq 1 "$REPS"); do
      g0=$(( $(next_seq "$n") % 100 ))
      lmtp_run dovecot "$size" "$S" "$R" "$mode" "$variant+sieve" "$M" "$rep" "$g0"
      lmtp_run ours "$size" "$S" "$R" "$mode" "$variant+sieve" "$M" "$rep" "$g0"
    done
  done <<<"$SIEVE_ROWS"
}

# One pipe-mode run: P workers, each running the LDA once per message.
#   spread: worker w, message i -> user (u0 + w*per + i) mod 1000
#   same:   every message of the run -> user u0
#   cold:   worker w, message i -> cold user u0 + w*per + i (a new mailbox)
lda_run() { # side size P mode N rep u0
  local side=$1 size=$2 P=$3 mode=$4 N=$5 rep=$6 u0=$7
  local per=$((N / P)) tree msg=$MSGS/msg-$size.eml w i k cmd dirs=()
  tree=$(tree_of "$side")
  case $side in
  ours) cmd=("$BIN/deliver" -c "$MD_CONF") ;;
  nosql) cmd=("$BIN/deliver-nosql" -c "$MD_CONF") ;;
  *) cmd=("$DOVECOT_LDA" -c "$DC_CONF") ;;
  esac
  for ((w = 0; w < P; w++)); do
    for ((i = 0; i < per; i++)); do
      case $mode in
      same) user_addr "$u0" ;;
      cold) cold_addr $((u0 + w * per + i)) ;;
      *) user_addr $(((u0 + w * per + i) % 1000)) ;;
      esac
    done >"$W/lda/w$w.txt"
  done
  chmod 0644 "$W"/lda/w*.txt
  mapfile -t dirs < <(sort -u "$W"/lda/w*.txt | while read -r a; do new_dir "$tree" "$a"; done)
  local err=$W/logs/lda-$side.err before after want=$((per * P)) ok=1
  sync
  before=$(count_files "${dirs[@]}")
  run_workers "$P" w "$msg" "$err" "$want" "${cmd[@]}"
  after=$(count_files "${dirs[@]}")
  if [ "$((after - before))" -ne "$want" ] || [ "$RUN_RC" -ne 0 ]; then
    ok=0
    say "$side lda $size P=$P $mode: want $want new files, got $((after - before)); worker exit $RUN_RC (see $err)"
  fi
  record lda "$side" "$size" "$P" 1 "$mode" - "$rep" "$want" "$want" "$RUN_SECS" "$ok" "" "" "$RUN_BUSY" "$RUN_CPU_US"
}

# run_workers starts P pipe workers at once (worker w reads the addresses in
# $W/lda/<prefix>w.txt and runs CMD once per address with MSG on stdin) and
# waits for them. It sets RUN_RC (the last failing worker's exit status),
# RUN_SECS (wall clock), RUN_BUSY (the machine's busy share) and RUN_CPU_US:
# the agent processes' own CPU per message over UNITS messages (deliver;
# dovecot-lda with the doveconf it runs), from the workers' bash times.
run_workers() { # P prefix msg errfile units cmd...
  local P=$1 prefix=$2 msg=$3 err=$4 units=$5 w c0 c1 t0 t1
  shift 5
  rm -f "$W"/lda/cpu-*.txt
  # writable by the user the workers run as
  for ((w = 0; w < P; w++)); do install -m 0666 /dev/null "$W/lda/cpu-$w.txt"; done
  RUN_RC=0
  PIDS=()
  c0=$(cpu_jiffies)
  t0=$EPOCHREALTIME
  for ((w = 0; w < P; w++)); do
    CPU_OUT=$W/lda/cpu-$w.txt "${LDA_RUNNER[@]}" timeout "$RUN_TIMEOUT" "$BIN/pipe-worker.sh" "$W/lda/$prefix$w.txt" "$msg" "$SENDER" "$@" 2>>"$err" &
    PIDS+=($!)
  done
  wait_pids || RUN_RC=$?
  t1=$EPOCHREALTIME
  c1=$(cpu_jiffies)
  RUN_SECS=$(elapsed "$t0" "$t1")
  RUN_BUSY=$(busy_pct "$c0" "$c1")
  RUN_CPU_US=$(times_us_per "$units" "$W"/lda/cpu-*.txt)
}

# LDA_ROWS: lines "size workers mode".
lda_phase() {
  local size P mode rep u0=0
  say "pipe mode: dovecot-lda vs deliver as $LDA_USER, $REPS reps each, alternating"
  while read -r size P mode; do
    [ -n "$size" ] || continue
    for rep in $(seq 1 "$REPS"); do
      lda_run dovecot "$size" "$P" "$mode" "$LDA_N" "$rep" "$u0"
      lda_run ours "$size" "$P" "$mode" "$LDA_N" "$rep" "$u0"
      [ ! -x "$BIN/deliver-nosql" ] || lda_run nosql "$size" "$P" "$mode" "$LDA_N" "$rep" "$u0"
      u0=$(((u0 + LDA_N) % 1000))
    done
  done <<<"$LDA_ROWS"
}

# The floor under pipe mode: the same workers run programs that deliver
# nothing, so the table shows what a process start costs before any work:
# /bin/true (fork+exec by the worker), an empty static Go program, and one
# that only links deliver's three SQL drivers. No files are written; a run
# is valid when every worker exits 0.
FLOOR_PROGS="true goempty godrivers"
floor_run() { # prog P N rep
  local prog=$1 P=$2 N=$3 rep=$4 per=$(($3 / $2)) w i cmd ok=1
  case $prog in true) cmd=/bin/true ;; *) cmd=$BIN/$prog ;; esac
  [ -x "$cmd" ] || { say "WARNING: no $cmd; floor row skipped"; return; }
  for ((w = 0; w < P; w++)); do
    for ((i = 0; i < per; i++)); do user_addr "$(((w * per + i) % 1000))"; done >"$W/lda/f$w.txt"
  done
  chmod 0644 "$W"/lda/f*.txt
  run_workers "$P" f "$MSGS/msg-4k.eml" "$W/logs/floor.err" "$((per * P))" "$cmd"
  [ "$RUN_RC" = 0 ] || ok=0
  record floor "$prog" 4k "$P" 1 - - "$rep" "$((per * P))" "$((per * P))" "$RUN_SECS" "$ok" "" "" "$RUN_BUSY" "$RUN_CPU_US"
}

floor_phase() {
  local P rep prog
  say "pipe-mode floor: $FLOOR_PROGS as $LDA_USER, P=1 and 8, $REPS reps"
  for P in 1 8; do
    for rep in $(seq 1 "$REPS"); do
      for prog in $FLOOR_PROGS; do floor_run "$prog" "$P" "$LDA_N" "$rep"; done
    done
  done
}

fsync_phase() {
  [ -x "$BIN/fsynclimit" ] || { say "WARNING: no fsynclimit binary"; return; }
  say "disk ceiling: fsynclimit sizes=$FSYNC_SIZES c=$FSYNC_CONCS sync=$FSYNC_SYNCS n=$FSYNC_N reps=$FSYNC_REPS"
  "$BIN/fsynclimit" -root "$W/fsync" -size "$FSYNC_SIZES" -c "$FSYNC_CONCS" -mode spread,same \
    -sync "$FSYNC_SYNCS" -n "$FSYNC_N" -reps "$FSYNC_REPS" >>"$CSV" || say "WARNING: fsynclimit failed"
}

# One large message over LMTP to each side; for lmtpd, its RSS before and
# its peak RSS during the delivery (VmHWM, reset to VmRSS first).
mem_phase() {
  local size=$MEM_SIZE side addr dir before after rss0 hwm t0 t1 ok rc
  [ -f "$MSGS/msg-$size.eml" ] || return
  addr=$(group_addr 99)
  say "large message: $size via LMTP"
  for side in dovecot ours; do
    dir=$(new_dir "$(tree_of "$side")" "$addr")
    rss0="" hwm="" rc=0
    sync
    before=$(count_files "$dir")
    if [ "$side" = ours ] && lmtpd_alive; then
      rss0=$(proc_kb "$LMTPD_PID" VmRSS)
      reset_hwm "$LMTPD_PID"
    fi
    t0=$EPOCHREALTIME
    timeout "$RUN_TIMEOUT" smtp-source -L -s 1 -m 1 -r 1 -f "$SENDER" -t "$addr" -M bench.example \
      -F "$MSGS/msg-$size.eml" "unix:$(sock_of "$side")" 2>>"$W/logs/mem-$side.err" || rc=$?
    t1=$EPOCHREALTIME
    [ "$side" = ours ] && lmtpd_alive && hwm=$(proc_kb "$LMTPD_PID" VmHWM)
    after=$(count_files "$dir")
    ok=1
    if [ "$((after - before))" -ne 1 ] || [ "$rc" -ne 0 ]; then
      ok=0
      say "$side: the $size message did not land (smtp-source exit $rc, see $W/logs/mem-$side.err)"
    fi
    record mem "$side" "$size" 1 1 same - 1 1 1 "$(elapsed "$t0" "$t1")" "$ok" "$rss0" "$hwm" "" ""
  done
}

# Leftovers: a valid run never leaves a file in tmp/.
check_tmp() {
  local side n t
  for side in dovecot ours; do
    t=$(tree_of "$side")
    n=$(find "$t" -path "$t/*/tmp/*" -type f 2>/dev/null | wc -l)
    if [ "$n" -ne 0 ]; then
      say "INVALID: $n files left in tmp/ of the $side tree"
      FAILED_RUNS=$((FAILED_RUNS + 1))
    fi
  done
}

# Keeps the warmed stack up for manual profiling (strace, perf) until
# $W/hold is removed.
hold_phase() {
  touch "$W/hold"
  say "holding the stack: dovecot unix:$DC_SOCK (conf $DC_CONF), lmtpd pid ${LMTPD_PID:-none} unix:$MD_SOCK (conf $MD_CONF),"
  say "  binaries in $BIN, messages in $MSGS, PostgreSQL: $PGBIN/psql -h $PGSOCK -p $PGPORT -U postgres mail"
  say "  rm $W/hold to continue and tear down"
  while [ -e "$W/hold" ]; do sleep 1; done
}
