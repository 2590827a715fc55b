# shellcheck shell=bash
# Test messages and their injection through Postfix's SMTP port.
# Messages are LF files; swaks (and smtp_utf8 below) send them with CRLF and
# dot-stuffing (so no --no-data-fixup: that also turns off dot-stuffing and the final dot;
# the bodies avoid swaks' tokens: a literal backslash-n, %DATE% and the like), Postfix stores LF again, so a delivered body must be
# byte-identical to the body of the file (everything after the first empty line).

# make_big_part: the 20 MiB attachment (base64 of random bytes), made once per run.
make_big_part() {
  [[ -s $T/msgs/big.b64 ]] && return 0
  mkdir -p "$T/msgs"
  head -c $((20 * 1024 * 1024)) /dev/urandom | base64 -w 76 >"$T/msgs/big.b64"
}

# make_msg KIND ID FROM TO [EXTRA_HEADER] > file
# KIND: ascii | 8bit | utf8 | big. ID goes into X-E2E-Id, which verification searches for.
make_msg() {
  local kind=$1 id=$2 from=$3 to=$4 extra=${5:-}
  [[ -n $extra ]] && printf '%s\n' "$extra"
  printf 'From: <%s>\nTo: <%s>\nDate: %s\nMessage-ID: <%s@e2e.test>\nX-E2E-Id: %s\n' \
    "${from:-mailer-daemon@remote.example}" "$to" "$(date -R)" "$id" "$id"
  case $kind in
  ascii)
    printf 'Subject: e2e %s plain ASCII\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n' "$id"
    printf 'Plain ASCII body for %s.\n' "$id"
    printf '.a line that starts with a dot (dot-stuffed on the wire)\n'
    printf '..two dots\n.\n'
    printf 'From here on, a line starting with "From " (no > quoting expected)\n'
    printf 'Return-Path: <not-a-header@remote.example> (body text, not a header)\n'
    printf 'trailing spaces   \n\ttab-indented line\n\nlast line\n'
    ;;
  8bit)
    printf 'Subject: e2e %s 8-bit body\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n' "$id"
    printf 'UTF-8: Grüße, déjà vu, 日本語のメール, emoji \xf0\x9f\x93\xac\n'
    printf 'Latin-1 bytes (not UTF-8): caf\xe9 na\xefve \xff\xfe\n'
    printf 'C1 range: \x80\x81\x9f end\n'
    ;;
  utf8)
    printf 'Subject: e2e %s SMTPUTF8 Grüße\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n' "$id"
    printf 'Envelope and header addresses in UTF-8: %s → %s\n' "$from" "$to"
    ;;
  big)
    printf 'Subject: e2e %s 20 MiB attachment\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="e2e-boundary"\n\n' "$id"
    printf 'This is a multi-part message in MIME format.\n--e2e-boundary\nContent-Type: text/plain; charset=us-ascii\n\nSee the attachment.\n'
    printf -- '--e2e-boundary\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="random.bin"\n\n'
    cat "$T/msgs/big.b64"
    printf -- '--e2e-boundary--\n'
    ;;
  *) die "make_msg: unknown kind $kind" ;;
  esac
}

# body_sha FILE: sha256 of the body (after the first empty line) of an LF message file.
body_sha() { sed '1,/^$/d' "$1" | sha256sum | cut -d' ' -f1; }

# swaks_send PORT FROM RCPTS(comma-separated) FILE TRANSCRIPT: inject one message.
# Prints the Postfix queue id, or "-" when Postfix did not queue it.
swaks_send() {
  local port=$1 from=$2 rcpts=$3 file=$4 out=$5
  # swaks appends "\r\n." to the data: without the file's last LF the message ends as sent
  head -c -1 "$file" >"$file.swaks"
  swaks --server 127.0.0.1 --port "$port" --helo client.e2e.test \
    --from "${from:-<>}" --to "$rcpts" --data @"$file.swaks" \
    --timeout 60 --suppress-data >"$out" 2>&1 || true
  rm -f "$file.swaks"
  local qid
  qid=$(sed -n 's/.*250 2\.0\.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' "$out" | tail -1)
  echo "${qid:--}"
  return 0
}

