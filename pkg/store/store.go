// Package store is Kizuna's profile store: raw records, behavioural events, quarantined rows and
// sync runs; the profiles that identity resolution publishes, with their memberships (which
// profile each source record belongs to), aliases and runs; the identity links that take events
// to profiles, and each segment's members, history and evaluations; the delivery ledger of
// campaign runs, with the suppressed addresses, recorded consents and channel rate limits that
// decide whether a message may go. Two backends sit behind one interface: SQLite
// (modernc.org/sqlite, the embedded default: one file, no server) and PostgreSQL (jackc/pgx, for
// production and many concurrent writers). SQL differences live in one dialect layer; one
// conformance suite runs against both.
//
// Every table carries the namespace, so namespaces are tenants. Writes are idempotent upserts keyed
// by natural keys, so a Job that runs twice does no harm. The store imports no Kubernetes types.
//
// A resolution publishes all its profiles at once, as a new generation: readers see the previous
// generation until the new one commits, then the new one, never a mix. The store keeps the
// published generation and the one before it; older ones are gone.
//
// Values come back as they went in, with these rules, the same in both backends:
//   - Times in columns (FirstSeenAt, UpdatedAt, DeletedAt, OccurredAt, ReceivedAt, a run's times)
//     come back in UTC, truncated to the microsecond, PostgreSQL's precision.
//   - Attribute and property maps (a profile's attributes too) are stored as JSON. A time.Time in
//     them is stored as a tagged object, {"$time": "2024-04-01T09:30:00.000000000Z"}, and comes
//     back as a time.Time in UTC with its nanoseconds; a bare string never turns into a time.
//     Numbers of any Go type come back as float64. An empty or nil map comes back as an empty map.
//   - SQL that reads the JSON (segments) finds a time in the tagged object's "$time" string,
//     which always has nine fraction digits, so that times compare correctly as text.
package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// ErrDuplicateKey is returned by SyncWriter.PutRecord for a record key already written in the same
// sync: the row is quarantined, the first one wins. ProfileWriter returns it for a profile ID, a
// record or an alias already written in the same publish.
var ErrDuplicateKey = errors.New("duplicate key")

// ErrInvalidRow is returned, wrapped with the reason, by SyncWriter.PutRecord and PutEvent for a
// row the store cannot hold: an empty key, event ID or type, or one over 1 KiB; a key, ID, type or
// event identifier that is not UTF-8; a NUL character anywhere (PostgreSQL refuses it); a number
// JSON cannot carry (NaN, ±Inf); an event without its time. Only that row is refused: the sync
// goes on, and the caller quarantines the row. Invalid UTF-8 inside attribute and property values
// is kept as U+FFFD, as encoding/json does.
var ErrInvalidRow = errors.New("row cannot be stored")

// ErrNotFound is returned when a named object does not exist.
var ErrNotFound = errors.New("not found")

// ErrNotShardOwner is returned by RecordOutcomes and ReserveSends for a worker whose shard
// another worker has taken over (TakeShard): that worker sends the shard's rows now, and this one
// must stop.
var ErrNotShardOwner = errors.New("another worker has taken the shard over")

// ErrRunFinished is returned by BeginSync for a run ID that already succeeded or was skipped, and by
// BeginPublish and PutResolutionRun for a run ID that already succeeded: a retried or duplicated
// Job finds its work done. Run and ResolutionRuns return that run.
var ErrRunFinished = errors.New("run already finished")

