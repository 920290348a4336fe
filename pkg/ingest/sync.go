package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// DefaultMaxErrorRatio is the share of rows that may be quarantined before a sync fails.
const DefaultMaxErrorRatio = 0.01

// SyncConfig is one sync of one source.
type SyncConfig struct {
	Namespace string
	// Source is the DataSource's name.
	Source string
	// RunID identifies the run (the Job's name): a retried or duplicated run finds its work done.
	RunID string
	// Events is true for an event source; records otherwise.
	Events bool
	// Mode is Snapshot (records missing from the input are marked deleted) or Append.
	Mode    store.SyncMode
	Input   Source
	Mapping Mapping
	// MaxErrorRatio is the share of rows (0 to 1) that may be quarantined before the sync fails
	// and the previous data is kept.
	MaxErrorRatio float64
	// Now tells the time; tests inject a fixed clock.
	Now func() time.Time
}

// Sync reads a source and writes it to the store as one atomic run, quarantining the rows that
// cannot be loaded. It returns the finished run. A run that failed for a reason the user must fix
// (a missing file, too many bad rows) is returned with status Failed and a nil error; the error is
// for failures worth retrying (the source or the store unreachable).
func Sync(ctx context.Context, st store.Store, cfg SyncConfig) (store.SyncRun, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if done, err := st.Run(ctx, cfg.Namespace, cfg.Source, cfg.RunID); err == nil &&
		(done.Status == store.SyncSucceeded || done.Status == store.SyncSkipped) {
		return done, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.SyncRun{}, fmt.Errorf("look up run %s: %w", cfg.RunID, err)
	}

	prev, err := st.SourceState(ctx, cfg.Namespace, cfg.Source)
	if err != nil {
		return store.SyncRun{}, fmt.Errorf("read the state of the last sync: %w", err)
	}
	rows, openErr := cfg.Input.Open(ctx, prev)

	w, err := st.BeginSync(ctx, store.SyncRun{
		Namespace: cfg.Namespace, Source: cfg.Source, RunID: cfg.RunID, Mode: cfg.Mode, StartedAt: cfg.Now().UTC(),
	})
	if errors.Is(err, store.ErrRunFinished) {
		if rows != nil {
			_ = rows.Close()
		}
		return st.Run(ctx, cfg.Namespace, cfg.Source, cfg.RunID)
	}
	if err != nil {
		if rows != nil {
			_ = rows.Close()
		}
		return store.SyncRun{}, fmt.Errorf("begin the sync: %w", err)
	}

	if openErr != nil {
		if errors.Is(openErr, ErrNotModified) {
			return w.Abort(ctx, store.SyncSkipped, 0, fmt.Sprintf("%s has not changed since the last sync", cfg.Input))
		}
		run, err := w.Abort(ctx, store.SyncFailed, 0, openErr.Error())
		if err != nil {
			return run, err
		}
		var se *SourceError
		if errors.As(openErr, &se) && !se.Temporary {
			return run, nil
		}
		return run, openErr
	}

	read, quarantined, firstBad, readErr := load(ctx, w, rows, cfg)
	closeErr := rows.Close()
	if readErr == nil {
		readErr = closeErr
	}
	switch {
	case readErr != nil:
		run, err := w.Abort(ctx, store.SyncFailed, read, fmt.Sprintf("reading %s stopped at row %d: %v", cfg.Input, read, readErr))
		if err != nil {
			return run, err
		}
		var se *SourceError
		if errors.As(readErr, &se) && !se.Temporary {
			return run, nil
		}
		return run, readErr
	case read == 0 && cfg.Mode == store.SyncSnapshot:
		// A snapshot without rows would mark every record deleted: far more often an export that
		// went wrong than a source that lost all its customers. An append (events, or a query
		// with a cursor that found nothing new) is simply up to date.
		return w.Abort(ctx, store.SyncFailed, 0,
			fmt.Sprintf("%s has no data rows: nothing was loaded and the previous data was kept", cfg.Input))
	case float64(quarantined) > cfg.MaxErrorRatio*float64(read):
		return w.Abort(ctx, store.SyncFailed, read, fmt.Sprintf(
			"%d of %d rows (%.1f%%) could not be loaded, more than maxErrorRatio %g allows: the previous data was kept; first bad row %d: %s",
			quarantined, read, 100*float64(quarantined)/float64(read), cfg.MaxErrorRatio, firstBad.Row, firstBad.Reason))
	}
	return w.Commit(ctx, read, cfg.Input.State())
}

