-- Suppression scopes (octeth-5.9.4 suppression.md): one row per address and scope. user_id 0
-- is the system-wide list (the operator's); list_id names a subscriber list (per-list scope);
-- domain_id names a sender domain (the scope delivery writes: hard bounces, complaints and
-- unsubscribes of mail from that domain); both 0 with a user is the account-wide list.
-- source is Octeth's SuppressionSource enumeration; reason is free text.
CREATE TABLE suppressions_scoped (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  list_id INTEGER NOT NULL DEFAULT 0,
  domain_id INTEGER NOT NULL DEFAULT 0,
  email TEXT NOT NULL COLLATE NOCASE,
  source TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
INSERT INTO suppressions_scoped (user_id, list_id, domain_id, email, source, reason, created_at)
  SELECT COALESCE(d.user_id, 0), 0, s.domain_id, s.email,
    CASE s.reason WHEN 'hard_bounce' THEN 'Hard Bounced' WHEN 'complaint' THEN 'SPAM complaint'
      WHEN 'unsubscribe' THEN 'Unsubscribe' ELSE 'User' END, '', s.created_at
  FROM suppressions s LEFT JOIN sender_domains d ON d.id = s.domain_id;
DROP TABLE suppressions;
ALTER TABLE suppressions_scoped RENAME TO suppressions;
CREATE UNIQUE INDEX suppressions_scope_email ON suppressions (user_id, list_id, domain_id, email);
CREATE INDEX suppressions_email ON suppressions (email);
