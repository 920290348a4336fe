package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// backend is what differs between SQLite and PostgreSQL beyond SQL text: connections, locks and
// bulk loading.
type backend interface {
	// read returns the querier for reads outside any sync.
	read() querier
	// readOnly calls fn with a querier that cannot write, for queries the store did not write
	// itself.
	readOnly(ctx context.Context, fn func(querier) error) error
	// session returns a connection of its own for one sync or migration. In SQLite it is the one
	// writer connection, so a session waits for the one before it.
	session(ctx context.Context) (session, error)
	close() error
}

// session is one connection, with at most one transaction open on it.
type session interface {
	querier
	// begin opens a transaction that holds the lock named lock until it ends: syncs of one
	// source, and migrations, take turns. SQLite has one lock for all writers (BEGIN IMMEDIATE);
	// PostgreSQL takes a transaction-level advisory lock per name, none for noLock.
	begin(ctx context.Context, lock string) error
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
	// stageRecords and stageEvents bulk-load rows into the staging tables.
	stageRecords(ctx context.Context, rows []stagedRecord) error
	stageEvents(ctx context.Context, rows []stagedEvent) error
	// batchRows is how many rows a sync buffers before it stages them.
	batchRows() int
	// insertSlotRows inserts n rows into a generation-scoped table of profiles: args holds the
	// first shared columns, the same for every row (namespace, resolution, slot, maybe the first
	// key column), then the other columns of each row.
	insertSlotRows(ctx context.Context, t *slotTable, args []any, shared, n int) error
	// deleteSlotRows deletes n rows of a generation-scoped table by key: args holds the
	// namespace, the resolution and the slot, then the key columns of each row.
	deleteSlotRows(ctx context.Context, t *slotTable, args []any, n int) error
	// slotBatchRows is how many rows a publish writes in one statement.
	slotBatchRows() int
	// identityLinks starts writing the identity links of a resolution in the open transaction;
	// replace: in place of all the resolution's links.
	identityLinks(ctx context.Context, namespace, resolution string, replace bool) (linkWriter, error)
	// release returns the connection; an open transaction is rolled back.
	release()
}

// linkWriter writes the identity links of one WriteIdentityLinks.
type linkWriter interface {
	// put writes links, at most batchRows; of two links of one identifier, the later wins.
	put(ctx context.Context, links []IdentityLink) error
	// finish makes what was put the resolution's links.
	finish(ctx context.Context) error
}

// directInserter is a session that can write a source's first load straight into the records
// table: a multi-row INSERT for SQLite, a COPY for PostgreSQL.
type directInserter interface {
	insertRecords(ctx context.Context, namespace, source string, rows []stagedRecord, at any) error
}

// repeater is a session that prepares a statement once to run it many times, in this
// transaction and the next ones on the same connection; the statement lives as long as the
// connection.
type repeater interface {
	repeat(ctx context.Context, query string) (statement, error)
}

// statement is a prepared statement.
type statement interface {
	exec(ctx context.Context, args ...any) (int64, error)
	query(ctx context.Context, args ...any) (rows, error)
}

// querier runs the dialect's SQL on a connection, a transaction or a pool.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type stagedRecord struct {
	key         string
	identifiers string
	attributes  string
	hash        [16]byte
}

type stagedEvent struct {
	id, eventType                   string
	occurredAt, receivedAt          time.Time
	identifierType, identifierValue string
	properties                      string
}

// queries are the shared queries compiled for one dialect.
type queries struct {
	getRun, listRuns, runStatus, finishRun                      string
	deleteQuarantined, insertQuarantinedPrefix, listQuarantined string
	scanRecords, scanEvents, getSourceState, putSourceState     string
	scanLiveRecords                                             string
	stagedKey, dropStageRecords, dropStageEvents                string
	mergeDeleted, mergeEvents, countLiveRecords                 string
	anyRecords, storedKey                                       string
	// The merge of records staged in key order, and of records staged in any order.
	mergeUpdated, mergeInserted [2]string
}

const (
	stagedInKeyOrder = iota
	stagedInAnyOrder
)

