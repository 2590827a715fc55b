-- Seed 002 test data (sales@centos.bz) plus a second domain, an alias in forwardings
-- and one user with a UTF-8 local part. Everyone is vmail (5000).
INSERT INTO domains (domain) VALUES ('centos.bz'), ('shuame.org');
INSERT INTO users (email, password) VALUES ('sales@centos.bz', '{PLAIN}secret');
INSERT INTO users (email, password) VALUES ('info@centos.bz', '{PLAIN}secret');
INSERT INTO users (email, password) VALUES ('info@shuame.org', '{PLAIN}secret');
INSERT INTO users (email, password) VALUES ('josé@centos.bz', '{PLAIN}secret');
INSERT INTO forwardings (source, destination) VALUES ('webmaster@shuame.org', 'info@shuame.org');
