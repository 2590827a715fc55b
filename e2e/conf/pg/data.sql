-- Seed 000/001 example values (uid/gid per domain: 1001 domain.org, 1002 foo.org),
-- plus one user with a UTF-8 local part for the SMTPUTF8 case.
insert into transport (domain, transport) values ('domain.org', 'virtual:');
insert into transport (domain, transport) values ('foo.org', 'virtual:');
insert into users (userid, uid, gid, home) values ('user@domain.org', 1001, 1001, 'domain.org/mails/user');
insert into users (userid, uid, gid, home) values ('user2@domain.org', 1001, 1001, 'domain.org/mails/user2');
insert into users (userid, uid, gid, home) values ('user@foo.org', 1002, 1002, 'foo.org/mails/user');
insert into virtual (address, userid) values ('foo@foo.org', 'user@foo.org');
insert into users (userid, uid, gid, home) values ('josé@domain.org', 1001, 1001, 'domain.org/mails/jose');
-- pipe route only: a transport row for one address sends it to the uid-1001 service although
-- the mailbox is 1002's: deliver, running as 1001, must fail temporarily (uid mismatch)
insert into users (userid, uid, gid, home) values ('misrouted@foo.org', 1002, 1002, 'foo.org/mails/misrouted');
insert into transport (domain, transport) values ('misrouted@foo.org', 'maildeliver1001:');
-- Sieve (e2e/lib/sieve.sh): a user with a Roundcube filter and a vacation script, one whose
-- script redirects to user2@domain.org, one whose script does not compile
insert into users (userid, uid, gid, home) values ('vacation@domain.org', 1001, 1001, 'domain.org/mails/vacation');
insert into users (userid, uid, gid, home) values ('redirect@foo.org', 1002, 1002, 'foo.org/mails/redirect');
insert into users (userid, uid, gid, home) values ('broken@domain.org', 1001, 1001, 'domain.org/mails/broken');
