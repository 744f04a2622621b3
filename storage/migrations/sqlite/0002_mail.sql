-- Accepted mail: messages, their recipients (the delivery queue), events with daily rollups,
-- monthly usage, the suppression list and idempotency keys.
CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL,
  domain_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  api_key_id INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL,
  mail_from TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  header_message_id TEXT NOT NULL DEFAULT '',
  raw BLOB NOT NULL,
  track_links INTEGER NOT NULL DEFAULT 0,
  track_opens INTEGER NOT NULL DEFAULT 0,
  links TEXT NOT NULL DEFAULT '',
  callback_url TEXT NOT NULL DEFAULT '',
  userref TEXT NOT NULL DEFAULT '',
  send_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_uuid ON messages (uuid);
CREATE INDEX messages_domain_created ON messages (domain_id, created_at);
CREATE TABLE recipients (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL,
  domain_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  email TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'to',
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  last_code INTEGER NOT NULL DEFAULT 0,
  last_reply TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX recipients_due ON recipients (state, next_attempt_at);
CREATE INDEX recipients_message ON recipients (message_id);
CREATE INDEX recipients_domain_state ON recipients (domain_id, state);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  recipient_id INTEGER NOT NULL DEFAULT 0,
  type TEXT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  code INTEGER NOT NULL DEFAULT 0,
  details TEXT NOT NULL DEFAULT '',
  url TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  ip TEXT NOT NULL DEFAULT '',
  bot INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX events_domain_created ON events (domain_id, created_at);
CREATE INDEX events_domain_type_created ON events (domain_id, type, created_at);
CREATE INDEX events_message ON events (message_id);
CREATE INDEX events_recipient ON events (recipient_id);
CREATE TABLE stats_daily (
  domain_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  tag TEXT NOT NULL DEFAULT '',
  sent INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  deferred INTEGER NOT NULL DEFAULT 0,
  bounced INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  opened INTEGER NOT NULL DEFAULT 0,
  clicked INTEGER NOT NULL DEFAULT 0,
  unsubscribed INTEGER NOT NULL DEFAULT 0,
  complained INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (domain_id, day, tag)
);
CREATE TABLE user_usage (
  user_id INTEGER NOT NULL,
  month INTEGER NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, month)
);
CREATE TABLE suppressions (
  domain_id INTEGER NOT NULL,
  email TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (domain_id, email)
);
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  response BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);
