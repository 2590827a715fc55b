# shellcheck shell=bash
# Common helpers for the end-to-end suite: messages, deadlines, templates,
# teardown registry. Sourced by run.sh; everything lives under $T.

log()  { printf '%s e2e: %s\n' "$(date +%T)" "$*" >&2; }
die()  { log "FATAL: $*"; exit 1; }

# wait_until DEADLINE_SECONDS DESCRIPTION CMD...: poll CMD (every 0.1 s) until it
# succeeds or the deadline passes; CMD returning 2 means "never going to happen".
# Polling with a deadline, never a fixed sleep.
wait_until() {
  local limit=$1 what=$2 rc; shift 2
  local end=$((SECONDS + limit))
  while :; do
    rc=0; "$@" || rc=$?
    ((rc == 0)) && return 0
    if ((rc == 2)); then log "gave up waiting for: $what"; return 1; fi
    if ((SECONDS >= end)); then log "timeout after ${limit}s waiting for: $what"; return 1; fi
    sleep 0.1
  done
}

# rand_name PREFIX: a throwaway name such as md_e2e_3f9a0c1b.
rand_name() { printf '%s_%s' "$1" "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"; }

# free_port: a TCP port on 127.0.0.1 that nothing listens on, outside the usual ranges.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
  done
  die "no free port"
}

# render TEMPLATE OUT: copy TEMPLATE to OUT (- = stdout) replacing @NAME@ with the value of
# the shell variable NAME, for every @NAME@ in the template. An unknown @NAME@
# is an error, so a typo in a template cannot go unnoticed.
render() {
  local tpl=$1 out=$2 name val script=""
  for name in $(grep -o '@[A-Z][A-Z0-9_]*@' "$tpl" | sort -u | tr -d '@'); do
    [[ -v $name ]] || die "render $tpl: variable $name is not set"
    val=${!name}
    val=${val//\\/\\\\}; val=${val//|/\\|}; val=${val//&/\\&}
    script+="s|@${name}@|${val}|g;"
  done
  if [[ $out == - ]]; then sed -e "$script" "$tpl"; else sed -e "$script" "$tpl" >"$out"; fi
}

# build_ours DIR: cmd/deliver and cmd/lmtpd into DIR, as scripts/build.sh ships them (static),
# one binary at a time so a failure names it; $E2E_DELIVER / $E2E_LMTPD are copied instead.
# Appends what failed to build to BUILD_ERR (set by the caller) and goes on.
build_ours() {
  local dir=$1 b given go
  go=$(command -v go || echo /usr/local/go/bin/go)
  for b in deliver lmtpd; do
    given=E2E_${b^^}
    if [[ -n ${!given:-} ]]; then
      install -m 0755 "${!given}" "$dir/$b" && log "testing $b = ${!given}" && continue
    fi
    if (cd "$E2E/.." && CGO_ENABLED=0 "$go" build -trimpath -ldflags="$(sh scripts/build.sh --ldflags)" -o "$dir/$b" "./cmd/$b") >"$T/build-$b.log" 2>&1; then
      log "built cmd/$b"
    else
      BUILD_ERR+=("$b")
      log "cmd/$b does not build:"; sed 's/^/    /' "$T/build-$b.log" | head -20 >&2
    fi
  done
}

# mixcase ADDRESS: the address as a user might type it (Alice@Example.COM for alice@example.com):
# first letter of the local part and of the domain upper case, the top-level domain all upper case.
mixcase() {
  local l=${1%@*} d=${1##*@}
  local tld=${d##*.} rest=${d%.*}
  printf '%s@%s.%s\n' "${l^}" "${rest^}" "${tld^^}"
}

# ---- teardown registry: every process we start is recorded by PID ----------
E2E_PIDS=()        # "name:pid" of processes we started (lmtpd, ...)
E2E_CLEANUPS=()    # shell commands run at exit, last registered first

on_exit() { E2E_CLEANUPS+=("$1"); }

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $st != Z* ]]
}

gone() { ! alive "$1"; }

# stop_pid NAME PID: TERM, wait up to 10 s, then KILL. Only ever our own PIDs.
stop_pid() {
  local name=$1 pid=$2
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until 10 "$name ($pid) to exit" gone "$pid"; then
    log "$name ($pid) ignored TERM; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  E2E_PIDS=("${E2E_PIDS[@]/$name:$pid}")
}

teardown() {
  local rc=$? i entry
  set +e
  if ((rc != 0)) && declare -F dump_logs >/dev/null; then dump_logs; fi
  for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${E2E_CLEANUPS[i]}" >>"${T:-/tmp}/teardown.log" 2>&1
  done
  for entry in "${E2E_PIDS[@]}"; do [[ -n $entry ]] && stop_pid "${entry%%:*}" "${entry##*:}"; done
  if [[ -n ${T:-} && -d $T ]]; then
    if ((rc == 0)) && [[ -z ${E2E_KEEP:-} ]]; then rm -rf "$T"; else log "kept $T for inspection"; fi
  fi
  exit "$rc"
}
