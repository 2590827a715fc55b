-- Seed 004 (domains + users joined in view emails), verbatim.
-- The one copy of this schema: package testdb embeds it, e2e/conf/my004/schema.sql links to it.
CREATE TABLE domains (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL, PRIMARY KEY(id), UNIQUE KEY(name));
CREATE TABLE users (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  domain_id INT NOT NULL,
  PRIMARY KEY(id),
  UNIQUE KEY (name, domain_id),
  FOREIGN KEY (domain_id) REFERENCES domains(id) ON DELETE CASCADE);
CREATE VIEW emails AS SELECT
  CONCAT(users.name, '@', domains.name) AS name, password FROM
  users JOIN domains ON domains.id = users.domain_id;
