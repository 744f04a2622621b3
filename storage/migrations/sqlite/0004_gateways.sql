-- Upstream gateways (Navixy email gateways, B2Core mail providers, Tenevo message gateways),
-- their Tenevo contact methods, and each user's bound gateway.
CREATE TABLE gateways (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id INTEGER NOT NULL DEFAULT 0,
  leasable INTEGER NOT NULL DEFAULT 0,
  label TEXT NOT NULL DEFAULT '',
  interface TEXT NOT NULL DEFAULT 'email',
  provider TEXT NOT NULL DEFAULT 'smtp',
  host TEXT NOT NULL,
  port INTEGER NOT NULL DEFAULT 25,
  ssl_port INTEGER NOT NULL DEFAULT 465,
  username TEXT NOT NULL DEFAULT '',
  password_enc TEXT NOT NULL DEFAULT '',
  encryption TEXT NOT NULL DEFAULT 'starttls',
  from_address TEXT NOT NULL DEFAULT '',
  from_name TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1,
  timeout_ms INTEGER NOT NULL DEFAULT 60000,
  connect_timeout_ms INTEGER NOT NULL DEFAULT 60000,
  trust_all_hosts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX gateways_owner ON gateways (owner_id, interface);
CREATE TABLE gateway_methods (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  gateway_id INTEGER NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
  channel TEXT NOT NULL,
  detail TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX gateway_methods_gateway ON gateway_methods (gateway_id);
CREATE TABLE gateway_bindings (
  user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  gateway_id INTEGER NOT NULL,
  bound_at INTEGER NOT NULL
);
CREATE INDEX gateway_bindings_gateway ON gateway_bindings (gateway_id);
