-- Accounts (octeth-5.9.4 users.md): the profile fields user.create and user.update take
-- (Website, Street, City ... as one JSON object), a user group's settings (the Limit* values,
-- Force* flags, Options, DefaultRateLimits ... of usergroup.create/update/patch, one JSON
-- object), and the one-time tokens of user.passwordremind / user.passwordreset (kept by hash).
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE user_groups ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
CREATE TABLE password_resets (
  token_hash TEXT NOT NULL PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX password_resets_user ON password_resets (user_id);
