package store_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/store/storetest"
)

func newSQLiteDatabase(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "kizuna.db")
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, storetest.OpenDSN(newSQLiteDatabase))
}

// A flush of three events at a time moves a backlog of seven in three steps: one step alone
// would move three.
func TestSQLiteDeliveryEventFlushInSteps(t *testing.T) {
	t.Cleanup(store.SetFlushEventRows(3))
	storetest.RunDeliveryEventFlush(t, storetest.OpenDSN(newSQLiteDatabase))
}

// Small buffers make the profile tests spill sorted runs and publish rows that arrive late.
func TestSQLiteSmallPublishBuffers(t *testing.T) {
	t.Cleanup(store.SetPublishBuffers(4<<10, 16<<10))
	storetest.RunProfiles(t, storetest.OpenDSN(newSQLiteDatabase))
}

func TestSQLiteMemory(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.BeginSync(ctx, store.SyncRun{Namespace: "ns", Source: "crm", RunID: "r1", Mode: store.SyncSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutRecord(ctx, store.Record{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, 1, store.SourceState{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.ScanRecords(ctx, "ns", "crm", func(store.Record) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("ScanRecords: %d records, %v; want 1", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Each memory store is a database of its own.
	other, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Run(ctx, "ns", "crm", "r1"); err == nil {
		t.Error("a new memory store holds the run of another")
	}
}

// The pragmas of a new file take effect: the driver runs them in alphabetical order, and a file
// switched to WAL before its page size is set keeps the default.
func TestSQLitePageSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kizuna.db")
	s, err := store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var size int
	var mode string
	if err := db.QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if size != 16384 || mode != "wal" {
		t.Errorf("page size %d, journal mode %s; want 16384 and wal", size, mode)
	}
}
