-- SMTP credentials and the webhook registry of sender domains.
CREATE TABLE smtp_credentials (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES sender_domains(id),
  user_id INTEGER NOT NULL,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  allowed_networks TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX smtp_credentials_username ON smtp_credentials (username);
CREATE INDEX smtp_credentials_domain ON smtp_credentials (domain_id);
CREATE TABLE domain_webhooks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES sender_domains(id),
  user_id INTEGER NOT NULL,
  event TEXT NOT NULL,
  url TEXT NOT NULL,
  url_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX domain_webhooks_target ON domain_webhooks (domain_id, event, url_hash);
