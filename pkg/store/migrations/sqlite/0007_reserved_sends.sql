-- Frequency caps count the sends a worker has reserved and not yet recorded, from every campaign:
-- a row being sent carries the time of its reservation in sent_at until its outcome replaces it
-- (sent) or clears it (anything else). The caps' index therefore holds every row with a send
-- time, sent or reserved, and only those rows may have one.
UPDATE deliveries SET sent_at = NULL WHERE state <> 'sent' AND sent_at IS NOT NULL;
DROP INDEX deliveries_sent;
CREATE INDEX deliveries_sent ON deliveries (namespace, profile_id, sent_at, channel_type, purpose, campaign)
    WHERE sent_at IS NOT NULL;

-- The running totals, per DeliveryPolicy too: each policy's status shows what it held back
-- itself, not its whole namespace. last_at is the latest outcome a counter counted, for a
-- Channel's last send. Outcomes recorded before this migration belong to no policy ('').
ALTER TABLE delivery_totals RENAME TO delivery_totals_0006;
CREATE TABLE delivery_totals (
    namespace TEXT    NOT NULL,
    channel   TEXT    NOT NULL,
    -- policy is the DeliveryPolicy the campaign ran under; empty when none did.
    policy    TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    slot      INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    last_at   INTEGER,
    PRIMARY KEY (namespace, channel, policy, state, slot)
) WITHOUT ROWID;
INSERT INTO delivery_totals (namespace, channel, policy, state, slot, count)
    SELECT namespace, channel, '', state, slot, count FROM delivery_totals_0006;
DROP TABLE delivery_totals_0006;
