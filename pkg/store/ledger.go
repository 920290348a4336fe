package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DeliveryState is where a ledger row stands.
type DeliveryState string

const (
	// DeliveryPending rows wait for their shard's worker, from their NotBefore on.
	DeliveryPending DeliveryState = "pending"
	// DeliverySent rows were accepted by the provider.
	DeliverySent DeliveryState = "sent"
	// DeliveryDeferred rows were held back (quiet hours) until their NotBefore.
	DeliveryDeferred DeliveryState = "deferred"
	// DeliverySuppressed rows were not sent: no consent, a suppressed address, missing attributes.
	DeliverySuppressed DeliveryState = "suppressed"
	// DeliveryCapped rows were not sent because of a frequency cap.
	DeliveryCapped DeliveryState = "capped"
	// DeliveryFailed rows failed for good.
	DeliveryFailed DeliveryState = "failed"
	// DeliveryHoldout rows belong to an experiment's holdout group: they are never sent.
	DeliveryHoldout DeliveryState = "holdout"
)

// The events RecordOutcomes writes, so that a segment can select the profiles that received, or
// did not receive, a campaign: source CampaignEventSource, one event type per final outcome,
// properties campaign, run, step, variant and channel.
const (
	CampaignEventSource    = "kizuna.campaigns"
	EventMessageSent       = "message_sent"
	EventMessageFailed     = "message_failed"
	EventMessageSuppressed = "message_suppressed"
	EventMessageCapped     = "message_capped"

	// ProfileIDIdentifier is the identifier type of a campaign event of a message that went to
	// no address (a webhook, or a row suppressed before a channel was chosen): its value is the
	// profile's ID, which identity links take to that profile.
	ProfileIDIdentifier = "ProfileID"
)

// DeliveryRun is one run of a campaign: who receives which step is planned once, in its rows.
type DeliveryRun struct {
	Namespace, Campaign, Run string
	// Trigger says what started the run (once, schedule, segmentEntry, event).
	Trigger string
	// ScheduledAt is when the run was due; zero means when it is planned.
	ScheduledAt time.Time
	// Shards is how many workers share the run's rows, at least 1.
	Shards int

	// The store fills these. CreatedAt is when planning began, PlannedAt when it committed;
	// CompletedAt stays zero until CompleteDeliveryRun finds nothing left to send.
	CreatedAt, PlannedAt, CompletedAt time.Time
}

// PlannedDelivery is one row that PlanDeliveryRun writes: one step of the run for one profile.
type PlannedDelivery struct {
	ProfileID, Step string
	// Shard is the worker that sends the row, from 0 to the run's Shards-1.
	Shard int
	// Variant of the experiment the profile is in, or empty.
	Variant string
	// Purpose of the message (Marketing, Transactional), which frequency caps count by.
	Purpose string
	// Channel, ChannelType and Address may be left empty when the worker chooses them at send
	// time; an outcome sets them.
	Channel, ChannelType, Address string
	// State is DeliveryPending (the default) or DeliveryHoldout.
	State DeliveryState
	// NotBefore is when the row may be sent, for a step's delay; zero means from the run's
	// ScheduledAt.
	NotBefore time.Time
}

// Delivery is a ledger row, every column of it. Times are zero where the column is empty.
type Delivery struct {
	Namespace, Campaign, Run, ProfileID, Step string
	Shard                                     int
	Variant, Purpose                          string
	Channel, ChannelType, Address             string
	State                                     DeliveryState
	// Attempts counts the messages handed to a provider whose outcome was recorded.
	Attempts  int
	NotBefore time.Time
	// RecordedBy is the worker that recorded the row's last outcome.
	RecordedBy                   string
	MessageID, ProviderMessageID string
	// Error is the last failure's text, at most MaxDeliveryErrorBytes.
	Error                        string
	CreatedAt, UpdatedAt, SentAt time.Time

	// seq is the row's place in its run's plan, for the cursor of DueDeliveries.
	seq int64
}

// DueQuery asks for the due rows of one shard of a run.
type DueQuery struct {
	Namespace, Campaign, Run string
	Shard                    int
	// Limit is how many rows to read at most.
	Limit int
	// Now is the time the rows must be due by; zero means the store's clock.
	Now time.Time
	// After is the cursor the previous read returned; the zero cursor reads from the start.
	After DueCursor
}

// DueCursor is where a worker's reads of its shard's due rows stopped: the last row read of
// each state, by the time it became due and its place in the plan.
type DueCursor struct {
	deferred, pending dueKey
}

type dueKey struct {
	notBefore time.Time
	seq       int64
}

// Outcome is what became of a row its shard's worker read.
type Outcome struct {
	Namespace, Campaign, Run, ProfileID, Step string
	Shard                                     int
	// Worker is the worker that owns the shard (TakeShard).
	Worker string
	// Attempted says a message went to the provider: it counts an attempt of the row.
	Attempted bool
	// RowUpdatedAt is the row's UpdatedAt when its worker read it: the outcome applies only to
	// the row unchanged since. Zero applies it whatever the row's UpdatedAt.
	RowUpdatedAt time.Time
	// Policy is the DeliveryPolicy the run decided under, for the totals; empty when none.
	Policy string
	// State is DeliverySent, DeliveryDeferred, DeliverySuppressed, DeliveryCapped,
	// DeliveryFailed, or DeliveryPending to be retried.
	State DeliveryState
	// Channel, ChannelType, Address, MessageID and ProviderMessageID replace the row's when set.
	Channel, ChannelType, Address string
	MessageID, ProviderMessageID  string
	// Error replaces the row's, truncated to MaxDeliveryErrorBytes.
	Error string
	// NotBefore is when a deferred or pending row is due again; zero means at once.
	NotBefore time.Time
	// At is when it happened; zero means the store's clock.
	At time.Time
}

// MaxDeliveryErrorBytes bounds the error text kept on a row.
const MaxDeliveryErrorBytes = 1024

// DeliveryTotal is how many outcomes of one state a channel has had in a namespace under one
// DeliveryPolicy, over every campaign and run: sent, failed, suppressed, capped, and deferred
// (each deferral, so a row deferred twice counts twice). Channel is empty for rows no channel
// could take, Policy for runs under no policy and for outcomes recorded before totals were kept
// per policy.
type DeliveryTotal struct {
	Channel string
	Policy  string
	State   DeliveryState
	Count   int64
	// Last is the time of the latest outcome counted; zero for the counts from before it was kept.
	Last time.Time
}

// DeliveryCounts counts a run's rows by state.
type DeliveryCounts struct {
	Pending, Sent, Deferred, Suppressed, Capped, Failed, Holdout int64
	Total                                                        int64
}

// Sent is a message a profile was sent, as frequency caps count it.
type Sent struct {
	ChannelType, Purpose, Campaign string
	SentAt                         time.Time
}

