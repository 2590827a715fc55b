# shellcheck shell=bash
# The four setups of SPEC "Examples that must work unchanged". Each one gets a
# throwaway database (random name, dropped at exit) loaded with e2e/conf/<setup>/
# schema.sql + data.sql, and names the addresses that play each role in the test plan.

ALL_SETUPS=(pg my002 my004 sqlite)

# setup_roles NAME: sets the role variables for NAME.
#   U_MAIN   plain, null sender, +detail           U_SAME   same domain (and uid) as U_MAIN: big + over quota
#   U_OTHER  other domain (other uid in pg/sqlite) ALIAS -> ALIAS_TARGET (empty: no alias table)
#   U_UTF8   UTF-8 local part (SMTPUTF8)           UNKNOWN  not in any table
#   FOLDER_PREFIX  how Dovecot names Maildir++ folder "x" ("INBOX." with seed 002's namespace)
#   QUOTA_FULL     bounce | defer ([quota] full)
#   PIPE_SERVICES  "service:user" pipe(8) services for the pipe route
#   U_MISROUTED    (uid per domain) routed to the wrong uid's pipe service: must defer
#   SIEVE          full | global | off (lib/sieve.sh): full needs homes from the userdb
#   U_SIEVE U_REDIR U_REDIR_TARGET U_BROKEN  (SIEVE=full) filter + vacation user, the user
#                  whose script redirects to U_REDIR_TARGET, the user whose script is broken
#   SIEVE_REDIRECT_FROM  [sieve] redirect_envelope_from
#   SIEVE_SENDMAIL_ON    the route whose replies and redirects go through Postfix's sendmail
#                  (sendmail_path) instead of its SMTP port (submission_host); "" = none
setup_roles() {
  SETUP=$1
  ALIAS="" ALIAS_TARGET="" FOLDER_PREFIX="" UTF8_NA="" U_MISROUTED="" QUOTA_FULL=bounce QUOTA=40M DETAIL=lists
  SIEVE=off SIEVE_NA="" U_SIEVE="" U_REDIR="" U_REDIR_TARGET="" U_BROKEN="" SIEVE_REDIRECT_FROM=sender SIEVE_SENDMAIL_ON=""
  case $SETUP in
  pg | sqlite)
    SETUP_TITLE="seed 000/001 on $([[ $SETUP == pg ]] && echo PostgreSQL || echo SQLite), uid per domain (1001/1002)"
    U_MAIN=user@domain.org U_SAME=user2@domain.org U_OTHER=user@foo.org
    ALIAS=foo@foo.org ALIAS_TARGET=user@foo.org
    U_UTF8=josé@domain.org UNKNOWN=nobody@domain.org
    # Postfix 3.7's pgsql: maps force client_encoding LATIN1 (no "encoding" parameter before
    # 3.8), so a UTF-8 address never matches in PostgreSQL: no SMTPUTF8 case there
    [[ $SETUP == pg ]] && U_UTF8="" UTF8_NA="Postfix 3.7 pgsql maps use client_encoding LATIN1"
    PIPE_SERVICES=("maildeliver1001:$USER_1001" "maildeliver1002:$USER_1002")
    # uid 1002's mailbox that the transport table sends to the uid-1001 pipe service
    U_MISROUTED=misrouted@foo.org
    # the userdb gives every user a home: the users' scripts live there (data.sql)
    SIEVE=full U_SIEVE=vacation@domain.org U_REDIR=redirect@foo.org U_REDIR_TARGET=user2@domain.org
    U_BROKEN=broken@domain.org
    # one setup each way: the redirected copy's envelope sender is the redirecting user (pg)
    # or the original sender (sqlite, Pigeonhole's default)
    if [[ $SETUP == pg ]]; then SIEVE_REDIRECT_FROM=recipient; fi
    # sqlite's lmtp route: sendmail_path, which lmtpd runs as the mailbox owner (as
    # Pigeonhole does); Postfix's set-gid postdrop takes another instance's configuration
    # (-C) from a non-root user only when the system's main.cf lists it in
    # alternate_config_directories (sieve_allow_instance)
    if [[ $SETUP == sqlite ]]; then SIEVE_SENDMAIL_ON=lmtp; fi
    ;;
  my002)
    SETUP_TITLE="seed 002 on MariaDB, static vmail 5000, forwardings"
    U_MAIN=sales@centos.bz U_SAME=info@centos.bz U_OTHER=info@shuame.org
    ALIAS=webmaster@shuame.org ALIAS_TARGET=info@shuame.org
    U_UTF8=josé@centos.bz UNKNOWN=nobody@centos.bz
    FOLDER_PREFIX="INBOX."
    PIPE_SERVICES=("maildeliver:vmail")
    # a static userdb: no home for maildeliver, so only the global script runs; it files
    # into "INBOX.Junk", the name under the seed's namespace prefix ([mail] prefix, read
    # from the dovecot.conf)
    SIEVE=global SIEVE_NA="static userdb, no home for maildeliver: global before script only"
    ;;
  my004)
    SETUP_TITLE="seed 004 on MariaDB, view emails, static vmail 5000, quota full=defer"
    U_MAIN=info@hoge.com U_SAME=admin@hoge.com U_OTHER=info@fuga.com
    U_UTF8=josé@hoge.com UNKNOWN=nobody@hoge.com
    QUOTA_FULL=defer
    PIPE_SERVICES=("maildeliver:vmail")
    # a static userdb: maildeliver knows no home (only SQL's home column), so only the global
    # scripts run
    SIEVE=global SIEVE_NA="static userdb, no home for maildeliver: global before script only"
    ;;
  *) die "unknown setup $SETUP" ;;
  esac
}

