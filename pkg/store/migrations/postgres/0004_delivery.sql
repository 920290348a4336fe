-- The delivery ledger: every message of a campaign run is a row, written before anything is sent,
-- so that a crash, a retry or a duplicated worker neither loses nor doubles a message. Next to it,
-- what decides whether a message may go at all: suppressed addresses, recorded consent, and the
-- token bucket of each channel that every worker process shares.

-- A campaign run, written in the same transaction as all its rows: a run that exists is planned.
CREATE TABLE delivery_runs (
    namespace    text COLLATE "C" NOT NULL,
    campaign     text COLLATE "C" NOT NULL,
    run          text COLLATE "C" NOT NULL,
    -- trigger says what started the run: once, schedule, segmentEntry or event.
    trigger      text        NOT NULL,
    scheduled_at timestamptz NOT NULL,
    -- shards is how many workers share the run; each row belongs to one shard.
    shards       integer     NOT NULL,
    created_at   timestamptz NOT NULL,
    planned_at   timestamptz NOT NULL,
    -- completed_at is set once no row of the run is left to send.
    completed_at timestamptz,
    PRIMARY KEY (namespace, campaign, run)
);

CREATE INDEX delivery_runs_by_creation ON delivery_runs (namespace, campaign, created_at);

-- One message: a step of a campaign run for one profile. state is pending, sending (claimed by
-- claimed_by until lease_until), sent, deferred (to not_before), suppressed, capped, failed or
-- holdout.
CREATE TABLE deliveries (
    namespace           text COLLATE "C" NOT NULL,
    campaign            text COLLATE "C" NOT NULL,
    run                 text COLLATE "C" NOT NULL,
    profile_id          text COLLATE "C" NOT NULL,
    step                text COLLATE "C" NOT NULL,
    shard               integer     NOT NULL,
    variant             text        NOT NULL,
    purpose             text        NOT NULL,
    channel             text        NOT NULL,
    channel_type        text        NOT NULL,
    address             text        NOT NULL,
    state               text        NOT NULL,
    attempts            integer     NOT NULL DEFAULT 0,
    not_before          timestamptz NOT NULL,
    claimed_by          text        NOT NULL DEFAULT '',
    lease_until         timestamptz,
    message_id          text        NOT NULL DEFAULT '',
    provider_message_id text        NOT NULL DEFAULT '',
    error               text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    sent_at             timestamptz,
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
    namespace    text COLLATE "C" NOT NULL,
    channel_type text COLLATE "C" NOT NULL,
    address      text COLLATE "C" NOT NULL,
    reason       text        NOT NULL,
    source       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (namespace, channel_type, address)
);

-- A profile's latest yes or no for a channel type and purpose.
CREATE TABLE consents (
    namespace    text COLLATE "C" NOT NULL,
    profile_id   text COLLATE "C" NOT NULL,
    channel_type text COLLATE "C" NOT NULL,
    purpose      text COLLATE "C" NOT NULL,
    granted      boolean     NOT NULL,
    recorded_at  timestamptz NOT NULL,
    source       text        NOT NULL,
    PRIMARY KEY (namespace, profile_id, channel_type, purpose)
);

-- The token bucket of each channel's rate limit: tokens as of refilled_at.
CREATE TABLE channel_buckets (
    namespace   text COLLATE "C" NOT NULL,
    channel     text COLLATE "C" NOT NULL,
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL,
    PRIMARY KEY (namespace, channel)
);
