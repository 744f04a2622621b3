-- Audience: subscriber lists, their confirmation emails, custom fields, subscribers (custom
-- field values as one JSON object per subscriber), subscriber tags,
-- import and export jobs, and the list/subscriber a message was sent for.
CREATE TABLE subscriber_lists (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  opt_in_mode TEXT NOT NULL DEFAULT 'Single',
  sender_name TEXT NOT NULL DEFAULT '',
  sender_email TEXT NOT NULL DEFAULT '',
  sender_company TEXT NOT NULL DEFAULT '',
  sender_address TEXT NOT NULL DEFAULT '',
  confirmation_email_id INTEGER NOT NULL DEFAULT 0,
  opt_out_add_to_suppression INTEGER NOT NULL DEFAULT 0,
  opt_out_add_to_global_suppression INTEGER NOT NULL DEFAULT 0,
  settings TEXT NOT NULL DEFAULT '{}',
  options TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  archived_at INTEGER NOT NULL DEFAULT 0,
  last_activity_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX subscriber_lists_user ON subscriber_lists (user_id, id);
CREATE TABLE list_emails (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  list_id INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_name TEXT NOT NULL DEFAULT '',
  from_email TEXT NOT NULL DEFAULT '',
  reply_to_name TEXT NOT NULL DEFAULT '',
  reply_to_email TEXT NOT NULL DEFAULT '',
  content_type TEXT NOT NULL DEFAULT 'HTML',
  html_content TEXT NOT NULL DEFAULT '',
  plain_content TEXT NOT NULL DEFAULT '',
  preheader TEXT NOT NULL DEFAULT '',
  mode TEXT NOT NULL DEFAULT 'Empty',
  template_id INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX list_emails_user ON list_emails (user_id);
CREATE TABLE custom_fields (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  list_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  field_type TEXT NOT NULL,
  data_type TEXT NOT NULL DEFAULT '',
  default_value TEXT NOT NULL DEFAULT '',
  validation_method TEXT NOT NULL DEFAULT 'Disabled',
  validation_rule TEXT NOT NULL DEFAULT '',
  merge_tag_alias TEXT NOT NULL DEFAULT '',
  options TEXT NOT NULL DEFAULT '[]',
  is_required INTEGER NOT NULL DEFAULT 0,
  is_unique INTEGER NOT NULL DEFAULT 0,
  visibility TEXT NOT NULL DEFAULT 'User Only',
  is_global INTEGER NOT NULL DEFAULT 0,
  years TEXT NOT NULL DEFAULT '',
  meta TEXT NOT NULL DEFAULT '{}',
  unique_identifier INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX custom_fields_user_list ON custom_fields (user_id, list_id);
CREATE TABLE subscribers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  list_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  email TEXT NOT NULL COLLATE NOCASE,
  status TEXT NOT NULL,
  bounce_type TEXT NOT NULL DEFAULT 'Not Bounced',
  subscription_date INTEGER NOT NULL DEFAULT 0,
  subscription_ip TEXT NOT NULL DEFAULT '',
  unsubscription_date INTEGER NOT NULL DEFAULT 0,
  unsubscription_ip TEXT NOT NULL DEFAULT '',
  opt_in_date INTEGER NOT NULL DEFAULT 0,
  confirmation_code TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT 'Unknown',
  source_ref TEXT NOT NULL DEFAULT '',
  fields TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX subscribers_list_email ON subscribers (list_id, email);
CREATE INDEX subscribers_list_status ON subscribers (list_id, status, id);
CREATE TABLE subscriber_tags (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  list_id INTEGER NOT NULL,
  name TEXT NOT NULL COLLATE NOCASE,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX subscriber_tags_list_name ON subscriber_tags (list_id, name);
CREATE TABLE subscriber_tag_members (
  tag_id INTEGER NOT NULL,
  subscriber_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tag_id, subscriber_id)
);
CREATE INDEX subscriber_tag_members_subscriber ON subscriber_tag_members (subscriber_id);
CREATE TABLE subscriber_imports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  list_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  options TEXT NOT NULL DEFAULT '{}',
  data BLOB NOT NULL,
  rows_done INTEGER NOT NULL DEFAULT 0,
  total INTEGER NOT NULL DEFAULT 0,
  imported INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  failed_data TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX subscriber_imports_status ON subscriber_imports (status, id);
CREATE TABLE subscriber_exports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  list_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  options TEXT NOT NULL DEFAULT '{}',
  result BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX subscriber_exports_list ON subscriber_exports (list_id, id);
CREATE INDEX subscriber_exports_status ON subscriber_exports (status, id);
ALTER TABLE messages ADD COLUMN list_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN subscriber_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_list ON messages (list_id, subscriber_id);
