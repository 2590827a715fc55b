-- Scale-out suite (e2e/scaleout.sh): one userdb for every machine. Each row names the
-- backend that holds the mailbox: host/port/proxy_maybe are Dovecot's proxy fields (lmtpd
-- [lmtp] proxy = true), and Postfix's transport_maps recipe builds its nexthop from the
-- same two columns, so both routes agree on where a user lives.
CREATE TABLE users (
  userid VARCHAR(128) NOT NULL PRIMARY KEY,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  host VARCHAR(64) NOT NULL,
  port INTEGER NOT NULL,
  proxy_maybe CHAR(1) NOT NULL DEFAULT 'y'
);
