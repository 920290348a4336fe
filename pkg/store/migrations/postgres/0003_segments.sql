-- Segments: who is in each audience now, who entered and left at each evaluation, and the links
-- that take a behavioural event to the profile it belongs to.
--
-- identity_links maps an identifier as events carry it (raw, as the source wrote it) to the
-- profile of a resolution's published generation whose normalised identifiers include it. The
-- segment worker rebuilds it when the resolution publishes a new generation and adds the
-- identifiers of events received since its watermark otherwise (identity_link_state), so that
-- a segment's query joins events to profiles without normalising anything in SQL.
CREATE TABLE identity_links (
    namespace        text COLLATE "C" NOT NULL,
    resolution       text COLLATE "C" NOT NULL,
    identifier_type  text COLLATE "C" NOT NULL,
    identifier_value text COLLATE "C" NOT NULL,
    profile_id       text COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, resolution, identifier_type, identifier_value)
);

CREATE TABLE identity_link_state (
    namespace        text COLLATE "C" NOT NULL,
    resolution       text COLLATE "C" NOT NULL,
    -- generation is the resolution generation the links were built from.
    generation       bigint      NOT NULL,
    -- received_through: events received up to this time (inclusive) are linked.
    received_through timestamptz NOT NULL,
    PRIMARY KEY (namespace, resolution)
);

-- Events by type and time, with the identifier, so that a segment's behavioural conditions read
-- the index alone.
CREATE INDEX events_by_type ON events (namespace, event_type, occurred_at, identifier_type, identifier_value);
-- Events received after a watermark, for linking new identifiers.
CREATE INDEX events_by_receipt ON events (namespace, received_at);

-- The current members of each segment, since when.
CREATE TABLE segment_members (
    namespace  text COLLATE "C" NOT NULL,
    segment    text COLLATE "C" NOT NULL,
    profile_id text COLLATE "C" NOT NULL,
    entered_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, segment, profile_id)
);

-- Every entry and exit, by evaluation. change is 'entered' or 'exited'.
CREATE TABLE segment_history (
    namespace  text COLLATE "C" NOT NULL,
    segment    text COLLATE "C" NOT NULL,
    evaluation bigint      NOT NULL,
    profile_id text COLLATE "C" NOT NULL,
    change     text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (namespace, segment, evaluation, profile_id)
);

CREATE INDEX segment_history_by_profile ON segment_history (namespace, profile_id, at);

-- One row per evaluation of a segment, numbered from 1.
CREATE TABLE segment_evaluations (
    namespace             text COLLATE "C" NOT NULL,
    segment               text COLLATE "C" NOT NULL,
    evaluation            bigint      NOT NULL,
    resolution            text COLLATE "C" NOT NULL,
    resolution_generation bigint      NOT NULL,
    started_at            timestamptz NOT NULL,
    finished_at           timestamptz NOT NULL,
    size                  bigint      NOT NULL,
    entered               bigint      NOT NULL,
    exited                bigint      NOT NULL,
    PRIMARY KEY (namespace, segment, evaluation)
);
