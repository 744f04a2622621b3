-- Accounts, sessions, user API keys and sender domains.
CREATE TABLE user_groups (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  permissions TEXT NOT NULL,
  created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO user_groups (id, name, permissions, created_at) VALUES (1, 'Default', '*', 0);
CREATE TABLE users (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  group_id BIGINT NOT NULL,
  username VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  first_name VARCHAR(255) NOT NULL DEFAULT '',
  last_name VARCHAR(255) NOT NULL DEFAULT '',
  company_name VARCHAR(255) NOT NULL DEFAULT '',
  time_zone VARCHAR(64) NOT NULL DEFAULT 'UTC',
  language VARCHAR(16) NOT NULL DEFAULT 'en',
  account_status VARCHAR(32) NOT NULL DEFAULT 'Enabled',
  reputation_level VARCHAR(32) NOT NULL DEFAULT 'Trusted',
  verified TINYINT NOT NULL DEFAULT 1,
  max_sender_domains INT NOT NULL DEFAULT 0,
  monthly_send_limit BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  UNIQUE KEY users_username (username),
  UNIQUE KEY users_email (email),
  CONSTRAINT users_group FOREIGN KEY (group_id) REFERENCES user_groups (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE admins (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL DEFAULT '',
  password_hash VARCHAR(255) NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE KEY admins_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE sessions (
  token_hash CHAR(64) NOT NULL PRIMARY KEY,
  kind VARCHAR(16) NOT NULL,
  subject_id BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  KEY sessions_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE user_api_keys (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  key_hash CHAR(64) NOT NULL,
  key_enc TEXT NOT NULL,
  description VARCHAR(255) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  UNIQUE KEY user_api_keys_hash (key_hash),
  KEY user_api_keys_user (user_id),
  CONSTRAINT user_api_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE sender_domains (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  name VARCHAR(255) NOT NULL,
  status VARCHAR(32) NOT NULL,
  link_tracking TINYINT NOT NULL DEFAULT 0,
  open_tracking TINYINT NOT NULL DEFAULT 0,
  unsubscribe_link TINYINT NOT NULL DEFAULT 0,
  hosting_provider VARCHAR(255) NOT NULL DEFAULT '',
  subdomain VARCHAR(63) NOT NULL DEFAULT '',
  dkim_selector VARCHAR(63) NOT NULL,
  dkim_private_enc TEXT NOT NULL,
  dkim_public TEXT NOT NULL,
  signing_key_enc TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  verified_at BIGINT NOT NULL DEFAULT 0,
  UNIQUE KEY sender_domains_user_name (user_id, name),
  KEY sender_domains_name (name),
  CONSTRAINT sender_domains_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE domain_api_keys (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  key_hash CHAR(64) NOT NULL,
  key_enc TEXT NOT NULL,
  description VARCHAR(255) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  UNIQUE KEY domain_api_keys_hash (key_hash),
  KEY domain_api_keys_domain (domain_id),
  CONSTRAINT domain_api_keys_domain_fk FOREIGN KEY (domain_id) REFERENCES sender_domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
