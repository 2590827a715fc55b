#!/usr/bin/env bash
# Installs (as root, from Debian) and starts what the tests need: the
# machine's PostgreSQL and MariaDB, Postfix and Dovecot for the real-stack
# suite, the quota interoperability test and the Sieve differential test
# (dovecot-sieve: sieve-test), swaks, strace, quota and
# e2fsprogs (the capability test mounts a small ext4 image with user quota),
# man-db and groff (the man page tests render with man -l), mtail (README's
# recipe for deliver's metrics), pgbouncer (the lookup tests, e2e/scaleout.sh and
# bench/scaleout.sh start private ones in pool_mode=transaction; the Debian service
# itself is not used), iproute2 (e2e/scaleout.sh's backends live in network
# namespaces). Idempotent and
# quick when everything is there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! pg_isready -q -h /var/run/postgresql 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! mariadb-admin ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
for _ in $(seq 60); do
  pg_isready -q -h /var/run/postgresql && mariadb-admin ping >/dev/null 2>&1 && break
  sleep 1
done
pg_isready -h /var/run/postgresql >/dev/null || { echo "PostgreSQL is not running" >&2; exit 1; }
mariadb-admin ping >/dev/null || { echo "MariaDB is not running" >&2; exit 1; }

need=""
for p in postfix postfix-pgsql postfix-mysql postfix-sqlite dovecot-core dovecot-imapd dovecot-lmtpd \
  dovecot-pgsql dovecot-mysql dovecot-sqlite dovecot-sieve swaks strace quota e2fsprogs util-linux \
  man-db groff-base mtail pgbouncer iproute2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $need
fi
