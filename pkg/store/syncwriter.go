package store

import (
	"context"
	"errors"
	"fmt"
)

// errSyncDone is returned by a writer that already committed or aborted.
var errSyncDone = errors.New("the sync has already committed or aborted")

// syncWriter writes one sync inside one transaction: rows are buffered, bulk-loaded into staging
// tables batch by batch (so memory does not grow with the rows) and merged into the real tables
// at Commit with a few set-based statements. Readers see none of it before Commit. A batch is
// staged with the context of the call that filled it: once that context ends, the sync fails.
type syncWriter struct {
	s    *sqlStore
	sess session
	run  SyncRun

	// err is the first failure that leaves the transaction unusable; only Abort can follow.
	err  error
	done bool

	recordStage, eventStage bool
	// stageIndexed tells whether the staged keys have an index for exact checks.
	stageIndexed bool
	// records and events are the rows buffered for the next batch. While one batch is staged by a
	// goroutine of its own (inflight), the next one fills the spare buffer: encoding rows and
	// loading them run at once, on two cores.
	records       []stagedRecord
	events        []stagedEvent
	spareRecords  []stagedRecord
	spareEvents   []stagedEvent
	inflight      chan error
	recordsStaged int64
	eventsStaged  int64
	// keys remembers which record keys this sync wrote, to refuse a second one.
	keys *keyFilter
	// lastKey and keysUnordered tell whether the records came in key order, which spares the
	// merge a sort.
	lastKey       string
	keysUnordered bool
	// direct is set for the first load of a source (it has no record, live or deleted) on a
	// backend that can insert records directly (directInserter). While keys come in order,
	// batches go straight into the records table, stamped directAt, and Commit has nothing to
	// merge; once they do not, the rest is staged and sorted at Commit as usual, because inserts
	// all over the records' B-tree are far slower than a sort.
	direct        bool
	directAt      any
	recordsDirect int64

	quarantined     []QuarantinedRow
	quarantineCount int64

	buf []byte
}

func (w *syncWriter) usable() error {
	if w.done {
		return errSyncDone
	}
	return w.err
}

func (w *syncWriter) fail(err error) error {
	w.err = err
	return err
}

// wait waits for the batch being staged, if any: the session's connection serves one statement
// at a time.
func (w *syncWriter) wait() error {
	if w.inflight == nil {
		return nil
	}
	err := <-w.inflight
	w.inflight = nil
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// stage hands a full buffer to a goroutine that loads it, once the previous batch is done.
func (w *syncWriter) stage(ctx context.Context, load func(context.Context) error) error {
	if err := w.wait(); err != nil {
		return err
	}
	done := make(chan error, 1)
	w.inflight = done
	go func() { done <- load(ctx) }()
	return nil
}

func (w *syncWriter) PutRecord(ctx context.Context, r Record) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := checkKey("record key", r.Key); err != nil {
		return err
	}
	var err error
	w.buf, err = encodeIdentifiers(w.buf[:0], r.Identifiers)
	if err != nil {
		return fmt.Errorf("record %q: %w", r.Key, err)
	}
	split := len(w.buf)
	w.buf, err = encodeValues(w.buf, r.Attributes)
	if err != nil {
		return fmt.Errorf("record %q: attribute %w", r.Key, err)
	}
	if seen := w.keys.add(r.Key); seen {
		dup, err := w.keyWritten(ctx, r.Key)
		if err != nil {
			return w.fail(err)
		}
		if dup {
			return fmt.Errorf("record %q: %w", r.Key, ErrDuplicateKey)
		}
	}
	if r.Key < w.lastKey {
		w.keysUnordered = true
	}
	w.lastKey = r.Key
	// One string holds both maps' JSON: one allocation per record, not two.
	content := string(w.buf)
	w.records = append(w.records, stagedRecord{
		key: r.Key, identifiers: content[:split], attributes: content[split:],
		hash: contentHash(w.buf[:split], w.buf[split:]),
	})
	if len(w.records) >= w.sess.batchRows() {
		return w.flushRecords(ctx)
	}
	return nil
}

