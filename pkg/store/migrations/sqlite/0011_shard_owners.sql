-- A run's shard belongs to one worker at a time, which reads its due rows without writing them
-- and records each row's outcome once: the outcomes of a worker whose shard another has taken
-- over are refused. This replaces the lease each row had while it was sending.
CREATE TABLE delivery_shards (
    namespace TEXT    NOT NULL,
    campaign  TEXT    NOT NULL,
    run       TEXT    NOT NULL,
    shard     INTEGER NOT NULL,
    worker    TEXT    NOT NULL,
    taken_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, campaign, run, shard)
) WITHOUT ROWID;

-- Rows claimed under a lease are pending again: the next worker of their shard reads them.
UPDATE deliveries SET state = 'pending', sent_at = NULL WHERE state = 'sending';
ALTER TABLE deliveries DROP COLUMN lease_until;
-- The worker that recorded the row's last outcome.
ALTER TABLE deliveries RENAME COLUMN claimed_by TO recorded_by;

-- A worker reads its shard's due rows in the order they became due, and within one time in the
-- order they were planned: by rowid, which every index ends with. The index is the one claims
-- used, under the name of what it is for now.
DROP INDEX deliveries_to_claim;
CREATE INDEX deliveries_due ON deliveries (namespace, campaign, run, state, shard, not_before);