// Store is a connection to the profile store. It is safe for concurrent use.
type Store interface {
	// Migrate applies the embedded schema migrations that are not applied yet. It is safe when
	// several processes call it at once.
	Migrate(ctx context.Context) error

	// BeginSync starts writing one sync of a source. Nothing it writes is visible to readers until
	// Commit; Abort leaves the source's data as it was. Syncs of one source are serialized: a
	// second BeginSync for the same source waits until the first commits or aborts.
	BeginSync(ctx context.Context, run SyncRun) (SyncWriter, error)

	// Run returns one run of a source, or ErrNotFound.
	Run(ctx context.Context, namespace, source, runID string) (SyncRun, error)

	// SyncRuns returns the latest runs of a source, newest first (by StartedAt). A limit of zero
	// or less returns them all.
	SyncRuns(ctx context.Context, namespace, source string, limit int) ([]SyncRun, error)

	// Quarantined returns the quarantined rows of one run, in row order. A limit of zero or less
	// returns them all (at most MaxQuarantinedRowsPerRun are kept).
	Quarantined(ctx context.Context, namespace, source, runID string, limit int) ([]QuarantinedRow, error)

	// ScanRecords calls fn for every record of a source (deleted ones too) in record-key order.
	ScanRecords(ctx context.Context, namespace, source string, fn func(Record) error) error

	// ScanLiveRecords calls fn for every live record of a source in record-key order, decoding
	// only what the caller asks of each: the way to read millions of records. The record is
	// only valid during the call.
	ScanLiveRecords(ctx context.Context, namespace, source string, fn func(*LiveRecord) error) error

	// ScanEvents calls fn for every event of a source in (occurredAt, id) order.
	ScanEvents(ctx context.Context, namespace, source string, fn func(Event) error) error

	// SourceStats counts the records and events a source holds.
	SourceStats(ctx context.Context, namespace, source string) (SourceStats, error)

	// SourceState returns what the last successful sync remembered of a source (ETag, cursor), or
	// a zero SourceState.
	SourceState(ctx context.Context, namespace, source string) (SourceState, error)

	// BeginPublish starts publishing generation published+1 of a resolution. Nothing it writes is
	// visible to readers until Commit, which switches them to the new generation atomically;
	// Abort publishes nothing. Publishes of one resolution are serialized, as syncs of one source
	// are. A run ID that already succeeded returns ErrRunFinished. A dry run cannot publish: record
	// it with PutResolutionRun. A publish also reads the rows it replaces, through a reader
	// connection (with PostgreSQL, a second connection of the pool).
	BeginPublish(ctx context.Context, run ResolutionRun) (ProfileWriter, error)

	// PutResolutionRun records a run that publishes nothing: a dry run (Succeeded or Failed) or a
	// run that failed before it began publishing. It returns ErrRunFinished when the run ID
	// already succeeded.
	PutResolutionRun(ctx context.Context, run ResolutionRun) error

	// ResolutionRuns returns the latest runs of a resolution, newest first (by StartedAt). A limit
	// of zero or less returns them all.
	ResolutionRuns(ctx context.Context, namespace, resolution string, limit int) ([]ResolutionRun, error)

	// ResolutionState returns which generation of a resolution readers see, or a zero
	// ResolutionState before its first publish.
	ResolutionState(ctx context.Context, namespace, resolution string) (ResolutionState, error)

	// Resolutions names the resolutions of a namespace that have published, in name order.
	Resolutions(ctx context.Context, namespace string) ([]string, error)

	// ScanProfiles calls fn for every profile of the published generation, in ID order.
	ScanProfiles(ctx context.Context, namespace, resolution string, fn func(Profile) error) error

	// ScanMemberships calls fn for every record of the published generation with the ID of its
	// profile, in (source, key) order.
	ScanMemberships(ctx context.Context, namespace, resolution string, fn func(ref RecordRef, profileID string) error) error

	// ScanAliases calls fn for every alias of the published generation, in alias order.
	ScanAliases(ctx context.Context, namespace, resolution string, fn func(alias, profileID string) error) error

	// LookupProfile returns a profile of the published generation by its ID, or by the ID of a
	// profile it absorbed (an alias); ErrNotFound when there is neither.
	LookupProfile(ctx context.Context, namespace, resolution, id string) (Profile, error)

	// ProfileOf returns the ID of the profile a record belongs to in the published generation,
	// or ErrNotFound.
	ProfileOf(ctx context.Context, namespace, resolution string, ref RecordRef) (string, error)

	// LookupProfiles returns the published profiles of the IDs, found by ID or by alias as
	// LookupProfile finds them, keyed by the ID asked for; IDs of no profile are left out.
	LookupProfiles(ctx context.Context, namespace, resolution string, ids []string) (map[string]Profile, error)

	// ResolutionStats counts the rows the store holds of the published generation of a
	// resolution and of the one before it.
	ResolutionStats(ctx context.Context, namespace, resolution string) (ResolutionStats, error)

	// Dialect names the SQL the store speaks, DialectSQLite or DialectPostgres: the queries that
	// EvaluateSegment and QueryProfiles run are written in it.
	Dialect() string

	// LatestEventReceipt returns the latest ReceivedAt of the namespace's events, or the zero time
	// when it has none: the watermark to remember after linking the identifiers of events.
	LatestEventReceipt(ctx context.Context, namespace string) (time.Time, error)

	// EventIdentifiers calls fn with each distinct (identifier type, value) of the namespace's
	// events received strictly after receivedAfter (of all events when it is zero), in (type,
	// value) order. Read LatestEventReceipt first and remember it once the identifiers are
	// linked. ReceivedAt is stamped when a sync writes an event, not when the sync commits: a
	// sync that commits after a later one (PostgreSQL runs syncs of different sources at once)
	// brings events older than the watermark. A caller that must link those reads from a margin
	// before the watermark; linking an identifier again costs little.
	EventIdentifiers(ctx context.Context, namespace string, receivedAfter time.Time, fn func(idType, value string) error) error

	// IdentityLinkState returns what the identity links of a resolution were last built from, or
	// a zero IdentityLinkState before the first WriteIdentityLinks.
	IdentityLinkState(ctx context.Context, namespace, resolution string) (IdentityLinkState, error)

	// WriteIdentityLinks writes links of a resolution in one transaction: with update.Replace,
	// the resolution's links are deleted first; each link is upserted, a later link of the same
	// identifier replacing the profile of an earlier one; then the state becomes update's.
	// Readers see the old links or the new ones, never a mix. A link the store cannot hold fails
	// the whole write with ErrInvalidRow, and nothing changes. links is read inside the
	// transaction (in SQLite, holding the one writer): it may read the store, not write to it.
	WriteIdentityLinks(ctx context.Context, update IdentityLinkUpdate, links iter.Seq[IdentityLink]) error

	// EvaluateSegment runs a segment's query and records the result in one transaction: the
	// members who entered and exited since the last evaluation, in the segment's history and
	// members, and the evaluation itself. Members who stay keep their EnteredAt. Evaluations of
	// one segment are serialized. A query that fails changes nothing. In SQLite the query runs
	// on the one writer connection, so writes wait for it.
	EvaluateSegment(ctx context.Context, e SegmentEvaluation) (SegmentEvaluationResult, error)

	// QueryProfiles runs a query of the form EvaluateSegment takes, read-only, and calls fn with
	// each profile ID it returns, in its order, duplicates included: previews of a segment.
	QueryProfiles(ctx context.Context, query string, args []any, fn func(profileID string) error) error

	// SegmentMembers returns the current members of a segment in profile ID order. A limit of
	// zero or less returns them all.
	SegmentMembers(ctx context.Context, namespace, segment string, limit int) ([]SegmentMember, error)

	// SegmentHistory returns the entries and exits of a segment's evaluations after
	// sinceEvaluation (all of them when it is zero), in (evaluation, profile ID) order.
	SegmentHistory(ctx context.Context, namespace, segment string, sinceEvaluation int64) ([]SegmentChange, error)

	// SegmentEvaluations returns the latest evaluations of a segment, newest first. A limit of
	// zero or less returns them all.
	SegmentEvaluations(ctx context.Context, namespace, segment string, limit int) ([]SegmentEvaluationResult, error)

	// DeleteSegment removes a segment's members, history and evaluations; the next evaluation
	// of a segment of that name is number 1 again. A segment the store does not hold is no error.
	DeleteSegment(ctx context.Context, namespace, segment string) error

	// PlanDeliveryRun writes a campaign run and all its rows, pending or holdout, in one
	// transaction, and returns how many rows it wrote. A run already planned writes nothing and
	// returns ErrRunFinished, so a retried planner does no harm. rows is read batch by batch
	// inside the transaction (in SQLite, holding the one writer): it may read the store, not
	// write to it. A row the store cannot hold, or a profile's step planned twice, fails the
	// whole plan. Plans and deletions of one campaign take turns.
	PlanDeliveryRun(ctx context.Context, run DeliveryRun, rows iter.Seq[PlannedDelivery]) (planned int64, err error)

	// DeliveryRun returns one planned run of a campaign, or ErrNotFound.
	DeliveryRun(ctx context.Context, namespace, campaign, run string) (DeliveryRun, error)

	// DeliveryRuns returns the latest runs of a campaign, newest first (by CreatedAt). A limit
	// of zero or less returns them all.
	DeliveryRuns(ctx context.Context, namespace, campaign string, limit int) ([]DeliveryRun, error)

	// CompleteDeliveryRun sets a run's CompletedAt to at (zero: the store's clock) when none of
	// its rows is pending or deferred, and returns the run; CompletedAt stays zero while
	// rows remain, and keeps the first completion's time. ErrNotFound when there is no such run.
	CompleteDeliveryRun(ctx context.Context, namespace, campaign, run string, at time.Time) (DeliveryRun, error)

	// TakeShard makes worker the owner of a run's shard, whoever owned it before, and says how
	// many frequency-cap reservations of the shard's unsent rows it released: those of a worker
	// killed between its reservation and its outcome. A shard's worker calls it when it starts;
	// from then on only its outcomes and reservations apply to the shard, and those of a worker
	// that still runs (a Pod being replaced) fail with ErrNotShardOwner, so that it stops.
	TakeShard(ctx context.Context, namespace, campaign, run string, shard int, worker string) (released int64, err error)

	// DueDeliveries reads up to q.Limit rows of a shard that are due by q.Now, deferred ones
	// first, each state in the order its rows became due and were planned, and returns them with
	// the cursor to pass in q.After next time: a read starts where the last one stopped, so the
	// rows a worker has read and not yet recorded are not read again, and a row whose outcome
	// makes it due again later (a retry, a deferral) is read once its time comes. It writes
	// nothing: the shard's owner (TakeShard) is the only one that sends its rows.
	DueDeliveries(ctx context.Context, q DueQuery) ([]Delivery, DueCursor, error)

	// NextDelivery returns when the run next has work: the earliest NotBefore of its pending
	// and deferred rows; false when it has none.
	NextDelivery(ctx context.Context, namespace, campaign, run string) (time.Time, bool, error)

	// RecordOutcomes applies outcomes in one transaction and returns how many applied. Each
	// outcome's Worker must own its Shard (TakeShard), or the whole batch fails with
	// ErrNotShardOwner and nothing applies. An outcome applies only to a row of its Shard still
	// pending or deferred and, when it gives RowUpdatedAt, unchanged since it was read, so that
	// a batch recorded again (after a commit whose answer was lost) applies nothing twice. A
	// batch holds at most one outcome per row.
	// Each applied outcome that is final (sent, failed, suppressed, capped) keeps one event of
	// source CampaignEventSource in the same transaction, for FlushDeliveryEvents to move into
	// the events, occurred at the outcome's At and received when it moves, its ID
	// derived from the row's key, its identifier the address under the identifier type the
	// channel type's addresses have (Email, Phone, LineUserID, DeviceToken), or the profile ID.
	RecordOutcomes(ctx context.Context, outcomes []Outcome) (applied int, err error)

	// RecordEngagements writes an event of source CampaignEventSource for each open and click
	// of a campaign's message, in one transaction, and returns how many it wrote. An event has
	// the properties and the identifier of the message's delivery events, read from its ledger
	// row (the address under its channel type's identifier type, or the profile ID), and a
	// click the URL; a message the ledger does not hold gets the profile ID and no variant or
	// channel. Its ID is derived from the message, the type, the second it occurred in and the
	// URL: an open or a click recorded again within the same second is written once, a later
	// one again. An engagement the store cannot hold fails the whole batch, and nothing is
	// written.
	RecordEngagements(ctx context.Context, engagements []Engagement) (recorded int, err error)

	// DeliveryTotals returns the running totals of a namespace's outcomes per channel and
	// state, which RecordOutcomes adds to in the transaction of each outcome.
	DeliveryTotals(ctx context.Context, namespace string) ([]DeliveryTotal, error)

	// DeliveryCounts counts a run's rows by state; a run without rows counts zero.
	DeliveryCounts(ctx context.Context, namespace, campaign, run string) (DeliveryCounts, error)

	// FlushDeliveryEvents moves the events of recorded outcomes into the events that segments
	// and triggers read, received now, and returns how many it moved. RecordOutcomes keeps each
	// outcome's event aside in its own transaction, so that a worker's group commits of a few
	// dozen outcomes do not each rewrite the pages of the events' four indexes: the worker
	// flushes every few seconds and when it stops, and anything that reads campaign events
	// (identity linking before a segment's evaluation or an event run, an event trigger's
	// check) flushes first, so nothing is missed. It moves the events pending when it starts,
	// in steps of a bounded size, not those recorded while it runs.
	FlushDeliveryEvents(ctx context.Context) (int64, error)

	// CampaignDeliveryCounts counts the rows of every run of a campaign by state. A run keeps
	// its counts when it completes, so the cost follows the runs still open, not the history.
	CampaignDeliveryCounts(ctx context.Context, namespace, campaign string) (DeliveryCounts, error)

	// ReachedProfiles returns which of profileIDs a run of the campaign other than exceptRun,
	// scheduled after scheduledAfter, reached or is about to reach: a row in any state but
	// suppressed, capped and failed (the holdout counts as reached).
	ReachedProfiles(ctx context.Context, namespace, campaign, exceptRun string, scheduledAfter time.Time, profileIDs []string) (map[string]bool, error)

	// Deliveries returns a run's rows in (profile, step) order. A limit of zero or less returns
	// them all.
	Deliveries(ctx context.Context, namespace, campaign, run string, limit int) ([]Delivery, error)

	// RecentSends returns, by profile, the messages each of profileIDs was sent at or after
	// since, across all campaigns, oldest first: what frequency caps count. A message a worker
	// has reserved (ReserveSends) and not yet recorded counts as sent at its reservation.
	RecentSends(ctx context.Context, namespace string, profileIDs []string, since time.Time) (map[string][]Sent, error)

	// ReserveSends decides which of a worker's due rows may be sent under the frequency
	// caps, and reserves those, in one transaction that the namespace's reservations take
	// turns on: a reservation of another worker, for another campaign, either sees these sends
	// or waits for them, so two campaigns deciding for one person at once cannot both take a
	// cap's last place. A reserved row counts as sent until its outcome: sent keeps counting,
	// anything else releases it. It returns, for each of r.Sends, whether it was reserved: a
	// row Allow refused is not, nor one no longer pending or deferred. r.Worker must own the
	// shard, else it fails with ErrNotShardOwner and reserves nothing.
	ReserveSends(ctx context.Context, r Reservation) ([]bool, error)

	// Suppress stops messages to an address. Suppressing an address again replaces the reason
	// and source and keeps the first CreatedAt.
	Suppress(ctx context.Context, s Suppression) error

	// Unsuppress lets messages go to an address again; an address not suppressed is no error.
	Unsuppress(ctx context.Context, namespace, channelType, address string) error

	// Suppressed returns the suppressions of those of addresses that are suppressed, by address.
	Suppressed(ctx context.Context, namespace, channelType string, addresses []string) (map[string]Suppression, error)

	// RecordConsent keeps a profile's consent for a channel type and purpose: the one recorded
	// last wins, a consent recorded before the stored one is ignored, and of two recorded at the
	// same time the refusal wins.
	RecordConsent(ctx context.Context, c Consent) error

	// Consents returns the consents of profiles, by profile, in (channel type, purpose) order.
	Consents(ctx context.Context, namespace string, profileIDs []string) (map[string][]Consent, error)

	// TakeTokens takes up to r.Want tokens from a channel's bucket, which every process shares:
	// it refills at r.Rate a second up to r.Burst, and grants min(Want, whole tokens held). When
	// it grants none, wait says how long until one is there.
	TakeTokens(ctx context.Context, r TokenRequest) (granted int, wait time.Duration, err error)

	// DeleteCampaign removes a campaign's runs and their rows; its events and the suppressions
	// it caused stay. A campaign the store does not hold is no error.
	DeleteCampaign(ctx context.Context, namespace, campaign string) error

	// Close releases the connections.
	Close() error
}