func compileQueries(d *dialect) queries {
	return queries{
		getRun: d.sql(sqlGetRun), listRuns: d.sql(sqlListRuns), runStatus: d.sql(sqlRunStatus),
		finishRun:               d.sql(sqlFinishRun),
		deleteQuarantined:       d.sql(sqlDeleteQuarantined),
		insertQuarantinedPrefix: sqlInsertQuarantinedPrefix,
		listQuarantined:         d.sql(sqlListQuarantined),
		scanRecords:             d.sql(sqlScanRecords), scanEvents: d.sql(sqlScanEvents),
		scanLiveRecords: d.sql(sqlScanLiveRecords),
		getSourceState:  d.sql(sqlGetSourceState), putSourceState: d.sql(sqlPutSourceState),
		stagedKey: d.sql(sqlStagedKey), dropStageRecords: d.sql(sqlDropStageRecords),
		dropStageEvents: d.sql(sqlDropStageEvents),
		mergeDeleted:    d.sql(sqlMergeDeleted), mergeEvents: d.sql(sqlMergeEvents),
		countLiveRecords: d.sql(sqlCountLiveRecords), anyRecords: d.sql(sqlAnyRecords),
		storedKey: d.sql(sqlStoredKey),
		mergeUpdated: [2]string{
			stagedInKeyOrder: d.sql(strings.ReplaceAll(sqlMergeUpdated, "{staged}", "{stage_records}")),
			stagedInAnyOrder: d.sql(strings.ReplaceAll(sqlMergeUpdated, "{staged}", d.stageRecordsByKey)),
		},
		mergeInserted: [2]string{
			stagedInKeyOrder: d.sql(strings.ReplaceAll(sqlMergeInserted, "{staged}", "{stage_records}")),
			stagedInAnyOrder: d.sql(strings.ReplaceAll(sqlMergeInserted, "{staged}", d.stageRecordsByKey)),
		},
	}
}

// sqlStore is the Store of both backends: everything but connections, locks and bulk loading is
// shared.
type sqlStore struct {
	b     backend
	d     *dialect
	q     queries
	pq    profileQueries
	slots slotTables
	clock Clock
}

func newSQLStore(b backend, d *dialect, clock Clock) *sqlStore {
	return &sqlStore{b: b, d: d, q: compileQueries(d), pq: compileProfileQueries(d), slots: newSlotTables(d), clock: clock}
}

func (s *sqlStore) now() time.Time { return storedTime(s.clock.Now()) }

func (s *sqlStore) Close() error { return s.b.close() }

func (s *sqlStore) Run(ctx context.Context, namespace, source, runID string) (SyncRun, error) {
	return s.getRun(ctx, s.b.read(), namespace, source, runID)
}

func (s *sqlStore) getRun(ctx context.Context, q querier, namespace, source, runID string) (SyncRun, error) {
	rs, err := q.query(ctx, s.q.getRun, namespace, source, runID)
	if err != nil {
		return SyncRun{}, fmt.Errorf("read run %s of %s/%s: %w", runID, namespace, source, err)
	}
	runs, err := scanRuns(rs)
	if err != nil {
		return SyncRun{}, fmt.Errorf("read run %s of %s/%s: %w", runID, namespace, source, err)
	}
	if len(runs) == 0 {
		return SyncRun{}, fmt.Errorf("run %s of %s/%s: %w", runID, namespace, source, ErrNotFound)
	}
	return runs[0], nil
}

func (s *sqlStore) SyncRuns(ctx context.Context, namespace, source string, limit int) ([]SyncRun, error) {
	rs, err := s.b.read().query(ctx, s.q.listRuns, namespace, source, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list runs of %s/%s: %w", namespace, source, err)
	}
	runs, err := scanRuns(rs)
	if err != nil {
		return nil, fmt.Errorf("list runs of %s/%s: %w", namespace, source, err)
	}
	return runs, nil
}

// sqlLimit reads a limit of zero or less as "no limit".
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return math.MaxInt64
	}
	return int64(limit)
}

func scanRuns(rs rows) ([]SyncRun, error) {
	defer rs.Close()
	var runs []SyncRun
	for rs.Next() {
		var r SyncRun
		var mode, status string
		var started, finished nullTime
		if err := rs.Scan(&r.Namespace, &r.Source, &r.RunID, &mode, &status, &started, &finished,
			&r.RowsRead, &r.RowsLoaded, &r.RowsQuarantined, &r.Inserted, &r.Updated, &r.Unchanged,
			&r.RecordsDeleted, &r.Message); err != nil {
			return nil, err
		}
		r.Mode, r.Status = SyncMode(mode), SyncStatus(status)
		r.StartedAt, r.FinishedAt = started.Time, finished.Time
		runs = append(runs, r)
	}
	return runs, rs.Err()
}

func (s *sqlStore) Quarantined(ctx context.Context, namespace, source, runID string, limit int) ([]QuarantinedRow, error) {
	rs, err := s.b.read().query(ctx, s.q.listQuarantined, namespace, source, runID, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list quarantined rows of run %s of %s/%s: %w", runID, namespace, source, err)
	}
	defer rs.Close()
	var out []QuarantinedRow
	for rs.Next() {
		var q QuarantinedRow
		if err := rs.Scan(&q.Row, &q.Reason, &q.Raw); err != nil {
			return nil, fmt.Errorf("list quarantined rows of run %s of %s/%s: %w", runID, namespace, source, err)
		}
		out = append(out, q)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list quarantined rows of run %s of %s/%s: %w", runID, namespace, source, err)
	}
	return out, nil
}

