#!/bin/bash
# Keeps the deployment guide honest: every fenced block in DOC that follows a marker
#     <!-- e2e: conf/<dir>/<file> -->
# must equal that file of e2e/conf/ rendered with production values (the same template
# the end-to-end suite runs with test values). Needs no root and no services.
#     e2e/docs.sh [DOC]        (default: README.md)
#     e2e/docs.sh -p FILE      print FILE (e.g. conf/pg/maildeliver.toml) with production values
set -euo pipefail
E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
. "$E2E/lib/common.sh"

# production values for the templates' @NAMES@ (what README.md shows)
prod_vars() {
  local setup=$1
  PF_CONF=/etc/postfix PF_SPOOL=/var/spool/postfix MAILROOT=""
  DELIVER=/usr/local/bin/deliver MD_CONF=/etc/maildeliver/maildeliver.toml
  SERVICE=maildeliver PIPE_USER=vmail MD_LOG_TARGET=auto
  DC_SQL=/etc/dovecot/dovecot-sql.conf.ext DC_CONF=/etc/dovecot/dovecot.conf QUOTA=40M
  SQLITE_DB=/var/lib/maildeliver/users.db
  MD_HOSTNAME=mail.example.org
  SIEVE_GLOBAL=/etc/dovecot/sieve SIEVE_REDIRECT_FROM=sender
  SIEVE_SUBMISSION_HOST=127.0.0.1:25 SIEVE_SENDMAIL_PATH=/usr/sbin/sendmail
  case $setup in # the seeds' own database names and read-only users
  pg) DB=mails DBUSER=mailreader DBPASS=secret ;;
  my002) DB=mail DBUSER=mail_admin DBPASS=password-for-mail_admin ;;
  my004) DB=mail DBUSER=mail DBPASS=mailpass ;;
  scaleout) DB=mails DBUSER=mailreader DBPASS=secret PGB_PORT=6432 ;; # PgBouncer's default port
  *) DB="" DBUSER="" DBPASS="" ;;
  esac
}

# prod_render REL: render e2e/REL with production values to stdout.
prod_render() {
  local rel=$1 setup
  setup=$(cut -d/ -f2 <<<"$rel")
  prod_vars "$setup"
  [[ -f $E2E/$rel ]] || die "$rel: no such file under e2e/"
  render "$E2E/$rel" -
}

if [[ ${1:-} == -p ]]; then prod_render "$2"; exit 0; fi

DOC=${1:-$E2E/../README.md}
bad=0 n=0
while IFS= read -r rel; do
  n=$((n + 1))
  want=$(prod_render "$rel")
  # the fenced block right after the marker
  got=$(awk -v m="<!-- e2e: $rel -->" '
    $0 == m { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' "$DOC")
  if [[ $got != "$want" ]]; then
    bad=1
    echo "docs.sh: $DOC: the block for $rel differs from e2e/$rel rendered with production values:" >&2
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/    /' >&2 || true
  fi
done < <(sed -n 's/^<!-- e2e: \(.*\) -->$/\1/p' "$DOC")
((n > 0)) || { echo "docs.sh: $DOC has no <!-- e2e: ... --> markers" >&2; exit 1; }
((bad == 0)) || exit 1
echo "docs.sh: $n snippets in $(basename "$DOC") match e2e/conf"
