-- The counts of a completed run, by state, written when it completes: its rows no longer change,
-- so a campaign's totals add these up instead of counting the ledger of every run it ever had.
CREATE TABLE delivery_run_counts (
    namespace TEXT    NOT NULL,
    campaign  TEXT    NOT NULL,
    run       TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (namespace, campaign, run, state)
) WITHOUT ROWID;

INSERT INTO delivery_run_counts (namespace, campaign, run, state, count)
    SELECT d.namespace, d.campaign, d.run, d.state, count(*)
    FROM delivery_runs r JOIN deliveries d ON d.namespace = r.namespace AND d.campaign = r.campaign AND d.run = r.run
    WHERE r.completed_at IS NOT NULL
    GROUP BY d.namespace, d.campaign, d.run, d.state;
