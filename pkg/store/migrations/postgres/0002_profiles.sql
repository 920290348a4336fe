-- Profiles of identity resolution: what each resolution published, in two generation slots, and
-- the runs that published (or only computed) them. Every table's key starts with the namespace.
--
-- A resolution publishes its whole set of profiles as a new generation. Rows are scoped by slot,
-- the generation modulo 2: readers read the slot of the published generation (resolution_state),
-- the other slot keeps the previous generation, and the next publish rewrites that one. A
-- publish changes only the rows that differ from what its slot held two generations before, and
-- the generation before the previous one is gone without a DELETE of all its rows.

CREATE TABLE resolution_state (
    namespace            text COLLATE "C" NOT NULL,
    resolution           text COLLATE "C" NOT NULL,
    published_generation bigint      NOT NULL,
    published_at         timestamptz NOT NULL,
    -- run_id is the run that published the generation.
    run_id               text        NOT NULL,
    -- The rows the generation holds, which size the next publish's buffers.
    profiles             bigint      NOT NULL,
    records              bigint      NOT NULL,
    aliases              bigint      NOT NULL,
    PRIMARY KEY (namespace, resolution)
);

CREATE TABLE resolution_runs (
    namespace    text COLLATE "C" NOT NULL,
    resolution   text COLLATE "C" NOT NULL,
    run_id       text COLLATE "C" NOT NULL,
    generation   bigint      NOT NULL,
    dry_run      boolean     NOT NULL,
    status       text        NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    records      bigint      NOT NULL DEFAULT 0,
    profiles     bigint      NOT NULL DEFAULT 0,
    merges       bigint      NOT NULL DEFAULT 0,
    splits       bigint      NOT NULL DEFAULT 0,
    new_profiles bigint      NOT NULL DEFAULT 0,
    -- ignored is a JSON array of the identifier values the run ignored, masked.
    ignored      jsonb       NOT NULL,
    message      text        NOT NULL DEFAULT '',
    PRIMARY KEY (namespace, resolution, run_id)
);

CREATE INDEX resolution_runs_by_start ON resolution_runs (namespace, resolution, started_at);

-- records is a JSON object of the profile's record keys by source, {"crm": ["1", "7"]};
-- content_hash lets the next publish into the slot leave an unchanged profile untouched.
CREATE TABLE profiles (
    namespace          text COLLATE "C" NOT NULL,
    resolution         text COLLATE "C" NOT NULL,
    slot               smallint NOT NULL,
    profile_id         text COLLATE "C" NOT NULL,
    created_generation bigint   NOT NULL,
    identifiers        jsonb    NOT NULL,
    attributes         jsonb    NOT NULL,
    records            jsonb    NOT NULL,
    content_hash       bigint   NOT NULL,
    PRIMARY KEY (namespace, resolution, slot, profile_id)
);

-- Which profile each source record belongs to, keyed for the lookup by record.
CREATE TABLE profile_memberships (
    namespace  text COLLATE "C" NOT NULL,
    resolution text COLLATE "C" NOT NULL,
    slot       smallint NOT NULL,
    source     text COLLATE "C" NOT NULL,
    record_key text COLLATE "C" NOT NULL,
    profile_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, resolution, slot, source, record_key)
);

-- The IDs of absorbed profiles that still resolve, to the profile that absorbed them.
CREATE TABLE profile_aliases (
    namespace  text COLLATE "C" NOT NULL,
    resolution text COLLATE "C" NOT NULL,
    slot       smallint NOT NULL,
    alias      text COLLATE "C" NOT NULL,
    profile_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, resolution, slot, alias)
);
