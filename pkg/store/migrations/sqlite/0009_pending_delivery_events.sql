-- The events of delivery outcomes, written with each outcome and moved into events in bulk a few
-- seconds later (FlushDeliveryEvents): an outcome's transaction appends one row here instead of
-- updating the four indexes of events, which a worker would do again at every group commit of a
-- few dozen outcomes. id orders them; the other columns are the event's but its receipt time,
-- which is when it reaches events.
CREATE TABLE delivery_events_pending (
    id               INTEGER PRIMARY KEY,
    namespace        TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    occurred_at      INTEGER NOT NULL,
    identifier_type  TEXT    NOT NULL,
    identifier_value TEXT    NOT NULL,
    properties       TEXT    NOT NULL
);
