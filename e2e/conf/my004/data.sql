-- Seed 004 test data (info@hoge.com, info@fuga.com, admin@hoge.com) plus a UTF-8 user.
INSERT INTO domains(name) VALUES ('hoge.com'), ('fuga.com');
INSERT INTO users(name, password, domain_id) VALUES
  ('info', '{PLAIN}infopass', 1),
  ('info', '{PLAIN}infopass', 2),
  ('admin', '{PLAIN}adminpass', 1),
  ('josé', '{PLAIN}josepass', 1);
