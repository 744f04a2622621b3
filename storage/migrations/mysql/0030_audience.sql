-- Audience: subscriber lists, their confirmation emails, custom fields, subscribers (custom
-- field values as one JSON object per subscriber), subscriber tags,
-- import and export jobs, and the list/subscriber a message was sent for.
CREATE TABLE subscriber_lists (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  name VARCHAR(255) NOT NULL,
  description TEXT NOT NULL,
  opt_in_mode VARCHAR(64) NOT NULL DEFAULT 'Single',
  sender_name VARCHAR(255) NOT NULL DEFAULT '',
  sender_email VARCHAR(255) NOT NULL DEFAULT '',
  sender_company TEXT NOT NULL,
  sender_address TEXT NOT NULL,
  confirmation_email_id BIGINT NOT NULL DEFAULT 0,
  opt_out_add_to_suppression BIGINT NOT NULL DEFAULT 0,
  opt_out_add_to_global_suppression BIGINT NOT NULL DEFAULT 0,
  settings TEXT NOT NULL,
  options TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  archived_at BIGINT NOT NULL DEFAULT 0,
  last_activity_at BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX subscriber_lists_user ON subscriber_lists (user_id, id);
CREATE TABLE list_emails (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  list_id BIGINT NOT NULL DEFAULT 0,
  name VARCHAR(255) NOT NULL DEFAULT '',
  subject TEXT NOT NULL,
  from_name VARCHAR(255) NOT NULL DEFAULT '',
  from_email VARCHAR(255) NOT NULL DEFAULT '',
  reply_to_name VARCHAR(255) NOT NULL DEFAULT '',
  reply_to_email VARCHAR(255) NOT NULL DEFAULT '',
  content_type VARCHAR(64) NOT NULL DEFAULT 'HTML',
  html_content MEDIUMTEXT NOT NULL,
  plain_content MEDIUMTEXT NOT NULL,
  preheader TEXT NOT NULL,
  mode VARCHAR(64) NOT NULL DEFAULT 'Empty',
  template_id BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX list_emails_user ON list_emails (user_id);
CREATE TABLE custom_fields (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  list_id BIGINT NOT NULL,
  name VARCHAR(255) NOT NULL,
  field_type VARCHAR(64) NOT NULL,
  data_type VARCHAR(64) NOT NULL DEFAULT '',
  default_value TEXT NOT NULL,
  validation_method VARCHAR(64) NOT NULL DEFAULT 'Disabled',
  validation_rule TEXT NOT NULL,
  merge_tag_alias VARCHAR(255) NOT NULL DEFAULT '',
  options TEXT NOT NULL,
  is_required BIGINT NOT NULL DEFAULT 0,
  is_unique BIGINT NOT NULL DEFAULT 0,
  visibility VARCHAR(64) NOT NULL DEFAULT 'User Only',
  is_global BIGINT NOT NULL DEFAULT 0,
  years VARCHAR(64) NOT NULL DEFAULT '',
  meta TEXT NOT NULL,
  unique_identifier BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX custom_fields_user_list ON custom_fields (user_id, list_id);
CREATE TABLE subscribers (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  list_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  email VARCHAR(320) NOT NULL,
  status VARCHAR(64) NOT NULL,
  bounce_type VARCHAR(64) NOT NULL DEFAULT 'Not Bounced',
  subscription_date BIGINT NOT NULL DEFAULT 0,
  subscription_ip VARCHAR(64) NOT NULL DEFAULT '',
  unsubscription_date BIGINT NOT NULL DEFAULT 0,
  unsubscription_ip VARCHAR(64) NOT NULL DEFAULT '',
  opt_in_date BIGINT NOT NULL DEFAULT 0,
  confirmation_code VARCHAR(64) NOT NULL DEFAULT '',
  source VARCHAR(64) NOT NULL DEFAULT 'Unknown',
  source_ref VARCHAR(64) NOT NULL DEFAULT '',
  fields MEDIUMTEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE UNIQUE INDEX subscribers_list_email ON subscribers (list_id, email);
CREATE INDEX subscribers_list_status ON subscribers (list_id, status, id);
CREATE TABLE subscriber_tags (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  list_id BIGINT NOT NULL,
  name VARCHAR(255) NOT NULL,
  description TEXT NOT NULL,
  created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE UNIQUE INDEX subscriber_tags_list_name ON subscriber_tags (list_id, name);
CREATE TABLE subscriber_tag_members (
  tag_id BIGINT NOT NULL,
  subscriber_id BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tag_id, subscriber_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX subscriber_tag_members_subscriber ON subscriber_tag_members (subscriber_id);
CREATE TABLE subscriber_imports (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  list_id BIGINT NOT NULL,
  status VARCHAR(64) NOT NULL,
  options TEXT NOT NULL,
  data LONGBLOB NOT NULL,
  rows_done BIGINT NOT NULL DEFAULT 0,
  total BIGINT NOT NULL DEFAULT 0,
  imported BIGINT NOT NULL DEFAULT 0,
  duplicates BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  failed_data MEDIUMTEXT NOT NULL,
  created_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX subscriber_imports_status ON subscriber_imports (status, id);
CREATE TABLE subscriber_exports (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  list_id BIGINT NOT NULL,
  status VARCHAR(64) NOT NULL,
  options TEXT NOT NULL,
  result LONGBLOB NOT NULL,
  created_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX subscriber_exports_list ON subscriber_exports (list_id, id);
CREATE INDEX subscriber_exports_status ON subscriber_exports (status, id);
ALTER TABLE messages ADD COLUMN list_id BIGINT NOT NULL DEFAULT 0, ADD COLUMN subscriber_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_list ON messages (list_id, subscriber_id);
