-- The delivery ledger: every message of a campaign run is a row, written before anything is sent,
-- so that a crash, a retry or a duplicated worker neither loses nor doubles a message. Next to it,
-- what decides whether a message may go at all: suppressed addresses, recorded consent, and the
-- token bucket of each channel that every worker process shares.

-- A campaign run, written in the same transaction as all its rows: a run that exists is planned.
CREATE TABLE delivery_runs (
    namespace    TEXT    NOT NULL,
    campaign     TEXT    NOT NULL,
    run          TEXT    NOT NULL,
    -- trigger says what started the run: once, schedule, segmentEntry or event.
    trigger      TEXT    NOT NULL,
    scheduled_at INTEGER NOT NULL,
    -- shards is how many workers share the run; each row belongs to one shard.
    shards       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    planned_at   INTEGER NOT NULL,
    -- completed_at is set once no row of the run is left to send.
    completed_at INTEGER,
    PRIMARY KEY (namespace, campaign, run)
);

CREATE INDEX delivery_runs_by_creation ON delivery_runs (namespace, campaign, created_at);

-- One message: a step of a campaign run for one profile. state is pending, sending (claimed by
-- claimed_by until lease_until), sent, deferred (to not_before), suppressed, capped, failed or
-- holdout.
--
-- A rowid table, unlike the others: each row is updated at least twice (claim, outcome), and
-- indexes that point at a rowid rather than at the five columns of the key make a claim and
-- outcome cycle a fifth faster, for a plan a quarter slower.
CREATE TABLE deliveries (
    namespace           TEXT    NOT NULL,
    campaign            TEXT    NOT NULL,
    run                 TEXT    NOT NULL,
    profile_id          TEXT    NOT NULL,
    step                TEXT    NOT NULL,
    shard               INTEGER NOT NULL,
    variant             TEXT    NOT NULL,
    purpose             TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    channel_type        TEXT    NOT NULL,
    address             TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    not_before          INTEGER NOT NULL,
    claimed_by          TEXT    NOT NULL DEFAULT '',
    lease_until         INTEGER,
    message_id          TEXT    NOT NULL DEFAULT '',
    provider_message_id TEXT    NOT NULL DEFAULT '',
    error               TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    PRIMARY KEY (namespace, campaign, run, profile_id, step)
);

-- What a worker claims next: the due rows of one state of its shard, by a range. The state comes
-- before the shard so that the rows of a run in one state are a range too, whatever the planner's
-- statistics say: the rows sending, which outcomes update, and the rows left to send.
CREATE INDEX deliveries_to_claim ON deliveries (namespace, campaign, run, state, shard, not_before);

-- What frequency caps count: the messages a profile was sent, across campaigns. The trailing
-- columns let the caps' query read the index alone.
CREATE INDEX deliveries_sent ON deliveries (namespace, profile_id, sent_at, channel_type, purpose, campaign)
    WHERE state = 'sent';

-- Addresses nothing is sent to any more, per channel type. reason is hard-bounce, complaint,
-- unsubscribe, manual or soft-bounce-limit; source says what suppressed it.
CREATE TABLE suppressions (
    namespace    TEXT    NOT NULL,
    channel_type TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (namespace, channel_type, address)
) WITHOUT ROWID;

-- A profile's latest yes or no for a channel type and purpose.
CREATE TABLE consents (
    namespace    TEXT    NOT NULL,
    profile_id   TEXT    NOT NULL,
    channel_type TEXT    NOT NULL,
    purpose      TEXT    NOT NULL,
    granted      INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    PRIMARY KEY (namespace, profile_id, channel_type, purpose)
) WITHOUT ROWID;

-- The token bucket of each channel's rate limit: tokens as of refilled_at.
CREATE TABLE channel_buckets (
    namespace   TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    tokens      REAL    NOT NULL,
    refilled_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, channel)
);
