-- Accounts, sessions, user API keys and sender domains.
CREATE TABLE user_groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  permissions TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
INSERT INTO user_groups (id, name, permissions, created_at) VALUES (1, 'Default', '*', 0);
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id INTEGER NOT NULL REFERENCES user_groups(id),
  username TEXT NOT NULL,
  email TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  first_name TEXT NOT NULL DEFAULT '',
  last_name TEXT NOT NULL DEFAULT '',
  company_name TEXT NOT NULL DEFAULT '',
  time_zone TEXT NOT NULL DEFAULT 'UTC',
  language TEXT NOT NULL DEFAULT 'en',
  account_status TEXT NOT NULL DEFAULT 'Enabled',
  reputation_level TEXT NOT NULL DEFAULT 'Trusted',
  verified INTEGER NOT NULL DEFAULT 1,
  max_sender_domains INTEGER NOT NULL DEFAULT 0,
  monthly_send_limit INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE TABLE admins (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX admins_username ON admins (username);
CREATE TABLE sessions (
  token_hash TEXT NOT NULL PRIMARY KEY,
  kind TEXT NOT NULL,
  subject_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE TABLE user_api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key_hash TEXT NOT NULL,
  key_enc TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX user_api_keys_hash ON user_api_keys (key_hash);
CREATE INDEX user_api_keys_user ON user_api_keys (user_id);
CREATE TABLE sender_domains (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  link_tracking INTEGER NOT NULL DEFAULT 0,
  open_tracking INTEGER NOT NULL DEFAULT 0,
  unsubscribe_link INTEGER NOT NULL DEFAULT 0,
  hosting_provider TEXT NOT NULL DEFAULT '',
  subdomain TEXT NOT NULL DEFAULT '',
  dkim_selector TEXT NOT NULL,
  dkim_private_enc TEXT NOT NULL,
  dkim_public TEXT NOT NULL,
  signing_key_enc TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  verified_at INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sender_domains_user_name ON sender_domains (user_id, name);
CREATE INDEX sender_domains_name ON sender_domains (name);
CREATE TABLE domain_api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES sender_domains(id),
  user_id INTEGER NOT NULL,
  key_hash TEXT NOT NULL,
  key_enc TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX domain_api_keys_hash ON domain_api_keys (key_hash);
CREATE INDEX domain_api_keys_domain ON domain_api_keys (domain_id);
