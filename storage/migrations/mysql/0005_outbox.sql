-- The webhook and callback outbox: one row per (event, subscribed webhook) and per
-- (event, message callback_url), written in the transaction of the event, delivered by the
-- webhook dispatcher with leases like the delivery queue.
CREATE TABLE outbox (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind VARCHAR(16) NOT NULL,
  domain_id BIGINT NOT NULL,
  event_id BIGINT NOT NULL,
  webhook_id BIGINT NOT NULL DEFAULT 0,
  url TEXT NOT NULL,
  endpoint VARCHAR(255) NOT NULL,
  payload MEDIUMTEXT NOT NULL,
  state VARCHAR(16) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_owner VARCHAR(64) NOT NULL DEFAULT '',
  lease_expires_at BIGINT NOT NULL DEFAULT 0,
  last_status INT NOT NULL DEFAULT 0,
  last_error VARCHAR(512) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  KEY outbox_due (state, next_attempt_at),
  KEY outbox_domain (domain_id),
  KEY outbox_webhook (webhook_id, state),
  KEY outbox_updated (state, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
