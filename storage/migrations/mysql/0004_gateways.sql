-- Upstream gateways (Navixy email gateways, B2Core mail providers, Tenevo message gateways),
-- their Tenevo contact methods, and each user's bound gateway.
CREATE TABLE gateways (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  owner_id BIGINT NOT NULL DEFAULT 0,
  leasable TINYINT NOT NULL DEFAULT 0,
  label VARCHAR(255) NOT NULL DEFAULT '',
  interface VARCHAR(16) NOT NULL DEFAULT 'email',
  provider VARCHAR(64) NOT NULL DEFAULT 'smtp',
  host VARCHAR(255) NOT NULL,
  port INT NOT NULL DEFAULT 25,
  ssl_port INT NOT NULL DEFAULT 465,
  username VARCHAR(255) NOT NULL DEFAULT '',
  password_enc TEXT NOT NULL,
  encryption VARCHAR(16) NOT NULL DEFAULT 'starttls',
  from_address VARCHAR(255) NOT NULL DEFAULT '',
  from_name VARCHAR(255) NOT NULL DEFAULT '',
  enabled TINYINT NOT NULL DEFAULT 1,
  timeout_ms INT NOT NULL DEFAULT 60000,
  connect_timeout_ms INT NOT NULL DEFAULT 60000,
  trust_all_hosts TINYINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  KEY gateways_owner (owner_id, interface)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE gateway_methods (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  gateway_id BIGINT NOT NULL,
  channel VARCHAR(16) NOT NULL,
  detail VARCHAR(255) NOT NULL,
  priority INT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  KEY gateway_methods_gateway (gateway_id),
  CONSTRAINT gateway_methods_gateway_fk FOREIGN KEY (gateway_id) REFERENCES gateways (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE gateway_bindings (
  user_id BIGINT NOT NULL PRIMARY KEY,
  gateway_id BIGINT NOT NULL,
  bound_at BIGINT NOT NULL,
  KEY gateway_bindings_gateway (gateway_id),
  CONSTRAINT gateway_bindings_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
