package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/store/storetest"
	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// pg is the PostgreSQL server of this package's tests, started once by TestMain.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

var databases atomic.Int64

// newPostgresDatabase creates an empty database for a test or benchmark.
func newPostgresDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", databases.Add(1), strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())))
	if len(name) > 63 {
		name = name[:63]
	}
	if err := pg.CreateDatabase(name); err != nil {
		tb.Fatal(err)
	}
	return pg.DSN(name)
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, storetest.OpenDSN(func(t *testing.T) string { return newPostgresDatabase(t) }))
}

// Small buffers make the profile tests spill sorted runs and publish rows that arrive late.
func TestPostgresSmallPublishBuffers(t *testing.T) {
	t.Cleanup(store.SetPublishBuffers(4<<10, 16<<10))
	storetest.RunProfiles(t, storetest.OpenDSN(func(t *testing.T) string { return newPostgresDatabase(t) }))
}

// A flush of three events at a time moves a backlog of seven in three steps: one step alone
// would move three.
func TestPostgresDeliveryEventFlushInSteps(t *testing.T) {
	t.Cleanup(store.SetFlushEventRows(3))
	storetest.RunDeliveryEventFlush(t, storetest.OpenDSN(func(t *testing.T) string { return newPostgresDatabase(t) }))
}

// Unlike SQLite, which has one writer at a time, PostgreSQL lets syncs of different sources
// write at the same time.
func TestPostgresSyncsOfDifferentSourcesDoNotWait(t *testing.T) {
	s, err := store.Open(t.Context(), newPostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := s.BeginSync(t.Context(), store.SyncRun{Namespace: "ns", Source: "crm", RunID: "r1", Mode: store.SyncSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	second, err := s.BeginSync(ctx, store.SyncRun{Namespace: "ns", Source: "shop", RunID: "r1", Mode: store.SyncSnapshot})
	if err != nil {
		t.Fatalf("BeginSync of another source while a sync is open: %v", err)
	}
	for _, w := range []store.SyncWriter{second, first} {
		if err := w.PutRecord(t.Context(), store.Record{Key: "a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(t.Context(), 1, store.SourceState{}); err != nil {
			t.Fatal(err)
		}
	}
}
