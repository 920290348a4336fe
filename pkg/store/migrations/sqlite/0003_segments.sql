-- Segments: who is in each audience now, who entered and left at each evaluation, and the links
-- that take a behavioural event to the profile it belongs to.
--
-- identity_links maps an identifier as events carry it (raw, as the source wrote it) to the
-- profile of a resolution's published generation whose normalised identifiers include it. The
-- segment worker rebuilds it when the resolution publishes a new generation and adds the
-- identifiers of events received since its watermark otherwise (identity_link_state), so that
-- a segment's query joins events to profiles without normalising anything in SQL.
CREATE TABLE identity_links (
    namespace        TEXT NOT NULL,
    resolution       TEXT NOT NULL,
    identifier_type  TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    profile_id       TEXT NOT NULL,
    PRIMARY KEY (namespace, resolution, identifier_type, identifier_value)
) WITHOUT ROWID;

CREATE TABLE identity_link_state (
    namespace  TEXT    NOT NULL,
    resolution TEXT    NOT NULL,
    -- generation is the resolution generation the links were built from.
    generation INTEGER NOT NULL,
    -- received_through: events received up to this time (inclusive) are linked.
    received_through INTEGER NOT NULL,
    PRIMARY KEY (namespace, resolution)
);

-- Events by type and time, with the identifier, so that a segment's behavioural conditions read
-- the index alone.
CREATE INDEX events_by_type ON events (namespace, event_type, occurred_at, identifier_type, identifier_value);
-- Events received after a watermark, for linking new identifiers.
CREATE INDEX events_by_receipt ON events (namespace, received_at);

-- The current members of each segment, since when.
CREATE TABLE segment_members (
    namespace  TEXT    NOT NULL,
    segment    TEXT    NOT NULL,
    profile_id TEXT    NOT NULL,
    entered_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, segment, profile_id)
) WITHOUT ROWID;

-- Every entry and exit, by evaluation. change is 'entered' or 'exited'.
CREATE TABLE segment_history (
    namespace  TEXT    NOT NULL,
    segment    TEXT    NOT NULL,
    evaluation INTEGER NOT NULL,
    profile_id TEXT    NOT NULL,
    change     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (namespace, segment, evaluation, profile_id)
) WITHOUT ROWID;

CREATE INDEX segment_history_by_profile ON segment_history (namespace, profile_id, at);

-- One row per evaluation of a segment, numbered from 1.
CREATE TABLE segment_evaluations (
    namespace             TEXT    NOT NULL,
    segment               TEXT    NOT NULL,
    evaluation            INTEGER NOT NULL,
    resolution            TEXT    NOT NULL,
    resolution_generation INTEGER NOT NULL,
    started_at            INTEGER NOT NULL,
    finished_at           INTEGER NOT NULL,
    size                  INTEGER NOT NULL,
    entered               INTEGER NOT NULL,
    exited                INTEGER NOT NULL,
    PRIMARY KEY (namespace, segment, evaluation)
);
