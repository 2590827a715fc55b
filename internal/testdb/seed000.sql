-- Seed 000/001 (the Dovecot wiki's "Virtual Users with PostgreSQL" howto), tables and views
-- verbatim; SQLite accepts them unchanged. The one copy of this schema: package testdb
-- embeds it (Seed000), e2e/conf/{pg,sqlite}/schema.sql and bench/sql/schema.sql are links
-- to it. (The seed's mailreader/mailwriter roles are left out: roles are cluster-wide on
-- the shared server; the suites connect as postgres.)
CREATE TABLE transport (
  domain VARCHAR(128) NOT NULL,
  transport VARCHAR(128) NOT NULL,
  PRIMARY KEY (domain)
);
CREATE TABLE users (
  userid VARCHAR(128) NOT NULL,
  password VARCHAR(128),
  realname VARCHAR(128),
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  home VARCHAR(128),
  mail VARCHAR(255),
  PRIMARY KEY (userid)
);
CREATE TABLE virtual (
  address VARCHAR(255) NOT NULL,
  userid VARCHAR(255) NOT NULL,
  PRIMARY KEY (address)
);
create view postfix_mailboxes as
  select userid, home||'/' as mailbox from users
  union all
  select domain as userid, 'dummy' as mailbox from transport;
create view postfix_virtual as
  select userid, userid as address from users
  union all
  select userid, address from virtual;
