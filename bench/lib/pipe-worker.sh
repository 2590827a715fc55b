#!/bin/bash
# One pipe-mode worker of bench/run.sh: delivers MSGFILE once to every
# address in ADDRFILE, one process per message, the way Postfix's pipe(8)
# runs an LDA:  CMD... -f SENDER -d ADDRESS < MSGFILE
# Stops at the first failed delivery and exits 1. With CPU_OUT set, it
# appends bash's times to that file: its own CPU, then the CPU (user and
# system) of the agent processes it ran.
#
#   pipe-worker.sh ADDRFILE MSGFILE SENDER CMD [ARGS...]
addrs=$1 msg=$2 sender=$3
shift 3
while IFS= read -r rcpt; do
  "$@" -f "$sender" -d "$rcpt" <"$msg"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "pipe-worker: delivery to $rcpt failed: exit $rc" >&2
    exit 1
  fi
done <"$addrs"
# times must run in this shell, not a pipeline's subshell: two lines, this
# shell's own CPU and its children's
[ -z "${CPU_OUT:-}" ] || times >>"$CPU_OUT"
