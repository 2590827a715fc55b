#!/bin/sh
# Installs maildeliver: the two binaries (built static by scripts/build.sh),
# their man pages (man/, made by tools/mkman), lmtpd's systemd units (dist/)
# and the README the units name as documentation.
#
#   scripts/install.sh                        # as root, into /usr/local and /etc
#   DESTDIR=/tmp/pkg scripts/install.sh       # staged, e.g. for a package
#   PREFIX=/usr scripts/install.sh            # the units then start /usr/sbin/lmtpd
#   BIN=dir scripts/install.sh                # install binaries built earlier
#
# Layout (under DESTDIR):
#   PREFIX/bin/deliver            (master.cf's pipe argv=)
#   PREFIX/sbin/lmtpd             (lmtpd.service's ExecStart=)
#   PREFIX/share/man/man8/deliver.8 lmtpd.8, man5/maildeliver.toml.5
#   PREFIX/share/doc/maildeliver/README.md, dist-README.md
#   SYSTEMDDIR/lmtpd.service lmtpd.socket   (default /etc/systemd/system)
# The units' ExecStart= and Documentation= are rewritten for PREFIX. The
# configuration (/etc/maildeliver/maildeliver.toml) is never written: see
# maildeliver.toml(5). Nothing is enabled or started.
set -eu
cd "$(dirname "$0")/.."
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSTEMDDIR=${SYSTEMDDIR:-/etc/systemd/system}

if [ -z "${BIN:-}" ]; then
  BIN=$(mktemp -d)
  trap 'rm -rf "$BIN"' EXIT
  scripts/build.sh "$BIN"
fi
for f in "$BIN/deliver" "$BIN/lmtpd" man/deliver.8 man/lmtpd.8 man/maildeliver.toml.5; do
  [ -f "$f" ] || { echo "install.sh: $f missing" >&2; exit 1; }
done

d=$DESTDIR$PREFIX
install -d -m 0755 "$d/bin" "$d/sbin" "$d/share/man/man8" "$d/share/man/man5" \
  "$d/share/doc/maildeliver" "$DESTDIR$SYSTEMDDIR"
install -m 0755 "$BIN/deliver" "$d/bin/deliver"
install -m 0755 "$BIN/lmtpd" "$d/sbin/lmtpd"
install -m 0644 man/deliver.8 man/lmtpd.8 "$d/share/man/man8/"
install -m 0644 man/maildeliver.toml.5 "$d/share/man/man5/"
install -m 0644 README.md "$d/share/doc/maildeliver/README.md"
install -m 0644 dist/README.md "$d/share/doc/maildeliver/dist-README.md"
for u in lmtpd.service lmtpd.socket; do
  # the units name /usr/local; a unit file is read as is, so say PREFIX
  sed -e "/^ExecStart=/s|/usr/local/|$PREFIX/|g" -e "/^Documentation=/s|/usr/local/|$PREFIX/|g" \
    "dist/$u" >"$DESTDIR$SYSTEMDDIR/$u.tmp"
  chmod 0644 "$DESTDIR$SYSTEMDDIR/$u.tmp"
  mv "$DESTDIR$SYSTEMDDIR/$u.tmp" "$DESTDIR$SYSTEMDDIR/$u"
done

echo "installed into ${DESTDIR:-/}: $PREFIX/bin/deliver $PREFIX/sbin/lmtpd, man pages, $SYSTEMDDIR/lmtpd.{service,socket}"
if [ -z "$DESTDIR" ]; then
  cat <<MSG
next: edit ReadWritePaths= in $SYSTEMDDIR/lmtpd.service (every mail root),
      write /etc/maildeliver/maildeliver.toml (man 5 maildeliver.toml), then
      lmtpd -check && systemctl daemon-reload && systemctl enable --now lmtpd.socket lmtpd.service
MSG
fi
