-- Accounts (octeth-5.9.4 users.md): the profile fields user.create and user.update take
-- (Website, Street, City ... as one JSON object), a user group's settings (the Limit* values,
-- Force* flags, Options, DefaultRateLimits ... of usergroup.create/update/patch, one JSON
-- object), and the one-time tokens of user.passwordremind / user.passwordreset (kept by hash).
-- The JSON columns are NULL until written; readers take NULL as {}.
ALTER TABLE users ADD COLUMN profile TEXT NULL;
ALTER TABLE user_groups ADD COLUMN settings MEDIUMTEXT NULL;
CREATE TABLE password_resets (
  token_hash CHAR(64) NOT NULL PRIMARY KEY,
  user_id BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  KEY password_resets_user (user_id),
  CONSTRAINT password_resets_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
