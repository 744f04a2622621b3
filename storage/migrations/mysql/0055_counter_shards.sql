-- Rollup counters in shards: every write adds to one of 16 shard rows of its counter, picked
-- at random per transaction, and reads sum the shards. Nodes of a Galera cluster writing the
-- same counter then rarely touch the same row (a certification conflict that reruns the whole
-- batch), and writers on one server rarely wait on one row lock. Existing rows are shard 0.
ALTER TABLE stats_daily ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0, DROP PRIMARY KEY, ADD PRIMARY KEY (domain_id, day, tag, shard);
ALTER TABLE user_usage ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0, DROP PRIMARY KEY, ADD PRIMARY KEY (user_id, month, shard);
