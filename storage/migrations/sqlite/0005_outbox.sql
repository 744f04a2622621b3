-- The webhook and callback outbox: one row per (event, subscribed webhook) and per
-- (event, message callback_url), written in the transaction of the event, delivered by the
-- webhook dispatcher with leases like the delivery queue.
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  domain_id INTEGER NOT NULL,
  event_id INTEGER NOT NULL,
  webhook_id INTEGER NOT NULL DEFAULT 0,
  url TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  last_status INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_domain ON outbox (domain_id);
CREATE INDEX outbox_webhook ON outbox (webhook_id, state);
CREATE INDEX outbox_updated ON outbox (state, updated_at);
