-- Rollup counters in shards: every write adds to one of 16 shard rows of its counter, picked
-- at random per transaction, and reads sum the shards (see the MySQL migration for why).
-- Existing rows are shard 0.
CREATE TABLE stats_daily_sharded (
  domain_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  tag TEXT NOT NULL DEFAULT '',
  shard INTEGER NOT NULL DEFAULT 0,
  sent INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  deferred INTEGER NOT NULL DEFAULT 0,
  bounced INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  opened INTEGER NOT NULL DEFAULT 0,
  clicked INTEGER NOT NULL DEFAULT 0,
  unsubscribed INTEGER NOT NULL DEFAULT 0,
  complained INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (domain_id, day, tag, shard)
);
INSERT INTO stats_daily_sharded (domain_id, day, tag, shard, sent, delivered, deferred, bounced, failed, opened, clicked,
  unsubscribed, complained)
  SELECT domain_id, day, tag, 0, sent, delivered, deferred, bounced, failed, opened, clicked, unsubscribed, complained
  FROM stats_daily;
DROP TABLE stats_daily;
ALTER TABLE stats_daily_sharded RENAME TO stats_daily;
CREATE TABLE user_usage_sharded (
  user_id INTEGER NOT NULL,
  month INTEGER NOT NULL,
  shard INTEGER NOT NULL DEFAULT 0,
  sent INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, month, shard)
);
INSERT INTO user_usage_sharded (user_id, month, shard, sent) SELECT user_id, month, 0, sent FROM user_usage;
DROP TABLE user_usage;
ALTER TABLE user_usage_sharded RENAME TO user_usage;