// keyWritten checks exactly what the key filter could only say maybe to: the buffered rows, then
// the staging table.
func (w *syncWriter) keyWritten(ctx context.Context, key string) (bool, error) {
	for i := range w.records {
		if w.records[i].key == key {
			return true, nil
		}
	}
	if err := w.wait(); err != nil {
		return false, err
	}
	if w.recordsDirect > 0 {
		found, err := exists(ctx, w.sess, w.s.q.storedKey, w.run.Namespace, w.run.Source, key)
		if err != nil {
			return false, fmt.Errorf("look up a loaded key: %w", err)
		}
		if found {
			return true, nil
		}
	}
	if !w.recordStage {
		return false, nil
	}
	if !w.stageIndexed && w.s.d.indexStageRecords != "" {
		if _, err := w.sess.exec(ctx, w.s.d.indexStageRecords); err != nil {
			return false, fmt.Errorf("index the staged keys: %w", err)
		}
		w.stageIndexed = true
	}
	found, err := exists(ctx, w.sess, w.s.q.stagedKey, key)
	if err != nil {
		return false, fmt.Errorf("look up a staged key: %w", err)
	}
	return found, nil
}

func (w *syncWriter) flushRecords(ctx context.Context) error {
	if len(w.records) == 0 {
		return nil
	}
	batch := w.records
	if w.direct && !w.keysUnordered {
		w.records, w.spareRecords = w.spareRecords[:0], batch
		w.recordsDirect += int64(len(batch))
		inserter := w.sess.(directInserter)
		return w.stage(ctx, func(ctx context.Context) error {
			if err := inserter.insertRecords(ctx, w.run.Namespace, w.run.Source, batch, w.directAt); err != nil {
				return fmt.Errorf("insert records: %w", err)
			}
			clear(batch)
			return nil
		})
	}
	if err := w.createStage(ctx, &w.recordStage, w.s.d.createStageRecords); err != nil {
		return w.fail(err)
	}
	w.records, w.spareRecords = w.spareRecords[:0], batch
	w.recordsStaged += int64(len(batch))
	return w.stage(ctx, func(ctx context.Context) error {
		if err := w.sess.stageRecords(ctx, batch); err != nil {
			return fmt.Errorf("stage records: %w", err)
		}
		clear(batch)
		return nil
	})
}

func (w *syncWriter) createStage(ctx context.Context, created *bool, ddl string) error {
	if *created {
		return nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	if _, err := w.sess.exec(ctx, ddl); err != nil {
		return fmt.Errorf("create a staging table: %w", err)
	}
	*created = true
	return nil
}

func (w *syncWriter) PutEvent(ctx context.Context, e Event) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := checkKey("event ID", e.ID); err != nil {
		return err
	}
	if err := checkKey("event type", e.Type); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if e.OccurredAt.IsZero() {
		return fmt.Errorf("event %q: %w: the time it occurred is missing", e.ID, ErrInvalidRow)
	}
	for _, f := range []struct{ what, value string }{
		{"identifier type", e.IdentifierType}, {"identifier value", e.IdentifierValue},
	} {
		if err := checkText(f.what, f.value); err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
	}
	var err error
	if w.buf, err = encodeValues(w.buf[:0], e.Properties); err != nil {
		return fmt.Errorf("event %q: property %w", e.ID, err)
	}
	received := e.ReceivedAt
	if received.IsZero() {
		received = w.s.clock.Now()
	}
	w.events = append(w.events, stagedEvent{
		id: e.ID, eventType: e.Type, occurredAt: storedTime(e.OccurredAt), receivedAt: storedTime(received),
		identifierType: e.IdentifierType, identifierValue: e.IdentifierValue, properties: string(w.buf),
	})
	if len(w.events) >= w.sess.batchRows() {
		return w.flushEvents(ctx)
	}
	return nil
}

func (w *syncWriter) flushEvents(ctx context.Context) error {
	if len(w.events) == 0 {
		return nil
	}
	if err := w.createStage(ctx, &w.eventStage, w.s.d.createStageEvents); err != nil {
		return w.fail(err)
	}
	batch := w.events
	w.events, w.spareEvents = w.spareEvents[:0], batch
	w.eventsStaged += int64(len(batch))
	return w.stage(ctx, func(ctx context.Context) error {
		if err := w.sess.stageEvents(ctx, batch); err != nil {
			return fmt.Errorf("stage events: %w", err)
		}
		clear(batch)
		return nil
	})
}

func (w *syncWriter) Quarantine(_ context.Context, q QuarantinedRow) error {
	if err := w.usable(); err != nil {
		return err
	}
	w.quarantineCount++
	// Kept in memory until the run is recorded: they must survive an Abort, which rolls the
	// sync's transaction back. The cap bounds that memory.
	if len(w.quarantined) < MaxQuarantinedRowsPerRun {
		w.quarantined = append(w.quarantined, QuarantinedRow{
			Row:    q.Row,
			Reason: diagnosticText(q.Reason, MaxRawBytes),
			Raw:    diagnosticText(q.Raw, MaxRawBytes),
		})
	}
	return nil
}

