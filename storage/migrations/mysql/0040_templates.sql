-- User email templates (octeth-5.9.4/user-email-templates.md), and what a message keeps of
-- the audience send that made it: the journey and action it was sent for, and whether its
-- bodies carry per-recipient link placeholders (%Link:Unsubscribe%, %Link:WebBrowser%) that
-- delivery fills in.
CREATE TABLE email_templates (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  name VARCHAR(255) NOT NULL,
  subject TEXT NOT NULL,
  preheader TEXT NOT NULL,
  content_type VARCHAR(16) NOT NULL DEFAULT 'HTML',
  html_content MEDIUMTEXT NOT NULL,
  plain_content MEDIUMTEXT NOT NULL,
  extra_content1 MEDIUMTEXT NOT NULL,
  extra_content2 MEDIUMTEXT NOT NULL,
  mode VARCHAR(16) NOT NULL DEFAULT 'Editor',
  image_embedding VARCHAR(16) NOT NULL DEFAULT 'Disabled',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  KEY email_templates_user (user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
ALTER TABLE messages ADD COLUMN journey_id BIGINT NOT NULL DEFAULT 0, ADD COLUMN action_id BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN placeholders TINYINT NOT NULL DEFAULT 0;
