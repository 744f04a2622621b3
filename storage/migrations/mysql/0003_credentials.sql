-- SMTP credentials and the webhook registry of sender domains.
CREATE TABLE smtp_credentials (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  username VARCHAR(255) NOT NULL,
  password_hash CHAR(64) NOT NULL,
  allowed_networks TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE KEY smtp_credentials_username (username),
  KEY smtp_credentials_domain (domain_id),
  CONSTRAINT smtp_credentials_domain_fk FOREIGN KEY (domain_id) REFERENCES sender_domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE domain_webhooks (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  event VARCHAR(32) NOT NULL,
  url TEXT NOT NULL,
  url_hash CHAR(64) NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE KEY domain_webhooks_target (domain_id, event, url_hash),
  CONSTRAINT domain_webhooks_domain_fk FOREIGN KEY (domain_id) REFERENCES sender_domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