func campaignLock(namespace, campaign string) string {
	return "campaign\x00" + namespace + "\x00" + campaign
}

func runLock(namespace, campaign, run string) string {
	return "delivery-run\x00" + namespace + "\x00" + campaign + "\x00" + run
}

// noLock opens a transaction that takes no lock of its own: its rows, or a row lock, keep it apart.
const noLock = ""

// rowInserter is a session that bulk-loads rows into a table: multi-row INSERTs on SQLite, COPY
// on PostgreSQL. args holds the columns of each row in turn.
type rowInserter interface {
	insertRows(ctx context.Context, table string, columns []string, args []any) error
}

const (
	deliveryRunColumns = `namespace, campaign, run, trigger, scheduled_at, shards, created_at, planned_at, completed_at`

	sqlDeliveryRunExists = `SELECT 1 FROM delivery_runs WHERE namespace = ? AND campaign = ? AND run = ?`

	sqlInsertDeliveryRun = `INSERT INTO delivery_runs (` + deliveryRunColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`

	sqlGetDeliveryRun = `SELECT ` + deliveryRunColumns + ` FROM delivery_runs
		WHERE namespace = ? AND campaign = ? AND run = ?`

	sqlListDeliveryRuns = `SELECT ` + deliveryRunColumns + ` FROM delivery_runs
		WHERE namespace = ? AND campaign = ? ORDER BY created_at DESC, run DESC LIMIT ?`

	sqlCompleteDeliveryRun = `UPDATE delivery_runs SET completed_at = ?4
		WHERE namespace = ?1 AND campaign = ?2 AND run = ?3 AND completed_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM deliveries
				WHERE namespace = ?1 AND campaign = ?2 AND run = ?3
					AND state IN ('pending', 'deferred'))`

	// A worker that starts takes its shard over: ?1-?4 the shard, ?5 the worker, ?6 now.
	sqlTakeShard = `INSERT INTO delivery_shards (namespace, campaign, run, shard, worker, taken_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6)
		ON CONFLICT (namespace, campaign, run, shard) DO UPDATE SET worker = excluded.worker, taken_at = excluded.taken_at`

	// The reservations of the shard's unsent rows end with the worker that made them.
	sqlReleaseReservations = `UPDATE deliveries SET sent_at = NULL
		WHERE namespace = ?1 AND campaign = ?2 AND run = ?3 AND state IN ('pending', 'deferred') AND shard = ?4
			AND sent_at IS NOT NULL`

	// The owner of a shard, read by the transactions that write its rows. On PostgreSQL FOR
	// SHARE makes a takeover (sqlTakeShard) wait for them, and them wait for a takeover.
	sqlShardOwner = `SELECT worker FROM delivery_shards
		WHERE namespace = ? AND campaign = ? AND run = ? AND shard = ? {for_share}`

	sqlNextDelivery = `SELECT min(t) FROM (
			SELECT min(not_before) AS t FROM deliveries
			WHERE namespace = ?1 AND campaign = ?2 AND run = ?3 AND state = 'pending'
			UNION ALL
			SELECT min(not_before) FROM deliveries
			WHERE namespace = ?1 AND campaign = ?2 AND run = ?3 AND state = 'deferred') AS due`

	deliveryColumns = `namespace, campaign, run, profile_id, step, shard, variant, purpose, channel,
		channel_type, address, state, attempts, not_before, recorded_by, message_id,
		provider_message_id, error, created_at, updated_at, sent_at`

	// A read of due rows takes one state's rows of the shard after the cursor, in the order of
	// the index: ?1-?3 the run, ?4 the state, ?5 the shard, ?6 now, ?7-?8 the cursor, ?9 the
	// limit. The row value comparison is a range of the index, so rows read before and not yet
	// recorded are not even passed over.
	sqlDueDeliveries = `SELECT ` + dueColumns + ` FROM deliveries
		WHERE namespace = ?1 AND campaign = ?2 AND run = ?3 AND state = ?4 AND shard = ?5
			AND not_before <= ?6 AND (not_before, {seq}) > (?7, ?8)
		ORDER BY not_before, {seq} LIMIT ?9`

	// dueColumns are the columns of a due row that its read does not know.
	dueColumns = `{seq}, profile_id, step, variant, purpose, channel, channel_type, address, attempts,
		not_before, recorded_by, message_id, provider_message_id, error, created_at, updated_at`

	// An outcome applies to a row of its shard still pending or deferred, and unchanged since it
	// was read when the outcome says when that was: a batch written again, after a commit whose
	// answer was lost, applies nothing twice. The outcomes of one run are recorded together,
	// their run named by parameters rather than in each row of the VALUES list, so that
	// PostgreSQL finds the run's rows by their key whatever its statistics say. The columns of a
	// row: 1-2 the row's profile and step, 3 the worker, 4 the state, 5-9 channel, channel type,
	// address, message IDs (empty keeps the row's), 10 the error, 11 not_before (NULL keeps the
	// row's), 12 when, 13 the attempts to add (0 or 1), 14 the shard, 15 the row's updated_at as
	// read (NULL: any). The run's namespace, campaign and run follow the rows.
	sqlRecordOutcomesPrefix = `UPDATE deliveries SET
			state = o.column4,
			recorded_by = o.column3,
			attempts = deliveries.attempts + o.column13,
			channel = CASE WHEN o.column5 = '' THEN deliveries.channel ELSE o.column5 END,
			channel_type = CASE WHEN o.column6 = '' THEN deliveries.channel_type ELSE o.column6 END,
			address = CASE WHEN o.column7 = '' THEN deliveries.address ELSE o.column7 END,
			message_id = CASE WHEN o.column8 = '' THEN deliveries.message_id ELSE o.column8 END,
			provider_message_id = CASE WHEN o.column9 = '' THEN deliveries.provider_message_id ELSE o.column9 END,
			error = o.column10,
			not_before = COALESCE(o.column11, deliveries.not_before),
			updated_at = o.column12,
			sent_at = CASE WHEN o.column4 = 'sent' THEN o.column12 END
		FROM (VALUES `
	sqlRecordOutcomesSuffix = `) AS o
		WHERE deliveries.namespace = ? AND deliveries.campaign = ? AND deliveries.run = ?
			AND deliveries.profile_id = o.column1 AND deliveries.step = o.column2
			AND deliveries.state IN ('pending', 'deferred') AND deliveries.shard = o.column14
			AND (o.column15 IS NULL OR deliveries.updated_at = o.column15)
		RETURNING namespace, campaign, run, profile_id, step, state, variant, channel, channel_type,
			address, updated_at`
	// sqlRecordOutcome applies one outcome: ?1-?15 as the columns of a row above, ?16-?18 the
	// run. It sets no column a constraint could refuse (see {update_no_abort}).
	sqlRecordOutcome = `{update_no_abort} deliveries SET
			state = ?4,
			recorded_by = ?3,
			attempts = attempts + ?13,
			channel = CASE WHEN ?5 = '' THEN channel ELSE ?5 END,
			channel_type = CASE WHEN ?6 = '' THEN channel_type ELSE ?6 END,
			address = CASE WHEN ?7 = '' THEN address ELSE ?7 END,
			message_id = CASE WHEN ?8 = '' THEN message_id ELSE ?8 END,
			provider_message_id = CASE WHEN ?9 = '' THEN provider_message_id ELSE ?9 END,
			error = ?10,
			not_before = COALESCE(?11, not_before),
			updated_at = ?12,
			sent_at = CASE WHEN ?4 = 'sent' THEN ?12 END
		WHERE namespace = ?16 AND campaign = ?17 AND run = ?18 AND profile_id = ?1 AND step = ?2
			AND state IN ('pending', 'deferred') AND shard = ?14 AND (?15 IS NULL OR updated_at = ?15)
		RETURNING variant, channel, channel_type, address, updated_at`
	// PostgreSQL types the columns of a VALUES list that is not inserted from its first row:
	// the times are cast.
	outcomeRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS {time}), CAST(? AS {time}), CAST(? AS integer),
		CAST(? AS integer), CAST(? AS {time}))`
	outcomeColumns = 15

	// An outcome's event waits in delivery_events_pending until FlushDeliveryEvents.
	sqlInsertOutcomeEventsPrefix = `INSERT INTO delivery_events_pending (namespace, source, event_id, event_type,
		occurred_at, identifier_type, identifier_value, properties) VALUES `
	outcomeEventRow     = `(?, ?, ?, ?, ?, ?, ?, ?{json})`
	outcomeEventColumns = 8

	sqlAddDeliveryTotal = `INSERT INTO delivery_totals (namespace, channel, policy, state, slot, count, last_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, channel, policy, state, slot) DO UPDATE SET count = delivery_totals.count + excluded.count,
			last_at = CASE WHEN delivery_totals.last_at >= excluded.last_at THEN delivery_totals.last_at ELSE excluded.last_at END`

	sqlDeliveryTotals = `SELECT channel, policy, state, CAST(sum(count) AS BIGINT), max(last_at) FROM delivery_totals
		WHERE namespace = ? GROUP BY channel, policy, state ORDER BY channel, policy, state`

	// A run's counts: those kept when it completed, else its ledger's.
	sqlDeliveryCounts = `SELECT state, count FROM delivery_run_counts
			WHERE namespace = ?1 AND campaign = ?2 AND run = ?3
		UNION ALL
		SELECT state, count(*) FROM deliveries
			WHERE namespace = ?1 AND campaign = ?2 AND run = ?3
				AND NOT EXISTS (SELECT 1 FROM delivery_runs
					WHERE namespace = ?1 AND campaign = ?2 AND run = ?3 AND completed_at IS NOT NULL)
			GROUP BY state`

	// A completed run's rows are final: its counts are kept, for the campaign's totals.
	sqlKeepRunCounts = `INSERT INTO delivery_run_counts (namespace, campaign, run, state, count)
		SELECT namespace, campaign, run, state, count(*) FROM deliveries
		WHERE namespace = ? AND campaign = ? AND run = ? GROUP BY namespace, campaign, run, state`

	// A campaign's counts: the kept counts of its completed runs, and the ledger of the others.
	sqlCampaignDeliveryCounts = `SELECT state, CAST(sum(n) AS BIGINT) FROM (
			SELECT state, count AS n FROM delivery_run_counts WHERE namespace = ?1 AND campaign = ?2
			UNION ALL
			SELECT d.state, count(*) FROM delivery_runs r JOIN deliveries d
				ON d.namespace = r.namespace AND d.campaign = r.campaign AND d.run = r.run
			WHERE r.namespace = ?1 AND r.campaign = ?2 AND r.completed_at IS NULL
			GROUP BY d.state) AS counts
		GROUP BY state`

	// The profiles of a list that runs of a campaign, but one, scheduled after a time reached
	// or are about to: every row but those suppressed, capped or failed. The runs come first,
	// so that each run's rows of the listed profiles are found by its key.
	sqlReachedProfilesPrefix = `SELECT DISTINCT d.profile_id FROM delivery_runs r JOIN deliveries d
			ON d.namespace = r.namespace AND d.campaign = r.campaign AND d.run = r.run
		WHERE r.namespace = ? AND r.campaign = ? AND r.run <> ? AND r.scheduled_at > ?
			AND d.state NOT IN ('suppressed', 'capped', 'failed') AND d.profile_id IN (`

	sqlListDeliveries = `SELECT ` + deliveryColumns + ` FROM deliveries
		WHERE namespace = ? AND campaign = ? AND run = ? ORDER BY profile_id, step LIMIT ?`

	sqlRecentSendsPrefix = `SELECT profile_id, channel_type, purpose, campaign, sent_at FROM deliveries
		WHERE namespace = ? AND sent_at >= ? AND profile_id IN (`
	sqlRecentSendsSuffix = `) ORDER BY profile_id, sent_at`
)

