-- Recipient-domain statistics (emailgateway.recipientdomainstats, listrecipientdomains) read
-- one sender domain's recipients over a period of acceptance.
CREATE INDEX recipients_domain_created ON recipients (domain_id, created_at);