# smtp_utf8 PORT FROM RCPT FILE TRANSCRIPT: like swaks_send, but with MAIL FROM:<..> SMTPUTF8
# (RFC 6531). swaks 20201014 cannot send the SMTPUTF8 parameter, so this is a minimal SMTP
# client on bash's /dev/tcp. Prints the queue id or "-".
smtp_utf8() {
  local port=$1 from=$2 rcpt=$3 file=$4 out=$5 fd line code qid="-" last='^([0-9]{3}) ' more='^[0-9]{3}-' 
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  _reply() { # read one (possibly multi-line) reply; sets code, appends to transcript
    code=""
    while IFS= read -r -t 60 -u "$fd" line; do
      line=${line%$'\r'}
      printf '<- %s\n' "$line" >>"$out"
      if [[ $line =~ $last ]]; then code=${BASH_REMATCH[1]}; return 0; fi
      [[ $line =~ $more ]] || break
    done
    return 1
  }
  _cmd() { printf -- '-> %s\n' "$1" >>"$out"; printf '%s\r\n' "$1" >&"$fd"; _reply; }
  : >"$out"
  if _reply && [[ $code == 220 ]] &&
    _cmd "EHLO client.e2e.test" && [[ $code == 250 ]] &&
    _cmd "MAIL FROM:<$from> SMTPUTF8" && [[ $code == 250 ]] &&
    _cmd "RCPT TO:<$rcpt>" && [[ $code == 250 ]] &&
    _cmd "DATA" && [[ $code == 354 ]]; then
    sed -e 's/^\./../' -e 's/$/\r/' "$file" >&"$fd"
    printf -- '-> (message, %s bytes)\n' "$(stat -c %s "$file")" >>"$out"
    if _cmd "." && [[ $code == 250 ]]; then
      qid=$(sed -n 's/^<- 250 2\.0\.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' "$out" | tail -1)
    fi
  fi
  _cmd "QUIT" || true
  exec {fd}>&-
  echo "${qid:--}"
}

# smtp_size PORT FROM RCPTS(comma-separated) FILE TRANSCRIPT: inject one message with
# MAIL FROM:<..> SIZE=<its size on the wire> (RFC 1870), what a client that knows its size
# sends and what Postfix hands the policy service as size=. A refused RCPT does not stop
# the others; DATA follows when one was accepted. The transcript marks 4xx/5xx replies
# "<**" as swaks does. Prints the queue id or "-".
smtp_size() {
  local port=$1 from=$2 rcpts=$3 file=$4 out=$5 fd line code qid="-" size r ok=0
  local last='^([0-9]{3}) ' more='^[0-9]{3}-'
  size=$(sed -e 's/^\./../' -e 's/$/\r/' "$file" | wc -c)
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  _reply() {
    code=""
    while IFS= read -r -t 60 -u "$fd" line; do
      line=${line%$'\r'}
      if [[ $line =~ ^[45] ]]; then printf '<** %s\n' "$line" >>"$out"; else printf '<-  %s\n' "$line" >>"$out"; fi
      if [[ $line =~ $last ]]; then code=${BASH_REMATCH[1]}; return 0; fi
      [[ $line =~ $more ]] || break
    done
    return 1
  }
  _cmd() { printf -- ' -> %s\n' "$1" >>"$out"; printf '%s\r\n' "$1" >&"$fd"; _reply; }
  : >"$out"
  if _reply && [[ $code == 220 ]] &&
    _cmd "EHLO client.e2e.test" && [[ $code == 250 ]] &&
    _cmd "MAIL FROM:<$from> SIZE=$size" && [[ $code == 250 ]]; then
    IFS=, read -r -a rs <<<"$rcpts"
    for r in "${rs[@]}"; do
      _cmd "RCPT TO:<$r>" && [[ $code == 250 ]] && ok=1
    done
    if ((ok)) && _cmd "DATA" && [[ $code == 354 ]]; then
      sed -e 's/^\./../' -e 's/$/\r/' "$file" >&"$fd"
      printf -- ' -> (message, %s bytes)\n' "$size" >>"$out"
      if _cmd "." && [[ $code == 250 ]]; then
        qid=$(sed -n 's/^<-  250 2\.0\.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' "$out" | tail -1)
      fi
    fi
  fi
  _cmd "QUIT" || true
  exec {fd}>&-
  echo "${qid:--}"
}