// The dialects Store.Dialect names.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// SyncMode says how a sync changes a source's data.
type SyncMode string

const (
	// SyncSnapshot replaces the source's record set: records absent from the sync are marked
	// deleted (never erased), records whose content did not change are left untouched.
	SyncSnapshot SyncMode = "Snapshot"
	// SyncAppend adds events (or records, for an incremental query) and deletes nothing; an event
	// already stored (same ID) is skipped.
	SyncAppend SyncMode = "Append"
)

// SyncStatus is the outcome of a sync run, and of a resolution run (which is never Skipped).
type SyncStatus string

const (
	SyncRunning   SyncStatus = "Running"
	SyncSucceeded SyncStatus = "Succeeded"
	SyncFailed    SyncStatus = "Failed"
	// SyncSkipped: the source had not changed since the last sync (same ETag or Last-Modified).
	SyncSkipped SyncStatus = "Skipped"
)

// SyncRun describes one sync of a source. RunID is chosen by the caller and unique per source
// (the Job's name, say); beginning a run whose ID already succeeded returns that run's result
// without writing again, so a retried Job does no harm.
type SyncRun struct {
	Namespace string
	Source    string
	RunID     string
	Mode      SyncMode
	StartedAt time.Time

	// Filled in by Commit and Abort, and returned by SyncRuns.
	FinishedAt      time.Time
	Status          SyncStatus
	RowsRead        int64
	RowsLoaded      int64
	RowsQuarantined int64
	// Inserted, Updated and Unchanged split RowsLoaded for Records sources; for events,
	// Inserted counts new events and Unchanged the duplicates skipped.
	Inserted, Updated, Unchanged int64
	RecordsDeleted               int64
	// Message says why a run failed or was skipped.
	Message string
}

