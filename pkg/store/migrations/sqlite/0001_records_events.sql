-- Records, events, sync runs with their quarantined rows, and what each source remembers between
-- syncs. Every table's key starts with the namespace: namespaces are tenants.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC): they sort and compare as numbers and
-- match PostgreSQL's timestamptz precision. Identifier, attribute and property maps are JSON text.

CREATE TABLE records (
    namespace     TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    record_key    TEXT    NOT NULL,
    identifiers   TEXT    NOT NULL,
    attributes    TEXT    NOT NULL,
    -- content_hash lets a snapshot that loads the same record again leave it untouched.
    content_hash  BLOB    NOT NULL,
    first_seen_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- deleted_at is set when a snapshot no longer holds the record; records are never erased by
    -- a sync.
    deleted_at    INTEGER,
    PRIMARY KEY (namespace, source, record_key)
) WITHOUT ROWID;

CREATE TABLE events (
    namespace        TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    occurred_at      INTEGER NOT NULL,
    identifier_type  TEXT    NOT NULL,
    identifier_value TEXT    NOT NULL,
    properties       TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    PRIMARY KEY (namespace, source, event_id)
) WITHOUT ROWID;

CREATE INDEX events_by_time ON events (namespace, source, occurred_at, event_id);

CREATE TABLE sync_runs (
    namespace        TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    run_id           TEXT    NOT NULL,
    mode             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    rows_read        INTEGER NOT NULL DEFAULT 0,
    rows_loaded      INTEGER NOT NULL DEFAULT 0,
    rows_quarantined INTEGER NOT NULL DEFAULT 0,
    inserted         INTEGER NOT NULL DEFAULT 0,
    updated          INTEGER NOT NULL DEFAULT 0,
    unchanged        INTEGER NOT NULL DEFAULT 0,
    records_deleted  INTEGER NOT NULL DEFAULT 0,
    message          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (namespace, source, run_id)
);

CREATE INDEX sync_runs_by_start ON sync_runs (namespace, source, started_at);

CREATE TABLE quarantined_rows (
    namespace  TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    -- position is the order in which the sync quarantined rows; row_number is where the row stands
    -- in the source (rows may be quarantined out of order, and a row more than once).
    position   INTEGER NOT NULL,
    row_number INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    raw        TEXT    NOT NULL,
    PRIMARY KEY (namespace, source, run_id, position),
    FOREIGN KEY (namespace, source, run_id) REFERENCES sync_runs (namespace, source, run_id) ON DELETE CASCADE
);

CREATE TABLE source_state (
    namespace     TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    etag          TEXT    NOT NULL,
    last_modified TEXT    NOT NULL,
    cursor_value  TEXT    NOT NULL,
    -- run_id is the sync that saved this state.
    run_id        TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (namespace, source)
);
