-- 100,000 users whose mailboxes do not exist before they are timed (the
-- cold rows: each message of a run to a mailbox its delivery creates),
-- over 100 domains c0.example .. c99.example, local parts n0 .. n999, home
-- <domain>/mails/<local> as in users.sql. Cold user i (0..99999) is
-- n<i/100>@c<i%100>.example: bench/lib/env.sh's cold_addr must agree.
INSERT INTO users (userid, password, realname, uid, gid, home)
  SELECT 'n' || n || '@c' || d || '.example', '{PLAIN}bench', 'cold bench user', 5000, 5000,
         'c' || d || '.example/mails/n' || n
  FROM generate_series(0, 99) AS d, generate_series(0, 999) AS n;
ANALYZE users;