// SyncWriter writes one sync. It is not safe for concurrent use. Until Commit or Abort it holds the
// source's lock (and, in SQLite, the one writer connection), so every writer must end with one of
// them; after a failed Commit, Abort still records the run.
type SyncWriter interface {
	// PutRecord writes a record. It returns ErrDuplicateKey when the key was already written in
	// this sync.
	PutRecord(ctx context.Context, r Record) error
	// PutEvent writes an event; an event whose ID is already stored is skipped.
	PutEvent(ctx context.Context, e Event) error
	// Quarantine keeps a row that could not be loaded. The store keeps the first
	// MaxQuarantinedRowsPerRun rows of a run and counts the rest.
	Quarantine(ctx context.Context, q QuarantinedRow) error
	// Commit publishes the sync atomically, remembers state for the next sync, and returns the
	// finished run. rowsRead is the number of rows read from the source.
	Commit(ctx context.Context, rowsRead int64, state SourceState) (SyncRun, error)
	// Abort discards what the sync wrote, keeps its quarantined rows, and records the run as
	// failed (or skipped) with a message.
	Abort(ctx context.Context, status SyncStatus, rowsRead int64, message string) (SyncRun, error)
}

// MaxQuarantinedRowsPerRun bounds the rows kept per run; the count covers all of them.
const MaxQuarantinedRowsPerRun = 1000

