-- 1,000 benchmark users over 10 domains d0.example .. d9.example, all with
-- the one vmail uid/gid 5000, home <domain>/mails/<local> as in the seed.
--
-- Local parts come in 100 groups of 10 (group g: domain d<g/10>, j = g%10):
-- u<j>, 2u<j>, 3u<j>, ..., 10u<j>. smtp-source -r R -t u<j>@d<k>.example
-- sends to R recipients by prefixing a counter (R..2, then none), so every
-- group takes up to 10 recipients that all exist. bench/lib/env.sh's
-- rcpt_locals must agree with this.
INSERT INTO transport (domain, transport)
  SELECT 'd' || d || '.example', 'virtual:' FROM generate_series(0, 9) AS d;
INSERT INTO users (userid, password, realname, uid, gid, home)
  SELECT lp || '@d' || d || '.example', '{PLAIN}bench', 'bench user', 5000, 5000,
         'd' || d || '.example/mails/' || lp
  FROM (SELECT d, CASE WHEN n = 1 THEN '' ELSE n::text END || 'u' || j AS lp
        FROM generate_series(0, 9) AS d, generate_series(0, 9) AS j, generate_series(1, 10) AS n) AS s;
INSERT INTO virtual (address, userid)
  SELECT 'postmaster@d' || d || '.example', 'u0@d' || d || '.example' FROM generate_series(0, 9) AS d;
ANALYZE;