func (s *sqlStore) ScanRecords(ctx context.Context, namespace, source string, fn func(Record) error) error {
	rs, err := s.b.read().query(ctx, s.q.scanRecords, namespace, source)
	if err != nil {
		return fmt.Errorf("scan records of %s/%s: %w", namespace, source, err)
	}
	defer rs.Close()
	var ids, attrs jsonText
	for rs.Next() {
		var r Record
		var firstSeen, updated, deleted nullTime
		if err := rs.Scan(&r.Key, &ids, &attrs, &firstSeen, &updated, &deleted); err != nil {
			return fmt.Errorf("scan records of %s/%s: %w", namespace, source, err)
		}
		if r.Identifiers, err = decodeIdentifiers(ids); err != nil {
			return fmt.Errorf("record %s of %s/%s: %w", r.Key, namespace, source, err)
		}
		if r.Attributes, err = decodeValues(attrs); err != nil {
			return fmt.Errorf("record %s of %s/%s: %w", r.Key, namespace, source, err)
		}
		r.FirstSeenAt, r.UpdatedAt, r.DeletedAt = firstSeen.Time, updated.Time, deleted.ptr()
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("scan records of %s/%s: %w", namespace, source, err)
	}
	return nil
}

func (s *sqlStore) ScanLiveRecords(ctx context.Context, namespace, source string, fn func(*LiveRecord) error) error {
	rs, err := s.b.read().query(ctx, s.q.scanLiveRecords, namespace, source)
	if err != nil {
		return fmt.Errorf("scan records of %s/%s: %w", namespace, source, err)
	}
	defer rs.Close()
	var r LiveRecord
	var updated nullTime
	for rs.Next() {
		if err := rs.Scan(&r.Key, &r.identifiers, &r.attributes, &updated); err != nil {
			return fmt.Errorf("scan records of %s/%s: %w", namespace, source, err)
		}
		r.UpdatedAt = updated.Time
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("scan records of %s/%s: %w", namespace, source, err)
	}
	return nil
}

func (s *sqlStore) ScanEvents(ctx context.Context, namespace, source string, fn func(Event) error) error {
	rs, err := s.b.read().query(ctx, s.q.scanEvents, namespace, source)
	if err != nil {
		return fmt.Errorf("scan events of %s/%s: %w", namespace, source, err)
	}
	defer rs.Close()
	var props jsonText
	for rs.Next() {
		var e Event
		var occurred, received nullTime
		if err := rs.Scan(&e.ID, &e.Type, &occurred, &e.IdentifierType, &e.IdentifierValue, &props, &received); err != nil {
			return fmt.Errorf("scan events of %s/%s: %w", namespace, source, err)
		}
		if e.Properties, err = decodeValues(props); err != nil {
			return fmt.Errorf("event %s of %s/%s: %w", e.ID, namespace, source, err)
		}
		e.OccurredAt, e.ReceivedAt = occurred.Time, received.Time
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("scan events of %s/%s: %w", namespace, source, err)
	}
	return nil
}

func (s *sqlStore) SourceState(ctx context.Context, namespace, source string) (SourceState, error) {
	rs, err := s.b.read().query(ctx, s.q.getSourceState, namespace, source)
	if err != nil {
		return SourceState{}, fmt.Errorf("read the state of %s/%s: %w", namespace, source, err)
	}
	defer rs.Close()
	var st SourceState
	if rs.Next() {
		if err := rs.Scan(&st.ETag, &st.LastModified, &st.Cursor); err != nil {
			return SourceState{}, fmt.Errorf("read the state of %s/%s: %w", namespace, source, err)
		}
	}
	if err := rs.Err(); err != nil {
		return SourceState{}, fmt.Errorf("read the state of %s/%s: %w", namespace, source, err)
	}
	return st, nil
}

