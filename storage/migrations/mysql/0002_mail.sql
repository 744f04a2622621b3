-- Accepted mail: messages, their recipients (the delivery queue), events with daily rollups,
-- monthly usage, the suppression list and idempotency keys.
CREATE TABLE messages (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  uuid CHAR(36) NOT NULL,
  domain_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  api_key_id BIGINT NOT NULL DEFAULT 0,
  source VARCHAR(16) NOT NULL,
  mail_from VARCHAR(320) NOT NULL,
  subject TEXT NOT NULL,
  tags TEXT NOT NULL,
  header_message_id VARCHAR(255) NOT NULL DEFAULT '',
  raw LONGBLOB NOT NULL,
  track_links TINYINT NOT NULL DEFAULT 0,
  track_opens TINYINT NOT NULL DEFAULT 0,
  links MEDIUMTEXT NOT NULL,
  callback_url TEXT NOT NULL,
  userref VARCHAR(255) NOT NULL DEFAULT '',
  send_at BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  UNIQUE KEY messages_uuid (uuid),
  KEY messages_domain_created (domain_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE recipients (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  message_id BIGINT NOT NULL,
  domain_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  email VARCHAR(320) NOT NULL,
  kind VARCHAR(8) NOT NULL DEFAULT 'to',
  state VARCHAR(16) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_owner VARCHAR(64) NOT NULL DEFAULT '',
  lease_expires_at BIGINT NOT NULL DEFAULT 0,
  last_code INT NOT NULL DEFAULT 0,
  last_reply TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  KEY recipients_due (state, next_attempt_at),
  KEY recipients_message (message_id),
  KEY recipients_domain_state (domain_id, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE events (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  message_id BIGINT NOT NULL,
  recipient_id BIGINT NOT NULL DEFAULT 0,
  type VARCHAR(16) NOT NULL,
  email VARCHAR(320) NOT NULL DEFAULT '',
  code INT NOT NULL DEFAULT 0,
  details TEXT NOT NULL,
  url TEXT NOT NULL,
  user_agent VARCHAR(512) NOT NULL DEFAULT '',
  ip VARCHAR(64) NOT NULL DEFAULT '',
  bot TINYINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  KEY events_domain_created (domain_id, created_at),
  KEY events_domain_type_created (domain_id, type, created_at),
  KEY events_message (message_id),
  KEY events_recipient (recipient_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE stats_daily (
  domain_id BIGINT NOT NULL,
  day INT NOT NULL,
  tag VARCHAR(191) NOT NULL DEFAULT '',
  sent BIGINT NOT NULL DEFAULT 0,
  delivered BIGINT NOT NULL DEFAULT 0,
  deferred BIGINT NOT NULL DEFAULT 0,
  bounced BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  opened BIGINT NOT NULL DEFAULT 0,
  clicked BIGINT NOT NULL DEFAULT 0,
  unsubscribed BIGINT NOT NULL DEFAULT 0,
  complained BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (domain_id, day, tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE user_usage (
  user_id BIGINT NOT NULL,
  month INT NOT NULL,
  sent BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE suppressions (
  domain_id BIGINT NOT NULL,
  email VARCHAR(255) NOT NULL,
  reason VARCHAR(32) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (domain_id, email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE idempotency_keys (
  scope VARCHAR(128) NOT NULL,
  idem_key VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  status INT NOT NULL,
  response MEDIUMBLOB NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (scope, idem_key),
  KEY idempotency_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