// MaxRawBytes bounds the raw text kept of a quarantined row.
const MaxRawBytes = 1024

// Record is one customer record of a Records source.
type Record struct {
	Key string
	// Identifiers are the normalised-later raw identifier values by type, e.g.
	// {"Email": ["taro@example.co.jp"]}; a record may carry several of one type.
	Identifiers map[string][]string
	// Attributes are the typed attribute values: string, float64, bool, or time.Time (for Date and
	// Timestamp attributes); absent when empty in the source.
	Attributes map[string]any
	// The store fills these. UpdatedAt is when the stored record last changed: its content, or
	// its deletion or return; a sync that loads it unchanged leaves it.
	FirstSeenAt time.Time
	UpdatedAt   time.Time
	// DeletedAt is set when a snapshot no longer contains the record.
	DeletedAt *time.Time
}

// LiveRecord is a record that ScanLiveRecords yields: its key and time, and its identifiers
// and attributes still encoded, to be read on demand. Reading ten million records into maps
// was most of a resolution's reading time; identity resolution only copies out the few strings
// it keeps. A LiveRecord and every string it gives are only valid during the scan's callback.
type LiveRecord struct {
	Key       string
	UpdatedAt time.Time

	identifiers, attributes jsonText
	// pairs holds the identifiers read so far, so that a document the fast reader gives up on
	// halfway gives fn nothing twice.
	pairs [][2]string
}

