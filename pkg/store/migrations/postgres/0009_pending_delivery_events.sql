-- The events of delivery outcomes, written with each outcome and moved into events in bulk a few
-- seconds later (FlushDeliveryEvents): an outcome's transaction appends one row here instead of
-- updating the four indexes of events, which a worker would do again at every group commit of a
-- few dozen outcomes. id orders them; the other columns are the event's but its receipt time,
-- which is when it reaches events.
CREATE TABLE delivery_events_pending (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace        text COLLATE "C" NOT NULL,
    source           text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL,
    event_type       text COLLATE "C" NOT NULL,
    occurred_at      timestamptz NOT NULL,
    identifier_type  text COLLATE "C" NOT NULL,
    identifier_value text COLLATE "C" NOT NULL,
    properties       jsonb       NOT NULL
);
