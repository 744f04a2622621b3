-- Suppression scopes (octeth-5.9.4 suppression.md): one row per address and scope. user_id 0
-- is the system-wide list (the operator's); list_id names a subscriber list (per-list scope);
-- domain_id names a sender domain (the scope delivery writes: hard bounces, complaints and
-- unsubscribes of mail from that domain); both 0 with a user is the account-wide list.
-- source is Octeth's SuppressionSource enumeration; reason is free text.
CREATE TABLE suppressions_scoped (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  list_id BIGINT NOT NULL DEFAULT 0,
  domain_id BIGINT NOT NULL DEFAULT 0,
  email VARCHAR(255) NOT NULL,
  source VARCHAR(32) NOT NULL,
  reason VARCHAR(255) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  UNIQUE KEY suppressions_scope_email (user_id, list_id, domain_id, email),
  KEY suppressions_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO suppressions_scoped (user_id, list_id, domain_id, email, source, reason, created_at)
  SELECT COALESCE(d.user_id, 0), 0, s.domain_id, s.email,
    CASE s.reason WHEN 'hard_bounce' THEN 'Hard Bounced' WHEN 'complaint' THEN 'SPAM complaint'
      WHEN 'unsubscribe' THEN 'Unsubscribe' ELSE 'User' END, '', s.created_at
  FROM suppressions s LEFT JOIN sender_domains d ON d.id = s.domain_id;
DROP TABLE suppressions;
RENAME TABLE suppressions_scoped TO suppressions;
