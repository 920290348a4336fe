package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

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
	case read == 0:
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
func load(ctx context.Context, w store.SyncWriter, rows RowReader, cfg SyncConfig) (read, quarantined int64, first store.QuarantinedRow, err error) {
	quarantine := func(row int64, reason, raw string) error {
		if quarantined == 0 {
			first = store.QuarantinedRow{Row: row, Reason: reason}
		}
		quarantined++
		return w.Quarantine(ctx, store.QuarantinedRow{Row: row, Reason: reason, Raw: raw}) // the store truncates it
	}
	receivedAt := cfg.Now().UTC()
	for {
		if err := ctx.Err(); err != nil {
			return read, quarantined, first, err
		}
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			return read, quarantined, first, nil
		}
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			read++
			if err := quarantine(rowErr.Row, rowErr.Reason, rowErr.Raw); err != nil {
				return read, quarantined, first, err
			}
			continue
		}
		if err != nil {
			return read, quarantined, first, err
		}
		read++
		if err := loadRow(ctx, w, row, cfg, receivedAt); err != nil {
			var mapErr *MappingError
			switch {
			case errors.As(err, &mapErr):
				err = quarantine(row.Number, mapErr.Reason, row.Raw)
			case errors.Is(err, store.ErrDuplicateKey):
				err = quarantine(row.Number, "duplicate record key: an earlier row of this sync has the same key", row.Raw)
			}
			if err != nil {
				return read, quarantined, first, err
			}
		}
	}
}

func loadRow(ctx context.Context, w store.SyncWriter, row *Row, cfg SyncConfig, receivedAt time.Time) error {
	if cfg.Events {
		e, err := cfg.Mapping.MapEvent(row, receivedAt)
		if err != nil {
			return err
		}
		return w.PutEvent(ctx, e)
	}
	r, err := cfg.Mapping.MapRecord(row)
	if err != nil {
		return err
	}
	return w.PutRecord(ctx, r)
}