// load writes every row, quarantining the bad ones; it returns the rows read, the rows
// quarantined and the first of them.
//
// Reading and mapping run in one goroutine and writing in another, so that a sync uses two cores:
// the store's writes take about as long as parsing and mapping, and each would otherwise wait for
// the other. Rows travel in batches, in order, so that a duplicate key is still blamed on the
// later row.
func load(ctx context.Context, w store.SyncWriter, rows RowReader, cfg SyncConfig) (read, quarantined int64, first store.QuarantinedRow, err error) {
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []mappedRow, loadQueueBatches)
	g.Go(func() error {
		defer close(batches)
		var err error
		read, err = mapRows(gctx, rows, cfg, batches)
		return err
	})
	g.Go(func() error {
		// The writer gets ctx, not gctx: the store may keep it for writes that finish after
		// the group is done. It stops when the reader closes the channel.
		for batch := range batches {
			for i := range batch {
				if err := writeRow(ctx, w, &batch[i], &quarantined, &first); err != nil {
					return err
				}
			}
		}
		return nil
	})
	err = g.Wait()
	return read, quarantined, first, err
}

// Batches of mapped rows: big enough that handing them over costs nothing per row, few enough
// that the memory they hold does not matter.
const (
	loadBatchRows    = 256
	loadQueueBatches = 4
)

// mappedRow is one input row after mapping: a record or an event to store, or why it is
// quarantined.
type mappedRow struct {
	number int64
	raw    string
	// reason is set for a row that cannot be loaded.
	reason string
	record store.Record
	event  store.Event
}

// mapRows reads and maps every row, sending them in batches; it returns the number of rows read.
func mapRows(ctx context.Context, rows RowReader, cfg SyncConfig, out chan<- []mappedRow) (int64, error) {
	var read int64
	receivedAt := cfg.Now().UTC()
	batch := make([]mappedRow, 0, loadBatchRows)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]mappedRow, 0, loadBatchRows)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *RowError
		switch {
		case errors.As(err, &rowErr):
			batch = append(batch, mappedRow{number: rowErr.Row, raw: rowErr.Raw, reason: rowErr.Reason})
		case err != nil:
			return read, err
		default:
			batch = append(batch, mapRow(row, cfg, receivedAt))
		}
		read++
		if len(batch) == loadBatchRows {
			if err := send(); err != nil {
				return read, err
			}
		}
	}
	if len(batch) > 0 {
		return read, send()
	}
	return read, nil
}

func mapRow(row *Row, cfg SyncConfig, receivedAt time.Time) mappedRow {
	m := mappedRow{number: row.Number, raw: row.Raw}
	var err error
	if cfg.Events {
		m.event, err = cfg.Mapping.MapEvent(row, receivedAt)
	} else {
		m.record, err = cfg.Mapping.MapRecord(row)
	}
	if err != nil {
		var mapErr *MappingError
		if !errors.As(err, &mapErr) {
			// Mapping returns nothing else; should it one day, the row is still not lost.
			mapErr = &MappingError{Reason: err.Error()}
		}
		m.reason = mapErr.Reason
	}
	return m
}

// writeRow stores one mapped row, or quarantines it, counting the quarantined rows and keeping
// the first.
func writeRow(ctx context.Context, w store.SyncWriter, m *mappedRow, quarantined *int64, first *store.QuarantinedRow) error {
	if m.reason == "" {
		var err error
		if m.record.Key != "" {
			err = w.PutRecord(ctx, m.record)
		} else {
			err = w.PutEvent(ctx, m.event)
		}
		if !errors.Is(err, store.ErrDuplicateKey) {
			return err
		}
		m.reason = "duplicate record key: an earlier row of this sync has the same key"
	}
	if *quarantined == 0 {
		*first = store.QuarantinedRow{Row: m.number, Reason: m.reason}
	}
	*quarantined++
	return w.Quarantine(ctx, store.QuarantinedRow{Row: m.number, Reason: m.reason, Raw: m.raw}) // the store truncates it
}