func (w *syncWriter) Commit(ctx context.Context, rowsRead int64, state SourceState) (SyncRun, error) {
	if err := w.usable(); err != nil {
		return SyncRun{}, fmt.Errorf("commit sync %s: %w", w.run.RunID, err)
	}
	for _, f := range []struct{ what, value string }{
		{"ETag", state.ETag}, {"Last-Modified", state.LastModified}, {"cursor", state.Cursor},
	} {
		if err := checkText(f.what, f.value); err != nil {
			return SyncRun{}, fmt.Errorf("commit sync %s: %w", w.run.RunID, err)
		}
	}
	run, err := w.commit(ctx, rowsRead, state)
	if err != nil {
		// The transaction is gone; Abort can still record the failure, in a transaction of its own.
		_ = w.wait()
		w.err = errors.Join(err, w.sess.rollback(ctx))
		w.sess.release()
		w.sess = nil
		return SyncRun{}, fmt.Errorf("commit sync %s of %s/%s: %w", w.run.RunID, w.run.Namespace, w.run.Source, err)
	}
	w.done = true
	w.analyzeLoaded(ctx, run)
	w.sess.release()
	return run, nil
}

// analyzeRowsThreshold is how many new rows make a sync refresh the planner's statistics.
const analyzeRowsThreshold = 10_000

// analyzeLoaded refreshes the statistics of the table a large sync loaded, when the dialect
// asks for it. It runs after the commit and its failure loses nothing: autovacuum analyzes
// later anyway.
func (w *syncWriter) analyzeLoaded(ctx context.Context, run SyncRun) {
	if w.s.d.analyzeAfterLoad == "" || run.Inserted+run.Updated < analyzeRowsThreshold {
		return
	}
	table := "records"
	if w.eventStage {
		table = "events"
	}
	_, _ = w.sess.exec(ctx, fmt.Sprintf(w.s.d.analyzeAfterLoad, table))
}

func (w *syncWriter) commit(ctx context.Context, rowsRead int64, state SourceState) (SyncRun, error) {
	if err := w.flushRecords(ctx); err != nil {
		return SyncRun{}, err
	}
	if err := w.flushEvents(ctx); err != nil {
		return SyncRun{}, err
	}
	if err := w.wait(); err != nil {
		return SyncRun{}, err
	}
	q, s, run := w.sess, w.s, w.run
	now := s.now()
	at := s.d.timeArg(now)
	run.Inserted += w.recordsDirect
	if w.recordStage {
		if err := w.mergeRecords(ctx, &run, at); err != nil {
			return SyncRun{}, err
		}
		if _, err := q.exec(ctx, s.q.dropStageRecords); err != nil {
			return SyncRun{}, fmt.Errorf("drop the staging table: %w", err)
		}
	}
	if w.eventStage {
		inserted, err := q.exec(ctx, s.q.mergeEvents, run.Namespace, run.Source)
		if err != nil {
			return SyncRun{}, fmt.Errorf("insert new events: %w", err)
		}
		run.Inserted += inserted
		run.Unchanged += w.eventsStaged - inserted
		if _, err := q.exec(ctx, s.q.dropStageEvents); err != nil {
			return SyncRun{}, fmt.Errorf("drop the staging table: %w", err)
		}
	}
	run.Status = SyncSucceeded
	run.FinishedAt = now
	run.RowsRead = rowsRead
	run.RowsLoaded = run.Inserted + run.Updated + run.Unchanged
	run.RowsQuarantined = w.quarantineCount
	if err := s.writeRun(ctx, q, run, w.quarantined); err != nil {
		return SyncRun{}, err
	}
	if _, err := q.exec(ctx, s.q.putSourceState, run.Namespace, run.Source, state.ETag,
		state.LastModified, state.Cursor, run.RunID, at); err != nil {
		return SyncRun{}, fmt.Errorf("remember the source's state: %w", err)
	}
	if err := q.commit(ctx); err != nil {
		return SyncRun{}, fmt.Errorf("commit: %w", err)
	}
	return run, nil
}