// EachIdentifier calls fn with every identifier value of the record, by type; the strings are
// only valid during the call.
func (r *LiveRecord) EachIdentifier(fn func(idType, value string)) error {
	r.pairs = r.pairs[:0]
	if eachIdentifier(r.identifiers, func(idType, value string) { r.pairs = append(r.pairs, [2]string{idType, value}) }) {
		for _, p := range r.pairs {
			fn(p[0], p[1])
		}
		return nil
	}
	ids, err := decodeIdentifiers(r.identifiers)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.Key, err)
	}
	for t, values := range ids {
		for _, v := range values {
			fn(t, v)
		}
	}
	return nil
}

// Attributes decodes the record's attributes; nil when it has none.
func (r *LiveRecord) Attributes() (map[string]any, error) {
	if isEmptyObject(r.attributes) {
		return nil, nil
	}
	values, err := decodeValues(r.attributes)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.Key, err)
	}
	return values, nil
}

// Event is one behavioural event.
type Event struct {
	// ID is the source's event ID, or a hash of the event's content when the source has none.
	ID         string
	Type       string
	OccurredAt time.Time
	// IdentifierType and IdentifierValue link the event to a customer.
	IdentifierType  string
	IdentifierValue string
	Properties      map[string]any
	// ReceivedAt is when Kizuna received the event; PutEvent fills in the current time when it
	// is zero.
	ReceivedAt time.Time
}

// QuarantinedRow is an input row that could not be loaded.
type QuarantinedRow struct {
	// Row is the 1-based row number in the source: the line number for CSV and JSON Lines (the
	// header is line 1), the row index for Parquet and query results.
	Row int64
	// Reason is truncated to MaxRawBytes, as Raw is.
	Reason string
	// Raw is the row's text, truncated to MaxRawBytes.
	Raw string
}

// SourceState is what a source remembers between syncs.
type SourceState struct {
	// ETag and LastModified of the file last read over HTTP(S) or S3.
	ETag         string
	LastModified string
	// Cursor is the largest cursor-column value read by an incremental query.
	Cursor string
}
