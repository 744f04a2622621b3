-- A sender domain's tracking host (octeth-5.9.4 adddomain/updatedomain): TrackPrefix (one DNS
-- label), TrackMerge (how it joins the Subdomain: '.' or '-'; empty is '.') and
-- TrackPrefixDisabled (tracking URLs on the MFROM domain instead).
ALTER TABLE sender_domains ADD COLUMN track_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE sender_domains ADD COLUMN track_merge TEXT NOT NULL DEFAULT '';
ALTER TABLE sender_domains ADD COLUMN track_prefix_disabled INTEGER NOT NULL DEFAULT 0;