func (s *sqlStore) BeginSync(ctx context.Context, run SyncRun) (SyncWriter, error) {
	for _, f := range []struct{ what, value string }{
		{"namespace", run.Namespace}, {"source", run.Source}, {"run ID", run.RunID},
	} {
		if err := checkKey(f.what, f.value); err != nil {
			return nil, fmt.Errorf("begin sync: %w", err)
		}
	}
	if run.Mode != SyncSnapshot && run.Mode != SyncAppend {
		return nil, fmt.Errorf("begin sync %s of %s/%s: mode %q is neither %s nor %s",
			run.RunID, run.Namespace, run.Source, run.Mode, SyncSnapshot, SyncAppend)
	}
	if run.StartedAt.IsZero() {
		run.StartedAt = s.clock.Now()
	}
	run = SyncRun{
		Namespace: run.Namespace, Source: run.Source, RunID: run.RunID, Mode: run.Mode,
		StartedAt: storedTime(run.StartedAt), Status: SyncRunning,
	}
	sess, err := s.b.session(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin sync %s of %s/%s: %w", run.RunID, run.Namespace, run.Source, err)
	}
	w, err := s.beginSync(ctx, sess, run)
	if err != nil {
		sess.release()
		return nil, fmt.Errorf("begin sync %s of %s/%s: %w", run.RunID, run.Namespace, run.Source, err)
	}
	return w, nil
}

func (s *sqlStore) beginSync(ctx context.Context, sess session, run SyncRun) (*syncWriter, error) {
	if err := sess.begin(ctx, syncLock(run.Namespace, run.Source)); err != nil {
		return nil, err
	}
	finished, err := s.runFinished(ctx, sess, run)
	if err == nil && finished {
		err = ErrRunFinished
	}
	w := &syncWriter{s: s, sess: sess, run: run, keys: newKeyFilter()}
	if _, ok := sess.(directInserter); ok && err == nil {
		var hasRecords bool
		hasRecords, err = exists(ctx, sess, s.q.anyRecords, run.Namespace, run.Source)
		if w.direct = !hasRecords; w.direct {
			w.directAt = s.d.timeArg(s.now())
		}
	}
	if err == nil && run.Mode == SyncSnapshot && !w.direct {
		// A snapshot that holds no record at all still marks every record deleted.
		err = w.createStage(ctx, &w.recordStage, s.d.createStageRecords)
	}
	if err != nil {
		return nil, errors.Join(err, sess.rollback(ctx))
	}
	return w, nil
}

// count runs a query that returns one number.
func count(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	var n int64
	if rs.Next() {
		if err := rs.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rs.Err()
}

// exists tells whether a query returns a row.
func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rs.Close()
	found := rs.Next()
	return found, rs.Err()
}

func syncLock(namespace, source string) string { return "sync\x00" + namespace + "\x00" + source }

// runFinished tells whether the run already succeeded or was skipped, reading inside the
// session's transaction, after the source's lock is held.
func (s *sqlStore) runFinished(ctx context.Context, q querier, run SyncRun) (bool, error) {
	status, err := readRunStatus(ctx, q, s.q.runStatus, run.Namespace, run.Source, run.RunID)
	return status == string(SyncSucceeded) || status == string(SyncSkipped), err
}

// readRunStatus reads the status of one run, sync or resolution; "" when there is none.
func readRunStatus(ctx context.Context, q querier, query string, args ...any) (string, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return "", fmt.Errorf("read the run's status: %w", err)
	}
	defer rs.Close()
	var status string
	if rs.Next() {
		if err := rs.Scan(&status); err != nil {
			return "", fmt.Errorf("read the run's status: %w", err)
		}
	}
	if err := rs.Err(); err != nil {
		return "", fmt.Errorf("read the run's status: %w", err)
	}
	return status, nil
}

// writeRun records a finished run with its quarantined rows, replacing those of an earlier
// attempt with the same run ID.
func (s *sqlStore) writeRun(ctx context.Context, q querier, run SyncRun, quarantined []QuarantinedRow) error {
	if _, err := q.exec(ctx, s.q.finishRun, run.Namespace, run.Source, run.RunID, string(run.Mode),
		string(run.Status), s.d.timeArg(run.StartedAt), s.d.timeArg(run.FinishedAt), run.RowsRead,
		run.RowsLoaded, run.RowsQuarantined, run.Inserted, run.Updated, run.Unchanged,
		run.RecordsDeleted, run.Message); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	if _, err := q.exec(ctx, s.q.deleteQuarantined, run.Namespace, run.Source, run.RunID); err != nil {
		return fmt.Errorf("replace quarantined rows: %w", err)
	}
	const chunk = 100
	args := make([]any, 0, chunk*7)
	for start := 0; start < len(quarantined); start += chunk {
		part := quarantined[start:min(start+chunk, len(quarantined))]
		args = args[:0]
		for i, row := range part {
			args = append(args, run.Namespace, run.Source, run.RunID, start+i, row.Row, row.Reason, row.Raw)
		}
		query := s.d.sql(s.q.insertQuarantinedPrefix + valuesList(len(part), 7))
		if _, err := q.exec(ctx, query, args...); err != nil {
			return fmt.Errorf("keep quarantined rows: %w", err)
		}
	}
	return nil
}