// dueStates are the states of the rows a worker reads, in the order it reads them: deferred
// rows first, since they have waited longest.
var dueStates = []DeliveryState{DeliveryDeferred, DeliveryPending}

// plannedColumns are the columns PlanDeliveryRun writes; the others start at their defaults.
var plannedColumns = []string{"namespace", "campaign", "run", "profile_id", "step", "shard", "variant",
	"purpose", "channel", "channel_type", "address", "state", "not_before", "created_at", "updated_at"}

// sqlDeleteCampaign lists the statements that forget a campaign's runs.
var sqlDeleteCampaign = []string{
	`DELETE FROM deliveries WHERE namespace = ? AND campaign = ?`,
	`DELETE FROM delivery_shards WHERE namespace = ? AND campaign = ?`,
	`DELETE FROM delivery_run_counts WHERE namespace = ? AND campaign = ?`,
	`DELETE FROM delivery_runs WHERE namespace = ? AND campaign = ?`,
}

// inTransaction runs fn in a transaction of its own that holds lock, and commits; an error of fn
// rolls everything back and is returned as it is.
func (s *sqlStore) inTransaction(ctx context.Context, lock string, fn func(session) error) error {
	sess, err := s.b.session(ctx)
	if err != nil {
		return err
	}
	defer sess.release()
	if err := sess.begin(ctx, lock); err != nil {
		return err
	}
	if err := fn(sess); err != nil {
		if rbErr := sess.rollback(ctx); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	if err := sess.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// checkKeys checks the texts that name something, each with what it is.
func checkKeys(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if err := checkKey(fields[i], fields[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) PlanDeliveryRun(ctx context.Context, run DeliveryRun, rows iter.Seq[PlannedDelivery]) (int64, error) {
	if err := checkKeys("namespace", run.Namespace, "campaign", run.Campaign, "run", run.Run); err != nil {
		return 0, fmt.Errorf("plan delivery run: %w", err)
	}
	if run.Shards < 1 {
		return 0, fmt.Errorf("plan run %s of campaign %s/%s: shards is %d: a run needs at least one shard",
			run.Run, run.Namespace, run.Campaign, run.Shards)
	}
	if err := checkText("trigger", run.Trigger); err != nil {
		return 0, fmt.Errorf("plan run %s of campaign %s/%s: %w", run.Run, run.Namespace, run.Campaign, err)
	}
	run.CreatedAt = s.now()
	if run.ScheduledAt.IsZero() {
		run.ScheduledAt = run.CreatedAt
	}
	run.ScheduledAt = storedTime(run.ScheduledAt)
	var planned int64
	err := s.inTransaction(ctx, campaignLock(run.Namespace, run.Campaign), func(sess session) error {
		var err error
		planned, err = s.planDeliveryRun(ctx, sess, run, rows)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("plan run %s of campaign %s/%s: %w", run.Run, run.Namespace, run.Campaign, err)
	}
	if s.d.analyzeAfterLoad != "" && planned >= analyzeRowsThreshold {
		// Reads and outcomes planned on the statistics of an empty table sent 100,000 rows
		// fourteen times slower. Autovacuum would analyze too, but a minute later. A failure
		// loses nothing.
		_, _ = s.b.read().exec(ctx, fmt.Sprintf(s.d.analyzeAfterLoad, "deliveries"))
	}
	return planned, nil
}

func (s *sqlStore) planDeliveryRun(ctx context.Context, sess session, run DeliveryRun, rows iter.Seq[PlannedDelivery]) (int64, error) {
	done, err := exists(ctx, sess, s.d.sql(sqlDeliveryRunExists), run.Namespace, run.Campaign, run.Run)
	if err != nil {
		return 0, fmt.Errorf("look the run up: %w", err)
	}
	if done {
		return 0, ErrRunFinished
	}
	inserter, ok := sess.(rowInserter)
	if !ok {
		return 0, errors.New("the backend cannot bulk-load rows")
	}
	created, scheduled := s.d.timeArg(run.CreatedAt), s.d.timeArg(run.ScheduledAt)
	args := make([]any, 0, sess.batchRows()*len(plannedColumns))
	flush := func() error {
		if err := inserter.insertRows(ctx, "deliveries", plannedColumns, args); err != nil {
			return fmt.Errorf("write rows (is a profile's step planned twice?): %w", err)
		}
		clear(args)
		args = args[:0]
		return nil
	}
	var n int64
	for p := range rows {
		n++
		if err := checkPlanned(p, run.Shards); err != nil {
			return 0, fmt.Errorf("row %d: %w", n, err)
		}
		state := p.State
		if state == "" {
			state = DeliveryPending
		}
		notBefore := scheduled
		if !p.NotBefore.IsZero() {
			notBefore = s.d.timeArg(storedTime(p.NotBefore))
		}
		args = append(args, run.Namespace, run.Campaign, run.Run, p.ProfileID, p.Step, p.Shard, p.Variant,
			p.Purpose, p.Channel, p.ChannelType, p.Address, string(state), notBefore, created, created)
		if len(args) == cap(args) {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if len(args) > 0 {
		if err := flush(); err != nil {
			return 0, err
		}
	}
	if _, err := sess.exec(ctx, s.d.sql(sqlInsertDeliveryRun), run.Namespace, run.Campaign, run.Run,
		run.Trigger, scheduled, run.Shards, created, s.d.timeArg(s.now())); err != nil {
		return 0, fmt.Errorf("record the run: %w", err)
	}
	return n, nil
}

func checkPlanned(p PlannedDelivery, shards int) error {
	if err := checkKeys("profile ID", p.ProfileID, "step", p.Step); err != nil {
		return err
	}
	for _, f := range []struct{ what, value string }{
		{"variant", p.Variant}, {"purpose", p.Purpose}, {"channel", p.Channel},
		{"channel type", p.ChannelType}, {"address", p.Address},
	} {
		if err := checkText(f.what, f.value); err != nil {
			return fmt.Errorf("profile %s step %s: %w", p.ProfileID, p.Step, err)
		}
	}
	if p.Shard < 0 || p.Shard >= shards {
		return fmt.Errorf("profile %s step %s: shard %d is outside the run's shards 0 to %d",
			p.ProfileID, p.Step, p.Shard, shards-1)
	}
	if p.State != "" && p.State != DeliveryPending && p.State != DeliveryHoldout {
		return fmt.Errorf("profile %s step %s: a planned row is %s or %s, not %q",
			p.ProfileID, p.Step, DeliveryPending, DeliveryHoldout, p.State)
	}
	return nil
}

func (s *sqlStore) DeliveryRun(ctx context.Context, namespace, campaign, run string) (DeliveryRun, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlGetDeliveryRun), namespace, campaign, run)
	if err != nil {
		return DeliveryRun{}, fmt.Errorf("read run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	runs, err := scanDeliveryRuns(rs)
	if err != nil {
		return DeliveryRun{}, fmt.Errorf("read run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	if len(runs) == 0 {
		return DeliveryRun{}, fmt.Errorf("run %s of campaign %s/%s: %w", run, namespace, campaign, ErrNotFound)
	}
	return runs[0], nil
}

func (s *sqlStore) DeliveryRuns(ctx context.Context, namespace, campaign string, limit int) ([]DeliveryRun, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlListDeliveryRuns), namespace, campaign, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list the runs of campaign %s/%s: %w", namespace, campaign, err)
	}
	runs, err := scanDeliveryRuns(rs)
	if err != nil {
		return nil, fmt.Errorf("list the runs of campaign %s/%s: %w", namespace, campaign, err)
	}
	return runs, nil
}

func scanDeliveryRuns(rs rows) ([]DeliveryRun, error) {
	defer rs.Close()
	var out []DeliveryRun
	for rs.Next() {
		var r DeliveryRun
		var scheduled, created, planned, completed nullTime
		if err := rs.Scan(&r.Namespace, &r.Campaign, &r.Run, &r.Trigger, &scheduled, &r.Shards,
			&created, &planned, &completed); err != nil {
			return nil, err
		}
		r.ScheduledAt, r.CreatedAt, r.PlannedAt, r.CompletedAt = scheduled.Time, created.Time, planned.Time, completed.Time
		out = append(out, r)
	}
	return out, rs.Err()
}

func (s *sqlStore) CompleteDeliveryRun(ctx context.Context, namespace, campaign, run string, at time.Time) (DeliveryRun, error) {
	if at.IsZero() {
		at = s.clock.Now()
	}
	// No row of a run goes back to a state that keeps it open once none is left in one, so
	// the run's own lock is enough: a plan of another run does not hold the completion up.
	err := s.inTransaction(ctx, runLock(namespace, campaign, run), func(sess session) error {
		completed, err := sess.exec(ctx, s.d.sql(sqlCompleteDeliveryRun), namespace, campaign, run, s.d.timeArg(storedTime(at)))
		if err != nil || completed == 0 {
			return err
		}
		_, err = sess.exec(ctx, s.d.sql(sqlKeepRunCounts), namespace, campaign, run)
		return err
	})
	if err != nil {
		return DeliveryRun{}, fmt.Errorf("complete run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	return s.DeliveryRun(ctx, namespace, campaign, run)
}

func (s *sqlStore) TakeShard(ctx context.Context, namespace, campaign, run string, shard int, worker string) (int64, error) {
	if err := checkKeys("namespace", namespace, "campaign", campaign, "run", run, "worker", worker); err != nil {
		return 0, fmt.Errorf("take shard: %w", err)
	}
	if shard < 0 {
		return 0, fmt.Errorf("take shard %d of run %s of campaign %s/%s: the shard is negative", shard, run, namespace, campaign)
	}
	var released int64
	err := s.inTransaction(ctx, runLock(namespace, campaign, run), func(sess session) error {
		if _, err := sess.exec(ctx, s.d.sql(sqlTakeShard), namespace, campaign, run, shard, worker, s.d.timeArg(s.now())); err != nil {
			return err
		}
		n, err := sess.exec(ctx, s.d.sql(sqlReleaseReservations), namespace, campaign, run, shard)
		released = n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("take shard %d of run %s of campaign %s/%s: %w", shard, run, namespace, campaign, err)
	}
	return released, nil
}

// checkShardOwner fails with ErrNotShardOwner unless worker owns the shard, in the transaction
// of q, which on PostgreSQL keeps a takeover out until it ends.
func (s *sqlStore) checkShardOwner(ctx context.Context, q querier, namespace, campaign, run string, shard int, worker string) error {
	var owner string
	err := queryRowOn(ctx, q, s.d.sql(sqlShardOwner), []any{namespace, campaign, run, shard}, &owner)
	switch {
	case err != nil:
		return fmt.Errorf("read the owner of shard %d: %w", shard, err)
	case owner == "":
		return fmt.Errorf("shard %d of run %s has no owner: %w (its worker takes it first)", shard, run, ErrNotShardOwner)
	case owner != worker:
		return fmt.Errorf("shard %d of run %s belongs to %s, not %s: %w", shard, run, owner, worker, ErrNotShardOwner)
	}
	return nil
}

func (s *sqlStore) DueDeliveries(ctx context.Context, q DueQuery) ([]Delivery, DueCursor, error) {
	cursor := q.After
	if err := checkKeys("namespace", q.Namespace, "campaign", q.Campaign, "run", q.Run); err != nil {
		return nil, cursor, fmt.Errorf("read due deliveries: %w", err)
	}
	switch {
	case q.Shard < 0:
		return nil, cursor, fmt.Errorf("read due deliveries of run %s of campaign %s/%s: shard %d is negative", q.Run, q.Namespace, q.Campaign, q.Shard)
	case q.Limit < 1:
		return nil, cursor, fmt.Errorf("read due deliveries of run %s of campaign %s/%s: limit %d reads nothing: ask for 1 or more",
			q.Run, q.Namespace, q.Campaign, q.Limit)
	}
	now := q.Now
	if now.IsZero() {
		now = s.clock.Now()
	}
	now = storedTime(now)
	var due []Delivery
	err := s.b.readOnly(ctx, func(qr querier) error {
		for _, state := range dueStates {
			key := cursor.of(state)
			after := key.notBefore
			if after.IsZero() {
				after = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) // before any row
			}
			rs, err := qr.query(ctx, s.d.sql(sqlDueDeliveries), q.Namespace, q.Campaign, q.Run, string(state), q.Shard,
				s.d.timeArg(now), s.d.timeArg(after), key.seq, q.Limit-len(due))
			if err != nil {
				return err
			}
			known := Delivery{Namespace: q.Namespace, Campaign: q.Campaign, Run: q.Run, Shard: q.Shard, State: state}
			n := len(due)
			if due, err = scanDue(rs, known, due); err != nil {
				return err
			}
			if len(due) > n {
				last := due[len(due)-1]
				*key = dueKey{notBefore: last.NotBefore, seq: last.seq}
			}
			if len(due) == q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, q.After, fmt.Errorf("read due deliveries of run %s of campaign %s/%s: %w", q.Run, q.Namespace, q.Campaign, err)
	}
	return due, cursor, nil
}

// of returns the cursor's key of a state.
func (c *DueCursor) of(state DeliveryState) *dueKey {
	if state == DeliveryDeferred {
		return &c.deferred
	}
	return &c.pending
}

func (s *sqlStore) NextDelivery(ctx context.Context, namespace, campaign, run string) (time.Time, bool, error) {
	var next nullTime
	err := s.b.readOnly(ctx, func(q querier) error {
		return queryRowOn(ctx, q, s.d.sql(sqlNextDelivery), []any{namespace, campaign, run}, &next)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery of run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	return next.Time, next.Valid, nil
}

// scanDue appends the due rows of rs to out, with the columns the read knew from known.
func scanDue(rs rows, known Delivery, out []Delivery) ([]Delivery, error) {
	defer rs.Close()
	for rs.Next() {
		d := known
		var notBefore, created, updated nullTime
		if err := rs.Scan(&d.seq, &d.ProfileID, &d.Step, &d.Variant, &d.Purpose, &d.Channel, &d.ChannelType,
			&d.Address, &d.Attempts, &notBefore, &d.RecordedBy, &d.MessageID, &d.ProviderMessageID, &d.Error,
			&created, &updated); err != nil {
			return nil, err
		}
		d.NotBefore, d.CreatedAt, d.UpdatedAt = notBefore.Time, created.Time, updated.Time
		out = append(out, d)
	}
	return out, rs.Err()
}

// scanDeliveries appends the rows of rs to out.
func scanDeliveries(rs rows, out []Delivery) ([]Delivery, error) {
	defer rs.Close()
	for rs.Next() {
		var d Delivery
		var state string
		var notBefore, created, updated, sent nullTime
		if err := rs.Scan(&d.Namespace, &d.Campaign, &d.Run, &d.ProfileID, &d.Step, &d.Shard, &d.Variant,
			&d.Purpose, &d.Channel, &d.ChannelType, &d.Address, &state, &d.Attempts, &notBefore,
			&d.RecordedBy, &d.MessageID, &d.ProviderMessageID, &d.Error, &created, &updated, &sent); err != nil {
			return nil, err
		}
		d.State = DeliveryState(state)
		d.NotBefore, d.CreatedAt, d.UpdatedAt, d.SentAt = notBefore.Time, created.Time, updated.Time, sent.Time
		out = append(out, d)
	}
	return out, rs.Err()
}

// outcomeBatchRows is how many outcomes one statement records: 15 parameters each stay far
// below SQLite's limit of 32766 per statement.
const outcomeBatchRows = 500

// runKey names a campaign run, and the policy its outcomes count under.
type runKey struct{ namespace, campaign, run, policy string }

// shardKey names the shard of a run an outcome's worker must own.
type shardKey struct {
	namespace, campaign, run string
	shard                    int
	worker                   string
}

func (s *sqlStore) RecordOutcomes(ctx context.Context, outcomes []Outcome) (int, error) {
	if len(outcomes) == 0 {
		return 0, nil
	}
	now := s.now()
	// The outcomes' parameters by run, runs in the order they first come.
	byRun := map[runKey][]any{}
	var runs []runKey
	owners := map[shardKey]bool{}
	for i, o := range outcomes {
		if err := checkOutcome(o); err != nil {
			return 0, fmt.Errorf("record outcomes: outcome %d: %w", i+1, err)
		}
		at := now
		if !o.At.IsZero() {
			at = storedTime(o.At)
		}
		var notBefore any
		if o.State == DeliveryDeferred || o.State == DeliveryPending {
			notBefore = s.d.timeArg(at)
			if !o.NotBefore.IsZero() {
				notBefore = s.d.timeArg(storedTime(o.NotBefore))
			}
		}
		k := runKey{o.Namespace, o.Campaign, o.Run, o.Policy}
		if _, ok := byRun[k]; !ok {
			runs = append(runs, k)
		}
		attempts := 0
		if o.Attempted {
			attempts = 1
		}
		var readAt any
		if !o.RowUpdatedAt.IsZero() {
			readAt = s.d.timeArg(storedTime(o.RowUpdatedAt))
		}
		byRun[k] = append(byRun[k], o.ProfileID, o.Step, o.Worker, string(o.State), o.Channel, o.ChannelType,
			o.Address, o.MessageID, o.ProviderMessageID, diagnosticText(o.Error, MaxDeliveryErrorBytes),
			notBefore, s.d.timeArg(at), attempts, o.Shard, readAt)
		owners[shardKey{o.Namespace, o.Campaign, o.Run, o.Shard, o.Worker}] = true
	}
	applied := 0
	// No lock: outcomes write rows of their shard alone, and the shard's owner (checkShardOwner)
	// keeps a takeover out. On PostgreSQL a lock would cost a round trip per commit.
	err := s.inTransaction(ctx, noLock, func(sess session) error {
		for k := range owners {
			if err := s.checkShardOwner(ctx, sess, k.namespace, k.campaign, k.run, k.shard, k.worker); err != nil {
				return err
			}
		}
		totals := totalCounts{}
		for _, k := range runs {
			for part := range slices.Chunk(byRun[k], outcomeBatchRows*outcomeColumns) {
				n, err := s.recordOutcomes(ctx, sess, k, part, totals)
				if err != nil {
					return fmt.Errorf("run %s of campaign %s/%s: %w", k.run, k.namespace, k.campaign, err)
				}
				applied += n
			}
		}
		return s.addDeliveryTotals(ctx, sess, totalSlot(outcomes[0].Worker), totals)
	})
	if err != nil {
		return 0, fmt.Errorf("record outcomes: %w", err)
	}
	return applied, nil
}

func checkOutcome(o Outcome) error {
	if err := checkKeys("namespace", o.Namespace, "campaign", o.Campaign, "run", o.Run,
		"profile ID", o.ProfileID, "step", o.Step, "worker", o.Worker); err != nil {
		return err
	}
	if o.Shard < 0 {
		return fmt.Errorf("profile %s step %s: shard %d is negative", o.ProfileID, o.Step, o.Shard)
	}
	switch o.State {
	case DeliverySent, DeliveryDeferred, DeliverySuppressed, DeliveryCapped, DeliveryFailed, DeliveryPending:
	default:
		return fmt.Errorf("profile %s step %s: %q is not an outcome: use sent, deferred, suppressed, capped, failed, or pending to retry",
			o.ProfileID, o.Step, o.State)
	}
	for _, f := range []struct{ what, value string }{
		{"channel", o.Channel}, {"channel type", o.ChannelType}, {"address", o.Address},
		{"message ID", o.MessageID}, {"provider message ID", o.ProviderMessageID},
	} {
		if err := checkText(f.what, f.value); err != nil {
			return fmt.Errorf("profile %s step %s: %w", o.ProfileID, o.Step, err)
		}
	}
	return nil
}

// recordOutcomes applies the outcomes of one run whose parameters rowArgs holds, and keeps the
// events of those that applied for FlushDeliveryEvents: on a session that runs a prepared statement many times (SQLite,
// in the same process), one row at a time; otherwise (PostgreSQL, a round trip per statement)
// with one statement for all the rows and one for their events.
func (s *sqlStore) recordOutcomes(ctx context.Context, q querier, k runKey, rowArgs []any, totals totalCounts) (int, error) {
	if r, ok := q.(repeater); ok {
		return s.recordOutcomesByRow(ctx, r, k, rowArgs, totals)
	}
	query := s.d.sql(sqlRecordOutcomesPrefix + valuesRows(len(rowArgs)/outcomeColumns, outcomeRow) + sqlRecordOutcomesSuffix)
	rs, err := q.query(ctx, query, slices.Concat(rowArgs, []any{k.namespace, k.campaign, k.run})...)
	if err != nil {
		return 0, fmt.Errorf("update rows: %w", err)
	}
	var events []any
	var buf []byte
	applied, err := scanApplied(rs, func(r Delivery, at time.Time) error {
		totals.count(r, k.policy, at)
		events, buf, err = s.appendOutcomeEvent(events, buf, r, at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read the rows updated: %w", err)
	}
	if len(events) > 0 {
		query := s.d.sql(sqlInsertOutcomeEventsPrefix + valuesRows(len(events)/outcomeEventColumns, outcomeEventRow))
		if _, err := q.exec(ctx, query, events...); err != nil {
			return 0, fmt.Errorf("write events: %w", err)
		}
	}
	return applied, nil
}

// recordOutcomesByRow applies each outcome with one prepared statement, and writes its event
// with another. In SQLite, which runs in this process, a statement costs no round trip: a
// statement of many rows would only add parsing its VALUES list, different for each length,
// and copying the list into a temporary table before the join.
func (s *sqlStore) recordOutcomesByRow(ctx context.Context, r repeater, k runKey, rowArgs []any, totals totalCounts) (int, error) {
	update, err := r.repeat(ctx, s.d.sql(sqlRecordOutcome))
	if err != nil {
		return 0, fmt.Errorf("prepare the update: %w", err)
	}
	insert, err := r.repeat(ctx, s.d.sql(sqlInsertOutcomeEventsPrefix+outcomeEventRow))
	if err != nil {
		return 0, fmt.Errorf("prepare the event insert: %w", err)
	}
	// The rows' statements run without the context's cancellation: the driver would watch it
	// from a goroutine of its own for each statement, a fifth of the statement's cost, and the
	// transaction's own statements still honour it.
	rowCtx := context.WithoutCancel(ctx)
	args := make([]any, outcomeColumns+3)
	args[outcomeColumns], args[outcomeColumns+1], args[outcomeColumns+2] = k.namespace, k.campaign, k.run
	var event []any
	var buf []byte
	applied := 0
	for row := range slices.Chunk(rowArgs, outcomeColumns) {
		copy(args, row)
		rs, err := update.query(rowCtx, args...)
		if err != nil {
			return 0, fmt.Errorf("update row: %w", err)
		}
		// The statement returns what the outcome does not say: the keys and state are its own.
		n, err := scanAppliedRow(rs, Delivery{Namespace: k.namespace, Campaign: k.campaign, Run: k.run,
			ProfileID: row[0].(string), Step: row[1].(string), State: DeliveryState(row[3].(string))},
			func(r Delivery, at time.Time) error {
				totals.count(r, k.policy, at)
				event, buf, err = s.appendOutcomeEvent(event[:0], buf, r, at)
				return err
			})
		if err != nil {
			return 0, fmt.Errorf("read the row updated: %w", err)
		}
		applied += n
		if n > 0 && len(event) > 0 {
			if _, err := insert.exec(rowCtx, event...); err != nil {
				return 0, fmt.Errorf("write event: %w", err)
			}
		}
	}
	return applied, nil
}

// scanAppliedRow reads the row sqlRecordOutcome returned, if its outcome applied, into r and
// passes it to fn; it returns 1 if it did, else 0.
func scanAppliedRow(rs rows, r Delivery, fn func(r Delivery, at time.Time) error) (int, error) {
	defer rs.Close()
	if !rs.Next() {
		return 0, rs.Err()
	}
	var at nullTime
	if err := rs.Scan(&r.Variant, &r.Channel, &r.ChannelType, &r.Address, &at); err != nil {
		return 0, err
	}
	if err := fn(r, at.Time); err != nil {
		return 0, err
	}
	return 1, rs.Err()
}

// scanApplied reads the rows an outcome statement returned, each an outcome that applied, and
// passes each to fn; it returns how many there were.
func scanApplied(rs rows, fn func(r Delivery, at time.Time) error) (int, error) {
	defer rs.Close()
	applied := 0
	for rs.Next() {
		applied++
		var r Delivery
		var state string
		var at nullTime
		if err := rs.Scan(&r.Namespace, &r.Campaign, &r.Run, &r.ProfileID, &r.Step, &state, &r.Variant,
			&r.Channel, &r.ChannelType, &r.Address, &at); err != nil {
			return 0, err
		}
		r.State = DeliveryState(state)
		if err := fn(r, at.Time); err != nil {
			return 0, err
		}
	}
	return applied, rs.Err()
}

// appendOutcomeEvent appends the parameters of the event of an applied outcome to events, when
// its state is one that writes an event; buf is scratch space for the properties' JSON.
func (s *sqlStore) appendOutcomeEvent(events []any, buf []byte, r Delivery, at time.Time) ([]any, []byte, error) {
	eventType, ok := outcomeEventTypes[r.State]
	if !ok {
		return events, buf, nil
	}
	buf, err := encodeValues(buf[:0], map[string]any{
		"campaign": r.Campaign, "run": r.Run, "step": r.Step, "variant": r.Variant, "channel": r.Channel,
	})
	if err != nil {
		return events, buf, err
	}
	idType, idValue := eventIdentifier(r)
	return append(events, r.Namespace, CampaignEventSource, deliveryEventID(r), eventType,
		s.d.timeArg(at), idType, idValue, string(buf)), buf, nil
}

// totalKey is a counter of delivery_totals.
type totalKey struct{ namespace, channel, policy, state string }

// totalCounts are what a transaction adds to the counters of delivery_totals: how many
// outcomes, and the time of the latest.
type totalCounts map[totalKey]struct {
	n    int64
	last time.Time
}

// count counts an applied outcome, at its time, in its channel's and policy's totals, if its
// state is one they keep.
func (t totalCounts) count(r Delivery, policy string, at time.Time) {
	switch r.State {
	case DeliverySent, DeliveryFailed, DeliverySuppressed, DeliveryCapped, DeliveryDeferred:
		k := totalKey{r.Namespace, r.Channel, policy, string(r.State)}
		c := t[k]
		c.n++
		if at.After(c.last) {
			c.last = at
		}
		t[k] = c
	}
}

// addDeliveryTotals adds a transaction's outcomes to the running totals, in key order so that
// two transactions never wait for each other's counters in opposite orders.
func (s *sqlStore) addDeliveryTotals(ctx context.Context, q querier, slot int, totals totalCounts) error {
	keys := slices.SortedFunc(maps.Keys(totals), func(a, b totalKey) int {
		return cmp.Or(strings.Compare(a.namespace, b.namespace), strings.Compare(a.channel, b.channel),
			strings.Compare(a.policy, b.policy), strings.Compare(a.state, b.state))
	})
	for _, k := range keys {
		c := totals[k]
		if _, err := q.exec(ctx, s.d.sql(sqlAddDeliveryTotal), k.namespace, k.channel, k.policy, k.state, slot, c.n,
			s.d.timeArg(c.last)); err != nil {
			return fmt.Errorf("add to the delivery totals: %w", err)
		}
	}
	return nil
}

// totalSlot is the slot of delivery_totals a worker adds to.
func totalSlot(worker string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(worker))
	return int(h.Sum32() % 16)
}

func (s *sqlStore) DeliveryTotals(ctx context.Context, namespace string) ([]DeliveryTotal, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlDeliveryTotals), namespace)
	if err != nil {
		return nil, fmt.Errorf("read the delivery totals of namespace %s: %w", namespace, err)
	}
	defer rs.Close()
	var out []DeliveryTotal
	for rs.Next() {
		var t DeliveryTotal
		var state string
		var last nullTime
		if err := rs.Scan(&t.Channel, &t.Policy, &state, &t.Count, &last); err != nil {
			return nil, fmt.Errorf("read the delivery totals of namespace %s: %w", namespace, err)
		}
		t.State, t.Last = DeliveryState(state), last.Time
		out = append(out, t)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read the delivery totals of namespace %s: %w", namespace, err)
	}
	return out, nil
}

// outcomeEventTypes are the outcomes that write an event, the final ones.
var outcomeEventTypes = map[DeliveryState]string{
	DeliverySent:       EventMessageSent,
	DeliveryFailed:     EventMessageFailed,
	DeliverySuppressed: EventMessageSuppressed,
	DeliveryCapped:     EventMessageCapped,
}

// channelIdentifierTypes maps a channel type to the identifier type profiles keep its addresses
// under, so that identity links take a campaign's events to the profile as any other event.
var channelIdentifierTypes = map[string]string{
	"SMTP": "Email",
	"SMS":  "Phone",
	"LINE": "LineUserID",
	"Push": "DeviceToken",
}

// eventIdentifier is the identifier of the event of a row: its address, or its profile ID when
// the channel addresses no person (a webhook) or the row has no address.
func eventIdentifier(d Delivery) (idType, value string) {
	if t, ok := channelIdentifierTypes[d.ChannelType]; ok && d.Address != "" {
		return t, d.Address
	}
	return ProfileIDIdentifier, d.ProfileID
}

// deliveryEventID is the ID of a row's event, "campaign/run/step/profile" with each part
// path-escaped: the same for every attempt at recording it, so that the event is written once,
// and readable. A worker records the rows of a run in about profile order, so that the events of
// a batch go next to each other into the events' key, where hashed IDs would spread each batch
// over the whole key. An ID too long to index is hashed.
func deliveryEventID(d Delivery) string {
	id := url.PathEscape(d.Campaign) + "/" + url.PathEscape(d.Run) + "/" + url.PathEscape(d.Step) + "/" +
		url.PathEscape(d.ProfileID)
	if len(id) > maxKeyBytes {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}

// valuesRows repeats a row of placeholders n times, comma-separated.
func valuesRows(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func (s *sqlStore) DeliveryCounts(ctx context.Context, namespace, campaign, run string) (DeliveryCounts, error) {
	c, err := s.countDeliveries(ctx, sqlDeliveryCounts, namespace, campaign, run)
	if err != nil {
		return DeliveryCounts{}, fmt.Errorf("count the rows of run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	return c, nil
}

func (s *sqlStore) CampaignDeliveryCounts(ctx context.Context, namespace, campaign string) (DeliveryCounts, error) {
	c, err := s.countDeliveries(ctx, sqlCampaignDeliveryCounts, namespace, campaign)
	if err != nil {
		return DeliveryCounts{}, fmt.Errorf("count the rows of campaign %s/%s: %w", namespace, campaign, err)
	}
	return c, nil
}

// countDeliveries reads counts by state that query returns.
func (s *sqlStore) countDeliveries(ctx context.Context, query string, args ...any) (DeliveryCounts, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(query), args...)
	if err != nil {
		return DeliveryCounts{}, err
	}
	defer rs.Close()
	var c DeliveryCounts
	for rs.Next() {
		var state string
		var n int64
		if err := rs.Scan(&state, &n); err != nil {
			return DeliveryCounts{}, err
		}
		if field := c.of(DeliveryState(state)); field != nil {
			*field = n
		}
		c.Total += n
	}
	return c, rs.Err()
}

func (s *sqlStore) ReachedProfiles(ctx context.Context, namespace, campaign, exceptRun string, scheduledAfter time.Time, profileIDs []string) (map[string]bool, error) {
	reached := map[string]bool{}
	for ids := range distinctBatches(profileIDs) {
		args := make([]any, 0, 4+len(ids))
		args = append(args, namespace, campaign, exceptRun, scheduledAfter)
		for _, id := range ids {
			args = append(args, id)
		}
		err := s.QueryProfiles(ctx, s.d.sql(sqlReachedProfilesPrefix+inList(len(ids))+")"), args, func(id string) error {
			reached[id] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the profiles campaign %s/%s reached: %w", namespace, campaign, err)
		}
	}
	return reached, nil
}

// of returns the count of a state.
func (c *DeliveryCounts) of(state DeliveryState) *int64 {
	switch state {
	case DeliveryPending:
		return &c.Pending
	case DeliverySent:
		return &c.Sent
	case DeliveryDeferred:
		return &c.Deferred
	case DeliverySuppressed:
		return &c.Suppressed
	case DeliveryCapped:
		return &c.Capped
	case DeliveryFailed:
		return &c.Failed
	case DeliveryHoldout:
		return &c.Holdout
	}
	return nil
}

func (s *sqlStore) Deliveries(ctx context.Context, namespace, campaign, run string, limit int) ([]Delivery, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlListDeliveries), namespace, campaign, run, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list the rows of run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	out, err := scanDeliveries(rs, nil)
	if err != nil {
		return nil, fmt.Errorf("list the rows of run %s of campaign %s/%s: %w", run, namespace, campaign, err)
	}
	return out, nil
}

// inListBatch is how many values one IN list of a lookup holds.
const inListBatch = 500

// distinctBatches sorts values, drops repeats and yields them in slices of at most inListBatch,
// so that a lookup by many keys returns each row once.
func distinctBatches(values []string) iter.Seq[[]string] {
	sorted := slices.Compact(slices.Sorted(slices.Values(values)))
	return slices.Chunk(sorted, inListBatch)
}

// inList is a parenthesised list's inside of n placeholders.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func (s *sqlStore) RecentSends(ctx context.Context, namespace string, profileIDs []string, since time.Time) (map[string][]Sent, error) {
	out := map[string][]Sent{}
	if err := s.recentSends(ctx, s.b.read(), namespace, profileIDs, since, out); err != nil {
		return nil, fmt.Errorf("read the recent sends of %s: %w", namespace, err)
	}
	return out, nil
}

// recentSends reads on q the sends of profileIDs at or after since into out, by profile.
func (s *sqlStore) recentSends(ctx context.Context, q querier, namespace string, profileIDs []string, since time.Time, out map[string][]Sent) error {
	for ids := range distinctBatches(profileIDs) {
		args := make([]any, 0, 2+len(ids))
		args = append(args, namespace, s.d.timeArg(storedTime(since)))
		for _, id := range ids {
			args = append(args, id)
		}
		if err := scanRecentSends(ctx, q, s.d.sql(sqlRecentSendsPrefix+inList(len(ids))+sqlRecentSendsSuffix), args, out); err != nil {
			return err
		}
	}
	return nil
}

// scanRecentSends reads the sends a query of sqlRecentSends finds on q into out, by profile.
func scanRecentSends(ctx context.Context, q querier, query string, args []any, out map[string][]Sent) error {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var id string
		var sent Sent
		var at nullTime
		if err := rs.Scan(&id, &sent.ChannelType, &sent.Purpose, &sent.Campaign, &at); err != nil {
			return err
		}
		sent.SentAt = at.Time
		out[id] = append(out[id], sent)
	}
	return rs.Err()
}

func (s *sqlStore) DeleteCampaign(ctx context.Context, namespace, campaign string) error {
	if err := checkKeys("namespace", namespace, "campaign", campaign); err != nil {
		return fmt.Errorf("delete campaign: %w", err)
	}
	// The campaign's lock, so that a run being planned now does not write rows back after.
	err := s.inTransaction(ctx, campaignLock(namespace, campaign), func(sess session) error {
		for _, query := range sqlDeleteCampaign {
			if _, err := sess.exec(ctx, s.d.sql(query), namespace, campaign); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete campaign %s/%s: %w", namespace, campaign, err)
	}
	return nil
}
