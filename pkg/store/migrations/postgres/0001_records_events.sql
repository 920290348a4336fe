-- Records, events, sync runs with their quarantined rows, and what each source remembers between
-- syncs. Every table's key starts with the namespace: namespaces are tenants.
--
-- Keys use the "C" collation: byte order, whatever the database's locale, so that records come
-- back in the same order as from SQLite. Maps are jsonb.

CREATE TABLE records (
    namespace     text COLLATE "C" NOT NULL,
    source        text COLLATE "C" NOT NULL,
    record_key    text COLLATE "C" NOT NULL,
    identifiers   jsonb       NOT NULL,
    attributes    jsonb       NOT NULL,
    -- content_hash lets a snapshot that loads the same record again leave it untouched.
    content_hash  bytea       NOT NULL,
    first_seen_at timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- deleted_at is set when a snapshot no longer holds the record; records are never erased by
    -- a sync.
    deleted_at    timestamptz,
    PRIMARY KEY (namespace, source, record_key)
);

CREATE TABLE events (
    namespace        text COLLATE "C" NOT NULL,
    source           text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL,
    event_type       text COLLATE "C" NOT NULL,
    occurred_at      timestamptz NOT NULL,
    identifier_type  text COLLATE "C" NOT NULL,
    identifier_value text COLLATE "C" NOT NULL,
    properties       jsonb       NOT NULL,
    received_at      timestamptz NOT NULL,
    PRIMARY KEY (namespace, source, event_id)
);

CREATE INDEX events_by_time ON events (namespace, source, occurred_at, event_id);

CREATE TABLE sync_runs (
    namespace        text COLLATE "C" NOT NULL,
    source           text COLLATE "C" NOT NULL,
    run_id           text COLLATE "C" NOT NULL,
    mode             text        NOT NULL,
    status           text        NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    rows_read        bigint      NOT NULL DEFAULT 0,
    rows_loaded      bigint      NOT NULL DEFAULT 0,
    rows_quarantined bigint      NOT NULL DEFAULT 0,
    inserted         bigint      NOT NULL DEFAULT 0,
    updated          bigint      NOT NULL DEFAULT 0,
    unchanged        bigint      NOT NULL DEFAULT 0,
    records_deleted  bigint      NOT NULL DEFAULT 0,
    message          text        NOT NULL DEFAULT '',
    PRIMARY KEY (namespace, source, run_id)
);

CREATE INDEX sync_runs_by_start ON sync_runs (namespace, source, started_at);

CREATE TABLE quarantined_rows (
    namespace  text COLLATE "C" NOT NULL,
    source     text COLLATE "C" NOT NULL,
    run_id     text COLLATE "C" NOT NULL,
    -- position is the order in which the sync quarantined rows; row_number is where the row stands
    -- in the source (rows may be quarantined out of order, and a row more than once).
    position   integer NOT NULL,
    row_number bigint  NOT NULL,
    reason     text    NOT NULL,
    raw        text    NOT NULL,
    PRIMARY KEY (namespace, source, run_id, position),
    FOREIGN KEY (namespace, source, run_id) REFERENCES sync_runs (namespace, source, run_id) ON DELETE CASCADE
);

CREATE TABLE source_state (
    namespace     text COLLATE "C" NOT NULL,
    source        text COLLATE "C" NOT NULL,
    etag          text        NOT NULL,
    last_modified text        NOT NULL,
    cursor_value  text        NOT NULL,
    -- run_id is the sync that saved this state.
    run_id        text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (namespace, source)
);
