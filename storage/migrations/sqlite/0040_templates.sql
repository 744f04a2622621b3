-- User email templates (octeth-5.9.4/user-email-templates.md), and what a message keeps of
-- the audience send that made it: the journey and action it was sent for, and whether its
-- bodies carry per-recipient link placeholders (%Link:Unsubscribe%, %Link:WebBrowser%) that
-- delivery fills in.
CREATE TABLE email_templates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  preheader TEXT NOT NULL DEFAULT '',
  content_type TEXT NOT NULL DEFAULT 'HTML',
  html_content TEXT NOT NULL DEFAULT '',
  plain_content TEXT NOT NULL DEFAULT '',
  extra_content1 TEXT NOT NULL DEFAULT '',
  extra_content2 TEXT NOT NULL DEFAULT '',
  mode TEXT NOT NULL DEFAULT 'Editor',
  image_embedding TEXT NOT NULL DEFAULT 'Disabled',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX email_templates_user ON email_templates (user_id, id);
ALTER TABLE messages ADD COLUMN journey_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN action_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN placeholders INTEGER NOT NULL DEFAULT 0;
