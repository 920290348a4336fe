-- Profiles of identity resolution: what each resolution published, in two generation slots, and
-- the runs that published (or only computed) them. Every table's key starts with the namespace.
--
-- A resolution publishes its whole set of profiles as a new generation. Rows are scoped by slot,
-- the generation modulo 2: readers read the slot of the published generation (resolution_state),
-- the other slot keeps the previous generation, and the next publish rewrites that one. A
-- publish changes only the rows that differ from what its slot held two generations before, and
-- the generation before the previous one is gone without a DELETE of all its rows.

CREATE TABLE resolution_state (
    namespace            TEXT    NOT NULL,
    resolution           TEXT    NOT NULL,
    published_generation INTEGER NOT NULL,
    published_at         INTEGER NOT NULL,
    -- run_id is the run that published the generation.
    run_id               TEXT    NOT NULL,
    -- The rows the generation holds, which size the next publish's buffers.
    profiles             INTEGER NOT NULL,
    records              INTEGER NOT NULL,
    aliases              INTEGER NOT NULL,
    PRIMARY KEY (namespace, resolution)
);

CREATE TABLE resolution_runs (
    namespace    TEXT    NOT NULL,
    resolution   TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    generation   INTEGER NOT NULL,
    dry_run      INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    records      INTEGER NOT NULL DEFAULT 0,
    profiles     INTEGER NOT NULL DEFAULT 0,
    merges       INTEGER NOT NULL DEFAULT 0,
    splits       INTEGER NOT NULL DEFAULT 0,
    new_profiles INTEGER NOT NULL DEFAULT 0,
    -- ignored is a JSON array of the identifier values the run ignored, masked.
    ignored      TEXT    NOT NULL,
    message      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (namespace, resolution, run_id)
);

CREATE INDEX resolution_runs_by_start ON resolution_runs (namespace, resolution, started_at);

-- records is a JSON object of the profile's record keys by source, {"crm": ["1", "7"]};
-- content_hash lets the next publish into the slot leave an unchanged profile untouched.
CREATE TABLE profiles (
    namespace          TEXT    NOT NULL,
    resolution         TEXT    NOT NULL,
    slot               INTEGER NOT NULL,
    profile_id         TEXT    NOT NULL,
    created_generation INTEGER NOT NULL,
    identifiers        TEXT    NOT NULL,
    attributes         TEXT    NOT NULL,
    records            TEXT    NOT NULL,
    content_hash       INTEGER NOT NULL,
    PRIMARY KEY (namespace, resolution, slot, profile_id)
) WITHOUT ROWID;

-- Which profile each source record belongs to, keyed for the lookup by record.
CREATE TABLE profile_memberships (
    namespace  TEXT    NOT NULL,
    resolution TEXT    NOT NULL,
    slot       INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    record_key TEXT    NOT NULL,
    profile_id TEXT    NOT NULL,
    PRIMARY KEY (namespace, resolution, slot, source, record_key)
) WITHOUT ROWID;

-- The IDs of absorbed profiles that still resolve, to the profile that absorbed them.
CREATE TABLE profile_aliases (
    namespace  TEXT    NOT NULL,
    resolution TEXT    NOT NULL,
    slot       INTEGER NOT NULL,
    alias      TEXT    NOT NULL,
    profile_id TEXT    NOT NULL,
    PRIMARY KEY (namespace, resolution, slot, alias)
) WITHOUT ROWID;