// mergeRecords merges the staging table into the records: marks deleted what a snapshot did not
// hold, updates what changed or came back, inserts what is new, and counts each.
func (w *syncWriter) mergeRecords(ctx context.Context, run *SyncRun, at any) error {
	q, s := w.sess, w.s
	if w.direct {
		// A first load whose keys stopped coming in order: the staged rest is all new.
		inserted, err := q.exec(ctx, s.q.mergeInserted[stagedInAnyOrder], run.Namespace, run.Source, at)
		if err != nil {
			return fmt.Errorf("insert new records: %w", err)
		}
		run.Inserted += inserted
		run.Unchanged += w.recordsStaged - inserted
		return nil
	}
	var live int64
	if run.Mode == SyncSnapshot {
		n, err := count(ctx, q, s.q.countLiveRecords, run.Namespace, run.Source)
		if err != nil {
			return fmt.Errorf("count live records: %w", err)
		}
		live = n
		// Deletions first: they only concern records stored before, so the new ones need not
		// be looked at.
		if run.RecordsDeleted, err = q.exec(ctx, s.q.mergeDeleted, at, run.Namespace, run.Source); err != nil {
			return fmt.Errorf("mark records missing from the snapshot deleted: %w", err)
		}
	}
	order := stagedInKeyOrder
	if w.keysUnordered {
		order = stagedInAnyOrder
	}
	updated, err := q.exec(ctx, s.q.mergeUpdated[order], run.Namespace, run.Source, at)
	if err != nil {
		return fmt.Errorf("update changed records: %w", err)
	}
	// Each live record of a snapshot is either marked deleted now or staged: when the staged
	// ones are exactly the rest, none is new (nor comes back from deletion), and the daily
	// snapshot that changed little skips a pass over all its rows.
	var inserted int64
	if run.Mode != SyncSnapshot || w.recordsStaged != live-run.RecordsDeleted {
		if inserted, err = q.exec(ctx, s.q.mergeInserted[order], run.Namespace, run.Source, at); err != nil {
			return fmt.Errorf("insert new records: %w", err)
		}
	}
	run.Updated += updated
	run.Inserted += inserted
	run.Unchanged += w.recordsStaged - updated - inserted
	return nil
}

func (w *syncWriter) Abort(ctx context.Context, status SyncStatus, rowsRead int64, message string) (SyncRun, error) {
	if w.done {
		return SyncRun{}, fmt.Errorf("abort sync %s: %w", w.run.RunID, errSyncDone)
	}
	if status != SyncFailed && status != SyncSkipped {
		return SyncRun{}, fmt.Errorf("abort sync %s: status %q is neither %s nor %s", w.run.RunID, status, SyncFailed, SyncSkipped)
	}
	w.done = true
	run, err := w.abort(ctx, status, rowsRead, message)
	if w.sess != nil {
		w.sess.release()
	}
	if err != nil {
		return run, fmt.Errorf("abort sync %s of %s/%s: %w", w.run.RunID, w.run.Namespace, w.run.Source, err)
	}
	return run, nil
}

func (w *syncWriter) abort(ctx context.Context, status SyncStatus, rowsRead int64, message string) (SyncRun, error) {
	s := w.s
	// Roll back, then record the run in a transaction of its own: this works whatever state the
	// sync's transaction was left in (PostgreSQL refuses all but a rollback after an error).
	_ = w.wait() // the batch's own failure, if any, is not what ends the sync
	if w.sess != nil {
		if err := w.sess.rollback(ctx); err != nil {
			w.sess.release()
			w.sess = nil
		}
	}
	if w.sess == nil {
		sess, err := s.b.session(ctx)
		if err != nil {
			return SyncRun{}, err
		}
		w.sess = sess
	}
	if err := w.sess.begin(ctx, syncLock(w.run.Namespace, w.run.Source)); err != nil {
		return SyncRun{}, err
	}
	// A duplicate of this Job may have finished the run meanwhile: its result stands.
	finished, err := s.runFinished(ctx, w.sess, w.run)
	if err == nil && finished {
		err = ErrRunFinished
	}
	if err != nil {
		return SyncRun{}, errors.Join(err, w.sess.rollback(ctx))
	}
	run := w.run
	run.Status = status
	run.FinishedAt = s.now()
	run.RowsRead = rowsRead
	run.RowsQuarantined = w.quarantineCount
	run.Message = diagnosticText(message, maxMessageBytes)
	if err := s.writeRun(ctx, w.sess, run, w.quarantined); err != nil {
		return SyncRun{}, errors.Join(err, w.sess.rollback(ctx))
	}
	if err := w.sess.commit(ctx); err != nil {
		return SyncRun{}, fmt.Errorf("commit: %w", err)
	}
	return run, nil
}

// maxMessageBytes bounds a run's message: it ends up in a resource's status.
const maxMessageBytes = 2048
