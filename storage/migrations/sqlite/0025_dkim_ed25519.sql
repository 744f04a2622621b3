-- RFC 8463 Ed25519 DKIM, a per-domain option (emailgateway.updatedomain DKIMEd25519): a second
-- key and selector; when set, delivery signs with it as well as with the RSA key.
ALTER TABLE sender_domains ADD COLUMN dkim_ed25519_selector TEXT NOT NULL DEFAULT '';
ALTER TABLE sender_domains ADD COLUMN dkim_ed25519_private_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE sender_domains ADD COLUMN dkim_ed25519_public TEXT NOT NULL DEFAULT '';