# db_create: create and load the setup's database; sets DB, DBUSER, DBPASS (and SQLITE_DB).
# The shared servers trust postgres on 127.0.0.1 and the socket, and root on MariaDB.
db_create() {
  local dir=$E2E/conf/$SETUP
  DB=$(rand_name md_e2e) DBPASS=""
  case $SETUP in pg) DBUSER=postgres ;; *) DBUSER=root ;; esac
  case $SETUP in
  pg)
    psql -X -q -h /var/run/postgresql -U postgres -d postgres -c "CREATE DATABASE $DB ENCODING 'UTF8' TEMPLATE template0" >/dev/null
    on_exit "psql -X -q -h /var/run/postgresql -U postgres -d postgres -c 'DROP DATABASE IF EXISTS $DB'"
    cat "$dir/schema.sql" "$dir/data.sql" | psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d "$DB" >/dev/null
    ;;
  my002 | my004)
    mysql -h 127.0.0.1 -P 3306 -u root -e "CREATE DATABASE $DB CHARACTER SET utf8mb4"
    on_exit "mysql -h 127.0.0.1 -P 3306 -u root -e 'DROP DATABASE IF EXISTS $DB'"
    cat "$dir/schema.sql" "$dir/data.sql" | mysql -h 127.0.0.1 -P 3306 -u root --default-character-set=utf8mb4 "$DB"
    ;;
  sqlite)
    SQLITE_DB=$T/db/$DB.sqlite
    mkdir -p "$T/db"; chmod 0755 "$T/db"
    cat "$dir/schema.sql" "$dir/data.sql" | sqlite3 -bail "$SQLITE_DB"
    chmod 0644 "$SQLITE_DB"
    ;;
  esac
  SQLITE_DB=${SQLITE_DB:-}
}

# db_sql SQL: run one statement in the setup's database.
db_sql() {
  case $SETUP in
  pg) psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d "$DB" -c "$1" >/dev/null ;;
  my002 | my004) mysql -h 127.0.0.1 -P 3306 -u root "$DB" -e "$1" ;;
  sqlite) sqlite3 -bail "$SQLITE_DB" "$1" ;;
  esac
}

# route_data ROUTE: per-route rows. With uid per domain the pipe route selects the
# pipe(8) service (and so the uid) per domain through the seed's transport table.
route_data() {
  case $SETUP:$1 in
  pg:pipe | sqlite:pipe)
    db_sql "UPDATE transport SET transport = 'maildeliver1001:' WHERE domain = 'domain.org'"
    db_sql "UPDATE transport SET transport = 'maildeliver1002:' WHERE domain = 'foo.org'"
    ;;
  pg:lmtp | sqlite:lmtp) # transport_maps unset: virtual_transport decides (seed 001's note)
    db_sql "UPDATE transport SET transport = 'virtual:'"
    ;;
  esac
}

# mail_root_prepare: what an administrator creates before the first delivery: the base
# directories, owned by the mailbox uid (maildeliver creates everything below them).
mail_root_prepare() {
  case $SETUP in
  pg | sqlite)
    install -d -m 0755 "$MAILROOT" "$MAILROOT/home"
    install -d -m 0750 -o 1001 -g 1001 "$MAILROOT/home/domain.org"
    install -d -m 0750 -o 1002 -g 1002 "$MAILROOT/home/foo.org"
    ;;
  my002)
    install -d -m 0755 "$MAILROOT" "$MAILROOT/home"
    install -d -m 0750 -o 5000 -g 5000 "$MAILROOT/home/vmail"
    ;;
  my004)
    install -d -m 0755 "$MAILROOT" "$MAILROOT/var" "$MAILROOT/var/spool"
    install -d -m 0750 -o 5000 -g 5000 "$MAILROOT/var/spool/vmail"
    ;;
  esac
}

# ensure_users: pipe(8)'s user= needs passwd entries: vmail (5000, as the anchors and
# seed 002 create it) and whatever owns uid 1001/1002 (created as mde2e1001/mde2e1002 if
# nobody does). They are left in place: another run, or another tool on the machine, may
# be using them by the time this one ends.
ensure_users() {
  local uid name
  if ! getent passwd vmail >/dev/null; then
    getent group vmail >/dev/null || groupadd -g 5000 vmail
    useradd -u 5000 -g vmail -d /nonexistent -s /usr/sbin/nologin -M vmail
    log "created user vmail (5000)"
  fi
  [[ $(id -u vmail) == 5000 ]] || die "user vmail exists but is not uid 5000"
  for uid in 1001 1002; do
    name=$(getent passwd "$uid" | cut -d: -f1) || true
    if [[ -z $name ]]; then
      name=mde2e$uid
      getent group "$uid" >/dev/null || groupadd -g "$uid" "$name"
      useradd -u "$uid" -g "$uid" -d /nonexistent -s /usr/sbin/nologin -M "$name"
      log "created user $name ($uid)"
    fi
    printf -v "USER_$uid" '%s' "$name"
  done
}
