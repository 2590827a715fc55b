#!/usr/bin/env bash
# First run on the embedded default: a SQLite userdb (the classic howto's
# schema) and mailboxes under ./demo, no server and no root needed.
# Builds deliver, delivers three messages the way Postfix's pipe(8) would,
# and shows what landed on disk and what was logged.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$PWD/demo
mkdir -p "$demo/bin"
./scripts/build.sh "$demo/bin"
uid=$(id -u); gid=$(id -g)
if [ "$uid" = 0 ]; then
  # Mail is never written as root: as root, the demo mailboxes belong to nobody.
  uid=$(id -u nobody); gid=$(id -g nobody)
  chmod o+x "$demo"
fi
go run ./tools/mkdemo -dir "$demo" -uid "$uid" -gid "$gid"
deliver="$demo/bin/deliver -c $demo/maildeliver.toml"

echo "== deliver -check"
$deliver -check | tail -n 3

msg() { printf 'From: Alice <alice@example.net>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.net>\r\n\r\nHello from the maildeliver demo.\r\n' "$1" "$2" "$RANDOM$RANDOM"; }
echo "== delivering"
msg user@example.org "to INBOX" | $deliver -f alice@example.net -d user@example.org
msg user+lists@example.org "to the lists folder" | $deliver -f alice@example.net -d user+lists@example.org
msg postmaster@example.org "via the alias table" | $deliver -f "" -d postmaster@example.org
set +e
msg nobody@example.org "unknown user" | $deliver -f alice@example.net -d nobody@example.org
echo "   (exit $? for the unknown user: 67 = EX_NOUSER, Postfix bounces it)"
set -e

echo "== what landed on disk"
find "$demo/mail" -type f -path '*/new/*' -printf '%M %u %s %p\n' | sed "s|$demo/||"
echo "== one of the messages"
cat "$(find "$demo/mail/example.org/mails/user/Maildir/new" -type f | head -n 1)"
echo "== log ($demo/deliver.log)"
tail -n 4 "$demo/deliver.log"
