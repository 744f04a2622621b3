-- A GatewayAPI /rest/email request answers one id (the document's two-recipient example
-- answers "ids":[431332671]) but gives each recipient its own message (its own tag values).
-- request_id is the id of the request's first message on every later message of the same
-- request; 0 on the first one (its own id is the request's) and on mail of other surfaces.
ALTER TABLE messages ADD COLUMN request_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_request ON messages (request_id);
