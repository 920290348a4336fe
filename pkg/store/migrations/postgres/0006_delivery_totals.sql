-- Running totals of the ledger's outcomes per channel: how many messages each channel sent,
-- failed, and how many the caps and quiet hours held back, for the status of Channels and
-- DeliveryPolicies. Counting the ledger instead would read every row ever sent, at each update.
-- An outcome adds to them in its own transaction. channel is empty for a message no channel
-- could take (suppressed before one was chosen). Each worker adds to one of 16 slots, by its
-- name, so that workers in parallel do not queue for one counter's row lock; a read sums them.
CREATE TABLE delivery_totals (
    namespace TEXT    NOT NULL,
    channel   TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    slot      INTEGER NOT NULL,
    count     BIGINT  NOT NULL,
    PRIMARY KEY (namespace, channel, state, slot)
);

-- The outcomes recorded before the totals existed. A deferral is counted once per row here,
-- once per deferral from now on.
INSERT INTO delivery_totals (namespace, channel, state, slot, count)
    SELECT namespace, channel, state, 0, count(*) FROM deliveries
    WHERE state IN ('sent', 'failed', 'suppressed', 'capped', 'deferred')
    GROUP BY namespace, channel, state;
