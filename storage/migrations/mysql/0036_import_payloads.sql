-- Subscriber imports: a job's source payload moves to a table of its own, so that the job's
-- progress row (updated after every batch, read by subscribers.import.get) stays small; with
-- the payload in that row each batch rewrote the whole source.
CREATE TABLE subscriber_import_data (
  import_id BIGINT NOT NULL PRIMARY KEY,
  data LONGBLOB NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO subscriber_import_data (import_id, data)
  SELECT id, data FROM subscriber_imports WHERE status IN ('Pending', 'Processing');
ALTER TABLE subscriber_imports DROP COLUMN data;
