// Package storetest is the conformance suite of store.Store: every backend must pass it, so that a
// worker behaves the same on the embedded SQLite store and on PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Run runs the suite. open returns a store on the database of test t: the first call for a test
// creates an empty database, later calls for the same test open more stores on that database, as
// other processes would. Stores are closed when their test ends. OpenDSN builds such a function.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Migrations", migrationTests},
		{"Records", recordTests},
		{"Events", eventTests},
		{"Visibility", visibilityTests},
		{"Abort", abortTests},
		{"Quarantine", quarantineTests},
		{"RunIDs", runIDTests},
		{"SourceState", sourceStateTests},
		{"Namespaces", namespaceTests},
		{"Concurrency", concurrencyTests},
		{"Profiles", profileTests},
		{"IdentityLinks", identityLinkTests},
		{"Segments", segmentTests},
		{"Deliveries", deliveryTests},
		{"Engagements", engagementTests},
		{"Suppressions", suppressionTests},
		{"Consents", consentTests},
		{"RateLimits", rateLimitTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, open)
				})
			}
		})
	}
}

// RunProfiles runs the profile tests alone: a backend runs them again with other settings.
func RunProfiles(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range profileTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) store.Store)
}

// OpenDSN turns a function that creates an empty database for a test, and returns its DSN, into
// the open function Run takes.
func OpenDSN(newDatabase func(t *testing.T) string, opts ...store.Option) func(t *testing.T) store.Store {
	var mu sync.Mutex
	dsns := map[*testing.T]string{}
	return func(t *testing.T) store.Store {
		t.Helper()
		mu.Lock()
		dsn, ok := dsns[t]
		if !ok {
			dsn = newDatabase(t)
			dsns[t] = dsn
			t.Cleanup(func() {
				mu.Lock()
				delete(dsns, t)
				mu.Unlock()
			})
		}
		mu.Unlock()
		s, err := store.Open(context.Background(), dsn, opts...)
		if err != nil {
			t.Errorf("open %s: %v", t.Name(), err)
			return nil
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
}

const ns = "team-a"

var jst = time.FixedZone("JST", 9*60*60)

// person is a record whose content depends on version, so that a test can change it.
func person(key string, version int) store.Record {
	return store.Record{
		Key: key,
		Identifiers: map[string][]string{
			"Email": {key + "@example.co.jp", strings.ToUpper(key) + "@example.com"},
			"Phone": {fmt.Sprintf("+8190%08d", len(key)*1000+version)},
		},
		Attributes: map[string]any{
			"name":       "山田 " + key,
			"visits":     float64(version),
			"score":      0.25 + float64(version),
			"vip":        version%2 == 0,
			"signedUpAt": time.Date(2024, 4, 1, 9, 30, 15, 123456789, jst),
			"note":       "line\n\"quoted\" \\ <tag> & ﾊﾝｶｸ",
		},
	}
}

func people(version int, keys ...string) []store.Record {
	out := make([]store.Record, len(keys))
	for i, k := range keys {
		out[i] = person(k, version)
	}
	return out
}

// content renders what a record holds, with times in UTC and each value's type, so that two
// renderings are equal exactly when the record came back as it went in.
func content(r store.Record) string {
	var b strings.Builder
	b.WriteString(r.Key + " ")
	writeMaps(&b, r.Identifiers, r.Attributes)
	return b.String()
}

// writeMaps renders identifiers and attributes in key order, each value with its type.
func writeMaps(b *strings.Builder, ids map[string][]string, attrs map[string]any) {
	b.WriteString("ids{")
	for _, k := range slices.Sorted(maps.Keys(ids)) {
		fmt.Fprintf(b, "%s=%q ", k, ids[k])
	}
	b.WriteString("} attrs{")
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		fmt.Fprintf(b, "%s=%s ", k, value(attrs[k]))
	}
	b.WriteString("}")
}

func value(v any) string {
	switch v := v.(type) {
	case time.Time:
		return "time:" + v.UTC().Format(time.RFC3339Nano)
	case map[string]any:
		parts := []string{}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, k+"="+value(v[k]))
		}
		return "{" + strings.Join(parts, " ") + "}"
	case []any:
		parts := []string{}
		for _, e := range v {
			parts = append(parts, value(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		return fmt.Sprintf("%T:%v", v, v)
	}
}

func contents(rs []store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = content(r)
	}
	return out
}

func byKey(rs []store.Record) map[string]store.Record {
	m := make(map[string]store.Record, len(rs))
	for _, r := range rs {
		m[r.Key] = r
	}
	return m
}

func liveKeys(rs []store.Record) []string {
	var keys []string
	for _, r := range rs {
		if r.DeletedAt == nil {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func newRun(source, runID string, mode store.SyncMode) store.SyncRun {
	return store.SyncRun{Namespace: ns, Source: source, RunID: runID, Mode: mode}
}

func begin(t *testing.T, s store.Store, run store.SyncRun) store.SyncWriter {
	t.Helper()
	w, err := s.BeginSync(t.Context(), run)
	if err != nil {
		t.Fatalf("BeginSync %s: %v", run.RunID, err)
	}
	abortAtEnd(t, w)
	return w
}

// abortAtEnd ends a writer that a failing test left open: it holds its source's lock, and a store
// waits for it before it closes. Abort refuses a writer that has already finished.
func abortAtEnd(t *testing.T, w store.SyncWriter) {
	t.Cleanup(func() { _, _ = w.Abort(context.Background(), store.SyncFailed, 0, "the test ended") })
}

func putRecords(t *testing.T, w store.SyncWriter, records []store.Record) {
	t.Helper()
	for _, r := range records {
		if err := w.PutRecord(t.Context(), r); err != nil {
			t.Fatalf("PutRecord %s: %v", r.Key, err)
		}
	}
}

func commit(t *testing.T, w store.SyncWriter, rowsRead int64, state store.SourceState) store.SyncRun {
	t.Helper()
	run, err := w.Commit(t.Context(), rowsRead, state)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return run
}

// syncRecords runs a whole records sync and returns the run with the time window in which it ran.
func syncRecords(t *testing.T, s store.Store, run store.SyncRun, records []store.Record) (store.SyncRun, window) {
	t.Helper()
	win := window{from: time.Now()}
	w := begin(t, s, run)
	putRecords(t, w, records)
	got := commit(t, w, int64(len(records)), store.SourceState{})
	win.to = time.Now()
	return got, win
}

func syncEvents(t *testing.T, s store.Store, run store.SyncRun, events []store.Event) store.SyncRun {
	t.Helper()
	w := begin(t, s, run)
	for _, e := range events {
		if err := w.PutEvent(t.Context(), e); err != nil {
			t.Fatalf("PutEvent %s: %v", e.ID, err)
		}
	}
	return commit(t, w, int64(len(events)), store.SourceState{})
}

// window is when something happened: a time the store wrote must fall inside.
type window struct{ from, to time.Time }

func (w window) check(t *testing.T, what string, got time.Time) {
	t.Helper()
	from := w.from.Truncate(time.Microsecond)
	if got.Before(from) || got.After(w.to) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want a UTC time within [%v, %v]", what, got, from, w.to)
	}
}

func scanRecords(t *testing.T, s store.Store, namespace, source string) []store.Record {
	t.Helper()
	var out []store.Record
	if err := s.ScanRecords(t.Context(), namespace, source, func(r store.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("ScanRecords: %v", err)
	}
	return out
}

func scanEvents(t *testing.T, s store.Store, namespace, source string) []store.Event {
	t.Helper()
	var out []store.Event
	if err := s.ScanEvents(t.Context(), namespace, source, func(e store.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("ScanEvents: %v", err)
	}
	return out
}

// counts are the numbers of a run that a test checks.
type counts struct {
	Read, Loaded, Quarantined, Inserted, Updated, Unchanged, Deleted int64
}

func countsOf(r store.SyncRun) counts {
	return counts{r.RowsRead, r.RowsLoaded, r.RowsQuarantined, r.Inserted, r.Updated, r.Unchanged, r.RecordsDeleted}
}

func checkCounts(t *testing.T, what string, run store.SyncRun, want counts) {
	t.Helper()
	if got := countsOf(run); got != want {
		t.Errorf("%s: counts %+v, want %+v", what, got, want)
	}
}

func mustEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

var migrationTests = []test{
	{"open applies the schema to an empty database", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		run, _ := syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a"))
		checkCounts(t, "first sync", run, counts{Read: 1, Loaded: 1, Inserted: 1})
	}},
	{"migrating again changes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b"))
		before := contents(scanRecords(t, s, ns, "crm"))
		for range 2 {
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate again: %v", err)
			}
		}
		other := open(t) // Open migrates too
		mustEqual(t, "records after migrating again", contents(scanRecords(t, other, ns, "crm")), before)
		if _, err := other.Run(t.Context(), ns, "crm", "r1"); err != nil {
			t.Errorf("run recorded before migrating again: %v", err)
		}
	}},
	{"stores opened at once on an empty database both migrate it", func(t *testing.T, open func(t *testing.T) store.Store) {
		const n = 3
		stores := make([]store.Store, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i] = open(t) })
		}
		wg.Wait()
		for i, s := range stores {
			if s == nil {
				t.Fatalf("store %d did not open", i)
			}
		}
		syncRecords(t, stores[0], newRun("crm", "r1", store.SyncSnapshot), people(1, "a"))
		for i, s := range stores {
			mustEqual(t, fmt.Sprintf("records seen by store %d", i), liveKeys(scanRecords(t, s, ns, "crm")), []string{"a"})
		}
	}},
	{"concurrent Migrate calls on one store", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a"))
	}},
}

var recordTests = []test{
	{"a live scan reads what a full scan reads, without the deleted records", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		in := people(1, "a", "b", "c", "d")
		// An escaped value takes the live scan's slow path.
		in[2].Identifiers["Email"] = append(in[2].Identifiers["Email"], `"quoted"@example.com`)
		in[3].Attributes = nil
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), in)
		syncRecords(t, s, newRun("crm", "r2", store.SyncSnapshot), []store.Record{in[0], in[2], in[3]})
		var want []store.Record
		for _, r := range scanRecords(t, s, ns, "crm") {
			if r.DeletedAt == nil {
				want = append(want, r)
			}
		}
		var got []store.Record
		err := s.ScanLiveRecords(t.Context(), ns, "crm", func(r *store.LiveRecord) error {
			rec := store.Record{Key: r.Key, Identifiers: map[string][]string{}, UpdatedAt: r.UpdatedAt}
			if err := r.EachIdentifier(func(idType, value string) {
				rec.Identifiers[idType] = append(rec.Identifiers[idType], strings.Clone(value))
			}); err != nil {
				return err
			}
			attrs, err := r.Attributes()
			if attrs == nil {
				attrs = map[string]any{}
			}
			rec.Attributes = attrs
			got = append(got, rec)
			return err
		})
		if err != nil {
			t.Fatalf("ScanLiveRecords: %v", err)
		}
		mustEqual(t, "live records", contents(got), contents(want))
		for i := range min(len(got), len(want)) {
			if !got[i].UpdatedAt.Equal(want[i].UpdatedAt) {
				t.Errorf("%s: UpdatedAt %v, want %v", got[i].Key, got[i].UpdatedAt, want[i].UpdatedAt)
			}
		}
		stop := errors.New("stop")
		calls := 0
		err = s.ScanLiveRecords(t.Context(), ns, "crm", func(*store.LiveRecord) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ScanLiveRecords = %v after %d calls, want the callback's error after 1", err, calls)
		}
	}},
	{"records come back as they went in, in key order", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		in := people(3, "m", "a", "z", "B", "名寄せ", "a-1", "ä")
		in = append(in, store.Record{Key: "bare"}, store.Record{
			Key:         "empty-maps",
			Identifiers: map[string][]string{},
			Attributes:  map[string]any{"big": 1e300, "tiny": -1e-300, "int": 42.0, "false": false, "empty": ""},
		})
		run, win := syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), in)
		checkCounts(t, "sync", run, counts{Read: 9, Loaded: 9, Inserted: 9})
		if run.Status != store.SyncSucceeded || run.Mode != store.SyncSnapshot || run.Message != "" {
			t.Errorf("run = %+v, want a Succeeded Snapshot run without message", run)
		}
		win.check(t, "FinishedAt", run.FinishedAt)
		got := scanRecords(t, s, ns, "crm")
		want := slices.Clone(in)
		// Byte order, whatever the database's locale.
		slices.SortFunc(want, func(a, b store.Record) int { return strings.Compare(a.Key, b.Key) })
		for i := range want {
			if want[i].Identifiers == nil {
				want[i].Identifiers = map[string][]string{}
			}
		}
		mustEqual(t, "records", contents(got), contents(want))
		for _, r := range got {
			win.check(t, r.Key+" FirstSeenAt", r.FirstSeenAt)
			if !r.UpdatedAt.Equal(r.FirstSeenAt) || r.DeletedAt != nil {
				t.Errorf("%s: UpdatedAt %v DeletedAt %v, want UpdatedAt = FirstSeenAt and not deleted", r.Key, r.UpdatedAt, r.DeletedAt)
			}
			if r.Attributes == nil {
				t.Errorf("%s: nil attributes, want an empty map", r.Key)
			}
		}
		if ts, ok := byKey(got)["a"].Attributes["signedUpAt"].(time.Time); !ok || ts.Location() != time.UTC || ts.Nanosecond() != 123456789 {
			t.Errorf("signedUpAt came back as %#v, want a UTC time.Time with its nanoseconds", byKey(got)["a"].Attributes["signedUpAt"])
		}
	}},
	{"a snapshot loaded again changes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b", "c"))
		before := scanRecords(t, s, ns, "crm")
		// The same records, in another order and with their maps built anew.
		run, _ := syncRecords(t, s, newRun("crm", "r2", store.SyncSnapshot), people(1, "c", "a", "b"))
		checkCounts(t, "second sync", run, counts{Read: 3, Loaded: 3, Unchanged: 3})
		after := scanRecords(t, s, ns, "crm")
		mustEqual(t, "records", contents(after), contents(before))
		for i := range after {
			if !after[i].UpdatedAt.Equal(before[i].UpdatedAt) || !after[i].FirstSeenAt.Equal(before[i].FirstSeenAt) {
				t.Errorf("%s: times moved from %v/%v to %v/%v", after[i].Key, before[i].FirstSeenAt,
					before[i].UpdatedAt, after[i].FirstSeenAt, after[i].UpdatedAt)
			}
		}
	}},
	{"a changed record is updated, its first sighting kept", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b", "c"))
		before := byKey(scanRecords(t, s, ns, "crm"))
		changedIDs := person("c", 1)
		changedIDs.Identifiers["Email"] = []string{"new@example.co.jp"}
		run, win := syncRecords(t, s, newRun("crm", "r2", store.SyncSnapshot),
			[]store.Record{person("a", 1), person("b", 2), changedIDs})
		checkCounts(t, "second sync", run, counts{Read: 3, Loaded: 3, Updated: 2, Unchanged: 1})
		after := byKey(scanRecords(t, s, ns, "crm"))
		for _, r := range []store.Record{person("b", 2), changedIDs} {
			got := after[r.Key]
			if content(got) != content(r) {
				t.Errorf("%s:\n got %s\nwant %s", r.Key, content(got), content(r))
			}
			win.check(t, r.Key+" UpdatedAt", got.UpdatedAt)
			if !got.FirstSeenAt.Equal(before[r.Key].FirstSeenAt) {
				t.Errorf("%s: FirstSeenAt moved from %v to %v", r.Key, before[r.Key].FirstSeenAt, got.FirstSeenAt)
			}
		}
		if !after["a"].UpdatedAt.Equal(before["a"].UpdatedAt) {
			t.Errorf("unchanged record a: UpdatedAt moved")
		}
	}},
	{"records missing from a snapshot are marked deleted, and come back", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b", "c", "d"))
		first := byKey(scanRecords(t, s, ns, "crm"))

		run, win := syncRecords(t, s, newRun("crm", "r2", store.SyncSnapshot), people(1, "a", "c"))
		checkCounts(t, "snapshot without b and d", run, counts{Read: 2, Loaded: 2, Unchanged: 2, Deleted: 2})
		second := scanRecords(t, s, ns, "crm")
		mustEqual(t, "all records, deleted ones too", contents(second), contents(people(1, "a", "b", "c", "d")))
		mustEqual(t, "live records", liveKeys(second), []string{"a", "c"})
		for _, k := range []string{"b", "d"} {
			r := byKey(second)[k]
			if r.DeletedAt == nil {
				t.Fatalf("%s: not marked deleted", k)
			}
			win.check(t, k+" DeletedAt", *r.DeletedAt)
			win.check(t, k+" UpdatedAt", r.UpdatedAt)
			if !r.FirstSeenAt.Equal(first[k].FirstSeenAt) {
				t.Errorf("%s: FirstSeenAt moved", k)
			}
		}

		// Still missing: stays deleted since the first time, not counted again.
		run, _ = syncRecords(t, s, newRun("crm", "r3", store.SyncSnapshot), people(1, "a", "c", "d"))
		checkCounts(t, "snapshot with d again", run, counts{Read: 3, Loaded: 3, Updated: 1, Unchanged: 2})
		third := byKey(scanRecords(t, s, ns, "crm"))
		if b := third["b"]; b.DeletedAt == nil || !b.DeletedAt.Equal(*byKey(second)["b"].DeletedAt) {
			t.Errorf("b: DeletedAt = %v, want it kept from the first deletion", b.DeletedAt)
		}
		if d := third["d"]; d.DeletedAt != nil || !d.UpdatedAt.After(byKey(second)["d"].UpdatedAt) {
			t.Errorf("d came back: DeletedAt = %v, UpdatedAt = %v; want not deleted, updated", d.DeletedAt, d.UpdatedAt)
		}

		// An empty snapshot: the source holds nothing any more.
		run, _ = syncRecords(t, s, newRun("crm", "r4", store.SyncSnapshot), nil)
		checkCounts(t, "empty snapshot", run, counts{Deleted: 3})
		mustEqual(t, "live records after an empty snapshot", liveKeys(scanRecords(t, s, ns, "crm")), nil)
	}},
	{"an append sync deletes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("db", "r1", store.SyncSnapshot), people(1, "a", "b"))
		run, _ := syncRecords(t, s, newRun("db", "r2", store.SyncAppend), []store.Record{person("b", 2), person("c", 1)})
		checkCounts(t, "append", run, counts{Read: 2, Loaded: 2, Inserted: 1, Updated: 1})
		got := scanRecords(t, s, ns, "db")
		mustEqual(t, "records", contents(got), contents([]store.Record{person("a", 1), person("b", 2), person("c", 1)}))
		mustEqual(t, "live records", liveKeys(got), []string{"a", "b", "c"})
	}},
	{"records that come in key order, then out of it, are each counted once", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		key := func(i int) string { return fmt.Sprintf("k%05d", i) }
		// Enough records that batches are merged while the sync goes on.
		const n = 12000
		var first []store.Record
		for i := range n {
			first = append(first, person(key(i), 1))
		}
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), first)
		before := byKey(scanRecords(t, s, ns, "crm"))

		// In key order up to k07999, every tenth changed, k05000 left for later; k08000 to k08999
		// missing; then k11999 down to k09000, k05000 and a new key, out of order.
		var second []store.Record
		for i := range 8000 {
			switch {
			case i == 5000:
			case i%10 == 0:
				second = append(second, person(key(i), 2))
			default:
				second = append(second, person(key(i), 1))
			}
		}
		for i := n - 1; i >= 9000; i-- {
			second = append(second, person(key(i), 1))
		}
		second = append(second, person(key(5000), 1), person("a-new", 1))
		run, win := syncRecords(t, s, newRun("crm", "r2", store.SyncSnapshot), second)
		checkCounts(t, "second sync", run, counts{
			Read: int64(len(second)), Loaded: int64(len(second)), Inserted: 1, Updated: 799, Unchanged: 10201, Deleted: 1000,
		})
		after := scanRecords(t, s, ns, "crm")
		if len(after) != n+1 {
			t.Fatalf("%d records, want %d", len(after), n+1)
		}
		for _, r := range after {
			old, existed := before[r.Key]
			var i int
			_, _ = fmt.Sscanf(r.Key, "k%05d", &i)
			switch {
			case !existed:
				win.check(t, r.Key+" FirstSeenAt", r.FirstSeenAt)
			case i >= 8000 && i < 9000:
				if r.DeletedAt == nil {
					t.Fatalf("%s: not marked deleted", r.Key)
				}
			case i < 8000 && i%10 == 0 && i != 5000:
				win.check(t, r.Key+" UpdatedAt", r.UpdatedAt)
			default:
				if !r.UpdatedAt.Equal(old.UpdatedAt) || r.DeletedAt != nil {
					t.Fatalf("%s: unchanged, yet UpdatedAt %v -> %v, DeletedAt %v", r.Key, old.UpdatedAt, r.UpdatedAt, r.DeletedAt)
				}
			}
		}
	}},
	{"a key repeated in one sync is refused, the first one wins", func(t *testing.T, open func(t *testing.T) store.Store) {
		// A source's first load and its later syncs take different paths in a store (SQLite writes
		// a first load straight into the records table), so both are checked.
		s := open(t)
		for _, later := range []bool{false, true} {
			source := fmt.Sprintf("crm-later-%v", later)
			var before int64
			if later {
				syncRecords(t, s, newRun(source, "r0", store.SyncSnapshot), people(1, "earlier"))
				before = 1
			}
			w := begin(t, s, newRun(source, "r1", store.SyncAppend))
			// Enough records that the first ones have left the writer's buffer for the database.
			const n = 12000
			for i := range n {
				if err := w.PutRecord(t.Context(), store.Record{Key: fmt.Sprintf("k%05d", i)}); err != nil {
					t.Fatalf("later=%v: PutRecord %d: %v", later, i, err)
				}
			}
			for _, k := range []string{"k00000", "k05001", fmt.Sprintf("k%05d", n-1)} {
				err := w.PutRecord(t.Context(), person(k, 9))
				if !errors.Is(err, store.ErrDuplicateKey) {
					t.Errorf("later=%v: PutRecord %s again: %v, want ErrDuplicateKey", later, k, err)
				}
			}
			// The writer goes on after a refused row.
			if err := w.PutRecord(t.Context(), person("last", 1)); err != nil {
				t.Fatalf("later=%v: PutRecord after a duplicate: %v", later, err)
			}
			run := commit(t, w, n+4, store.SourceState{})
			checkCounts(t, fmt.Sprintf("later=%v: sync", later), run, counts{Read: n + 4, Loaded: n + 1, Inserted: n + 1})
			got := byKey(scanRecords(t, s, ns, source))
			if int64(len(got)) != n+1+before || len(got["k00000"].Attributes) != 0 {
				t.Errorf("later=%v: %d records, k00000 = %s; want %d records and the first k00000, without attributes",
					later, len(got), content(got["k00000"]), n+1+before)
			}
		}
	}},
	{"rows the store cannot hold are refused, the sync goes on", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := begin(t, s, newRun("crm", "r1", store.SyncSnapshot))
		bad := []store.Record{
			{Key: ""},
			{Key: strings.Repeat("k", 5000)},
			{Key: "nul\x00key"},
			{Key: "bad-utf8-\xff"},
			{Key: "nan", Attributes: map[string]any{"x": math.NaN()}},
			{Key: "inf", Attributes: map[string]any{"x": math.Inf(-1)}},
			{Key: "nul-value", Attributes: map[string]any{"x": "a\x00b"}},
			{Key: "nul-identifier", Identifiers: map[string][]string{"Email": {"a\x00b"}}},
		}
		for _, r := range bad {
			if err := w.PutRecord(t.Context(), r); !errors.Is(err, store.ErrInvalidRow) {
				t.Errorf("PutRecord %.20q: %v, want ErrInvalidRow", r.Key, err)
			}
		}
		putRecords(t, w, people(1, "good", "nan"))
		run := commit(t, w, 10, store.SourceState{})
		checkCounts(t, "sync", run, counts{Read: 10, Loaded: 2, Inserted: 2})
		mustEqual(t, "records", contents(scanRecords(t, s, ns, "crm")), contents(people(1, "good", "nan")))
	}},
	{"a scan stops at the callback's error", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b", "c"))
		stop := errors.New("stop")
		var seen []string
		err := s.ScanRecords(t.Context(), ns, "crm", func(r store.Record) error {
			seen = append(seen, r.Key)
			if r.Key == "b" {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Errorf("ScanRecords = %v, want the callback's error", err)
		}
		mustEqual(t, "records seen", seen, []string{"a", "b"})
	}},
	{"source stats count live and deleted records and events", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b", "c"))
		syncRecords(t, s, newRun("crm", "r2", store.SyncSnapshot), people(1, "a"))
		syncEvents(t, s, newRun("web", "r1", store.SyncAppend), []store.Event{
			click("e1", t0, "a@example.com"), click("e2", t0, "a@example.com"),
		})
		for _, tc := range []struct {
			source string
			want   store.SourceStats
		}{
			{"crm", store.SourceStats{Records: 1, Deleted: 2}},
			{"web", store.SourceStats{Events: 2}},
			{"nothing", store.SourceStats{}},
		} {
			if got, err := s.SourceStats(t.Context(), ns, tc.source); err != nil || got != tc.want {
				t.Errorf("SourceStats(%s) = %+v, %v; want %+v", tc.source, got, err, tc.want)
			}
		}
	}},
	{"an unknown source has no records", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		mustEqual(t, "records", contents(scanRecords(t, s, ns, "nothing")), nil)
	}},
}

func click(id string, at time.Time, who string) store.Event {
	return store.Event{
		ID: id, Type: "click", OccurredAt: at, IdentifierType: "Email", IdentifierValue: who,
		Properties: map[string]any{"url": "https://example.co.jp/" + id, "n": 1.0},
		ReceivedAt: at.Add(time.Second),
	}
}

func eventString(e store.Event) string {
	props := []string{}
	for _, k := range slices.Sorted(maps.Keys(e.Properties)) {
		props = append(props, k+"="+value(e.Properties[k]))
	}
	return fmt.Sprintf("%s %s at=%s %s=%s received=%s {%s}", e.ID, e.Type, e.OccurredAt.Format(time.RFC3339Nano),
		e.IdentifierType, e.IdentifierValue, e.ReceivedAt.Format(time.RFC3339Nano), strings.Join(props, " "))
}

func eventStrings(es []store.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = eventString(e)
	}
	return out
}

// stored is an event as the store returns it: column times in UTC, to the microsecond.
func stored(e store.Event) store.Event {
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	e.ReceivedAt = e.ReceivedAt.UTC().Truncate(time.Microsecond)
	return e
}

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

var eventTests = []test{
	{"events come back as they went in, in time then ID order", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		nested := click("e-nested", t0.Add(3*time.Hour).In(jst), "b@example.com")
		nested.Type = "order"
		nested.Properties = map[string]any{
			"items":   []any{map[string]any{"sku": "A-1", "qty": 2.0}, "gift", true, nil},
			"paidAt":  time.Date(2025, 3, 1, 13, 0, 0, 5, jst),
			"address": map[string]any{"city": "大阪", "zip": "530-0001"},
		}
		in := []store.Event{
			click("e3", t0.Add(time.Minute+999*time.Nanosecond), "a@example.com"),
			click("e2", t0, "a@example.com"),
			click("e1", t0, "b@example.com"),
			nested,
		}
		run := syncEvents(t, s, newRun("web", "r1", store.SyncAppend), in)
		checkCounts(t, "sync", run, counts{Read: 4, Loaded: 4, Inserted: 4})
		want := []store.Event{stored(in[2]), stored(in[1]), stored(in[0]), stored(nested)}
		mustEqual(t, "events", eventStrings(scanEvents(t, s, ns, "web")), eventStrings(want))
	}},
	{"an event already stored is skipped and counted unchanged", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncEvents(t, s, newRun("web", "r1", store.SyncAppend), []store.Event{
			click("e1", t0, "a@example.com"), click("e2", t0.Add(time.Minute), "a@example.com"),
		})
		changed := click("e2", t0.Add(time.Hour), "other@example.com")
		run := syncEvents(t, s, newRun("web", "r2", store.SyncAppend), []store.Event{
			changed, click("e3", t0.Add(2*time.Minute), "a@example.com"), click("e3", t0.Add(2*time.Minute), "a@example.com"),
		})
		checkCounts(t, "second sync", run, counts{Read: 3, Loaded: 3, Inserted: 1, Unchanged: 2})
		want := []store.Event{
			stored(click("e1", t0, "a@example.com")), stored(click("e2", t0.Add(time.Minute), "a@example.com")),
			stored(click("e3", t0.Add(2*time.Minute), "a@example.com")),
		}
		mustEqual(t, "events", eventStrings(scanEvents(t, s, ns, "web")), eventStrings(want))
	}},
	{"an event without a receipt time gets the time it was written", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		e := click("e1", t0, "a@example.com")
		e.ReceivedAt = time.Time{}
		before := time.Now()
		syncEvents(t, s, newRun("web", "r1", store.SyncAppend), []store.Event{e})
		got := scanEvents(t, s, ns, "web")
		if len(got) != 1 {
			t.Fatalf("%d events, want 1", len(got))
		}
		window{before, time.Now()}.check(t, "ReceivedAt", got[0].ReceivedAt)
	}},
	{"events the store cannot hold are refused", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := begin(t, s, newRun("web", "r1", store.SyncAppend))
		noType := click("e2", t0, "a@example.com")
		noType.Type = ""
		noTime := click("e3", time.Time{}, "a@example.com")
		badProp := click("e4", t0, "a@example.com")
		badProp.Properties["x"] = math.NaN()
		badIdentifier := click("e5", t0, "\xff")
		for _, e := range []store.Event{click("", t0, "a@example.com"), noType, noTime, badProp, badIdentifier} {
			if err := w.PutEvent(t.Context(), e); !errors.Is(err, store.ErrInvalidRow) {
				t.Errorf("PutEvent %q: %v, want ErrInvalidRow", e.ID, err)
			}
		}
		if err := w.PutEvent(t.Context(), click("e1", t0, "a@example.com")); err != nil {
			t.Fatal(err)
		}
		run := commit(t, w, 6, store.SourceState{})
		checkCounts(t, "sync", run, counts{Read: 6, Loaded: 1, Inserted: 1})
	}},
}

var visibilityTests = []test{
	{"readers see a sync only once it commits", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b"))
		syncEvents(t, s, newRun("web", "r1", store.SyncAppend), []store.Event{click("e1", t0, "a@example.com")})
		// Enough rows that some have left the writer's buffer for the database.
		const n = 6000
		for _, kind := range []string{"records", "events"} {
			t.Run(kind, func(t *testing.T) {
				records := contents(scanRecords(t, s, ns, "crm"))
				events := eventStrings(scanEvents(t, s, ns, "web"))
				var w store.SyncWriter
				if kind == "records" {
					w = begin(t, s, newRun("crm", "r2", store.SyncSnapshot))
					for i := range n {
						putRecords(t, w, []store.Record{person(fmt.Sprintf("n%04d", i), 1)})
					}
				} else {
					w = begin(t, s, newRun("web", "r2", store.SyncAppend))
					for i := range n {
						if err := w.PutEvent(t.Context(), click(fmt.Sprintf("n%04d", i), t0, "a@example.com")); err != nil {
							t.Fatal(err)
						}
					}
				}

				mustEqual(t, "records while the sync is open", contents(scanRecords(t, s, ns, "crm")), records)
				mustEqual(t, "events while the sync is open", eventStrings(scanEvents(t, s, ns, "web")), events)
				source := map[string]string{"records": "crm", "events": "web"}[kind]
				if _, err := s.Run(t.Context(), ns, source, "r2"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Run of the open sync: %v, want ErrNotFound", err)
				}
				if st, err := s.SourceState(t.Context(), ns, source); err != nil || st != (store.SourceState{}) {
					t.Errorf("SourceState while the sync is open: %+v, %v; want it unchanged", st, err)
				}

				commit(t, w, n, store.SourceState{ETag: `"v2"`})
				if kind == "records" {
					if got := liveKeys(scanRecords(t, s, ns, "crm")); len(got) != n {
						t.Errorf("%d live records after the commit, want %d", len(got), n)
					}
				} else if got := len(scanEvents(t, s, ns, "web")); got != n+1 {
					t.Errorf("%d events after the commit, want %d", got, n+1)
				}
				if st, err := s.SourceState(t.Context(), ns, source); err != nil || st.ETag != `"v2"` {
					t.Errorf("SourceState after the commit: %+v, %v", st, err)
				}
			})
		}
	}},
}

var abortTests = []test{
	{"an aborted sync leaves the data as it was and records why", func(t *testing.T, open func(t *testing.T) store.Store) {
		for _, status := range []store.SyncStatus{store.SyncFailed, store.SyncSkipped} {
			t.Run(string(status), func(t *testing.T) {
				s := open(t)
				first, _ := syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b", "c"))
				w := begin(t, s, newRun("web", "r1", store.SyncAppend))
				if err := w.PutEvent(t.Context(), click("e1", t0, "a@example.com")); err != nil {
					t.Fatal(err)
				}
				commit(t, w, 1, store.SourceState{ETag: `"e1"`})
				records := scanRecords(t, s, ns, "crm")

				w = begin(t, s, newRun("crm", "r2", store.SyncSnapshot))
				putRecords(t, w, []store.Record{person("a", 5), person("d", 1)})
				// Enough rows that some have left the writer's buffer for the database.
				for i := range 6000 {
					putRecords(t, w, []store.Record{person(fmt.Sprintf("x%04d", i), 1)})
				}
				if err := w.Quarantine(t.Context(), store.QuarantinedRow{Row: 7, Reason: "bad date", Raw: "x,y"}); err != nil {
					t.Fatal(err)
				}
				win := window{from: time.Now()}
				run, err := w.Abort(t.Context(), status, 6004, "the file changed while it was read")
				win.to = time.Now()
				if err != nil {
					t.Fatalf("Abort: %v", err)
				}

				after := scanRecords(t, s, ns, "crm")
				mustEqual(t, "records", contents(after), contents(records))
				for i := range after {
					if !after[i].UpdatedAt.Equal(records[i].UpdatedAt) || (after[i].DeletedAt == nil) != (records[i].DeletedAt == nil) {
						t.Errorf("%s: times changed by an aborted sync", after[i].Key)
					}
				}
				if st, err := s.SourceState(t.Context(), ns, "crm"); err != nil || st != (store.SourceState{}) {
					t.Errorf("SourceState = %+v, %v; want it unchanged (empty)", st, err)
				}
				recorded, err := s.Run(t.Context(), ns, "crm", "r2")
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if recorded.Status != status || recorded.Message != "the file changed while it was read" {
					t.Errorf("run = %s %q, want %s with the message", recorded.Status, recorded.Message, status)
				}
				checkCounts(t, "aborted run", recorded, counts{Read: 6004, Quarantined: 1})
				win.check(t, "FinishedAt", recorded.FinishedAt)
				if countsOf(run) != countsOf(recorded) || run.Status != recorded.Status {
					t.Errorf("Abort returned %+v, the store holds %+v", run, recorded)
				}
				q, err := s.Quarantined(t.Context(), ns, "crm", "r2", 0)
				if err != nil || len(q) != 1 || q[0] != (store.QuarantinedRow{Row: 7, Reason: "bad date", Raw: "x,y"}) {
					t.Errorf("Quarantined = %+v, %v; want the one row", q, err)
				}
				if prev, err := s.Run(t.Context(), ns, "crm", "r1"); err != nil || countsOf(prev) != countsOf(first) {
					t.Errorf("the earlier run changed: %+v, %v", prev, err)
				}
			})
		}
	}},
	{"a sync whose context ended is still recorded as failed", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b"))
		records := contents(scanRecords(t, s, ns, "crm"))

		ctx, cancel := context.WithCancel(t.Context())
		w, err := s.BeginSync(ctx, newRun("crm", "r2", store.SyncSnapshot))
		if err != nil {
			t.Fatal(err)
		}
		abortAtEnd(t, w)
		putRecords(t, w, people(2, "a"))
		cancel() // the Job is being stopped
		var putErr error
		for i := 0; putErr == nil && i < 20000; i++ {
			putErr = w.PutRecord(ctx, person(fmt.Sprintf("x%05d", i), 1))
		}
		if _, err := w.Commit(ctx, 0, store.SourceState{}); err == nil {
			t.Fatal("Commit with an ended context succeeded")
		}
		if _, err := w.Abort(t.Context(), store.SyncFailed, 0, "stopped"); err != nil {
			t.Fatalf("Abort after the context ended: %v", err)
		}
		mustEqual(t, "records", contents(scanRecords(t, s, ns, "crm")), records)
		if run, err := s.Run(t.Context(), ns, "crm", "r2"); err != nil || run.Status != store.SyncFailed {
			t.Errorf("Run = %+v, %v; want Failed", run, err)
		}
		// The source is free for the next sync.
		syncRecords(t, s, newRun("crm", "r3", store.SyncSnapshot), people(1, "a"))
	}},
	{"a writer that has finished refuses more work", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := begin(t, s, newRun("crm", "r1", store.SyncSnapshot))
		commit(t, w, 0, store.SourceState{})
		if err := w.PutRecord(t.Context(), person("a", 1)); err == nil {
			t.Error("PutRecord after Commit succeeded")
		}
		if _, err := w.Commit(t.Context(), 0, store.SourceState{}); err == nil {
			t.Error("Commit after Commit succeeded")
		}
		if _, err := w.Abort(t.Context(), store.SyncFailed, 0, "late"); err == nil {
			t.Error("Abort after Commit succeeded")
		}
		w = begin(t, s, newRun("crm", "r2", store.SyncSnapshot))
		if _, err := w.Abort(t.Context(), store.SyncSucceeded, 0, ""); err == nil {
			t.Error("Abort with status Succeeded succeeded")
		}
		if _, err := w.Abort(t.Context(), store.SyncFailed, 0, "failed"); err != nil {
			t.Fatalf("Abort after a refused Abort: %v", err)
		}
		if _, err := w.Commit(t.Context(), 0, store.SourceState{}); err == nil {
			t.Error("Commit after Abort succeeded")
		}
	}},
}

var quarantineTests = []test{
	{"the first rows are kept, all are counted, in row order", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := begin(t, s, newRun("crm", "r1", store.SyncSnapshot))
		const extra = 5
		total := store.MaxQuarantinedRowsPerRun + extra
		long := strings.Repeat("あ", store.MaxRawBytes) // three bytes each
		// Rows quarantined from the last to the first: the first ones quarantined are kept.
		for row := int64(total); row >= 1; row-- {
			if err := w.Quarantine(t.Context(), store.QuarantinedRow{Row: row, Reason: fmt.Sprintf("reason %d", row), Raw: long}); err != nil {
				t.Fatal(err)
			}
		}
		putRecords(t, w, people(1, "a"))
		run := commit(t, w, int64(total+1), store.SourceState{})
		checkCounts(t, "sync", run, counts{Read: int64(total + 1), Loaded: 1, Inserted: 1, Quarantined: int64(total)})

		got, err := s.Quarantined(t.Context(), ns, "crm", "r1", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != store.MaxQuarantinedRowsPerRun {
			t.Fatalf("%d rows kept, want %d", len(got), store.MaxQuarantinedRowsPerRun)
		}
		for i, q := range got {
			if want := int64(extra + 1 + i); q.Row != want || q.Reason != fmt.Sprintf("reason %d", want) {
				t.Fatalf("row %d = %d %q, want row %d", i, q.Row, q.Reason, want)
			}
			if len(q.Raw) > store.MaxRawBytes || !utf8.ValidString(q.Raw) || !strings.HasPrefix(long, q.Raw) || len(q.Raw) < store.MaxRawBytes-3 {
				t.Fatalf("raw of row %d: %d bytes, valid UTF-8 %v; want a prefix of the row of at most %d bytes", q.Row, len(q.Raw), utf8.ValidString(q.Raw), store.MaxRawBytes)
			}
		}
		limited, err := s.Quarantined(t.Context(), ns, "crm", "r1", 3)
		if err != nil || len(limited) != 3 || limited[0].Row != extra+1 {
			t.Errorf("with limit 3: %d rows starting at %v, %v", len(limited), limited, err)
		}
	}},
	{"text a database refuses is kept readable", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := begin(t, s, newRun("crm", "r1", store.SyncSnapshot))
		if err := w.Quarantine(t.Context(), store.QuarantinedRow{Row: 2, Reason: "bad \xff byte", Raw: "a\x00b\xfe"}); err != nil {
			t.Fatal(err)
		}
		commit(t, w, 1, store.SourceState{})
		got, err := s.Quarantined(t.Context(), ns, "crm", "r1", 0)
		want := store.QuarantinedRow{Row: 2, Reason: "bad \uFFFD byte", Raw: "a\uFFFDb\uFFFD"}
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("Quarantined = %+v, %v; want %+v", got, err, want)
		}
	}},
	{"a run without quarantined rows has none", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a"))
		for _, runID := range []string{"r1", "unknown"} {
			if got, err := s.Quarantined(t.Context(), ns, "crm", runID, 0); err != nil || len(got) != 0 {
				t.Errorf("Quarantined %s = %+v, %v; want none", runID, got, err)
			}
		}
	}},
}

var runIDTests = []test{
	{"a run that finished does not run again", func(t *testing.T, open func(t *testing.T) store.Store) {
		for _, status := range []store.SyncStatus{store.SyncSucceeded, store.SyncSkipped} {
			t.Run(string(status), func(t *testing.T) {
				s := open(t)
				w := begin(t, s, newRun("crm", "job-1", store.SyncSnapshot))
				putRecords(t, w, people(1, "a", "b"))
				var first store.SyncRun
				var err error
				if status == store.SyncSucceeded {
					first, err = w.Commit(t.Context(), 2, store.SourceState{ETag: `"1"`})
				} else {
					first, err = w.Abort(t.Context(), store.SyncSkipped, 0, "not modified")
				}
				if err != nil {
					t.Fatal(err)
				}
				records := contents(scanRecords(t, s, ns, "crm"))

				again, err := s.BeginSync(t.Context(), newRun("crm", "job-1", store.SyncSnapshot))
				if again != nil {
					abortAtEnd(t, again)
				}
				if !errors.Is(err, store.ErrRunFinished) || again != nil {
					t.Fatalf("BeginSync of a %s run = %v, %v; want ErrRunFinished", status, again, err)
				}
				got, err := s.Run(t.Context(), ns, "crm", "job-1")
				if err != nil || got.Status != status || countsOf(got) != countsOf(first) || !got.FinishedAt.Equal(first.FinishedAt) {
					t.Errorf("Run = %+v, %v; want the first result %+v", got, err, first)
				}
				mustEqual(t, "records", contents(scanRecords(t, s, ns, "crm")), records)
				// The finished run left the source free for the next one.
				syncRecords(t, s, newRun("crm", "job-2", store.SyncSnapshot), people(1, "a"))
			})
		}
	}},
	{"a failed run may run again", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := begin(t, s, newRun("crm", "job-1", store.SyncSnapshot))
		putRecords(t, w, people(1, "a"))
		for row := int64(2); row <= 4; row++ {
			if err := w.Quarantine(t.Context(), store.QuarantinedRow{Row: row, Reason: "first attempt"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Abort(t.Context(), store.SyncFailed, 4, "connection reset"); err != nil {
			t.Fatal(err)
		}

		w = begin(t, s, newRun("crm", "job-1", store.SyncSnapshot))
		putRecords(t, w, people(1, "a", "b"))
		if err := w.Quarantine(t.Context(), store.QuarantinedRow{Row: 9, Reason: "second attempt"}); err != nil {
			t.Fatal(err)
		}
		run := commit(t, w, 3, store.SourceState{})
		checkCounts(t, "second attempt", run, counts{Read: 3, Loaded: 2, Inserted: 2, Quarantined: 1})
		got, err := s.Run(t.Context(), ns, "crm", "job-1")
		if err != nil || got.Status != store.SyncSucceeded || got.Message != "" {
			t.Errorf("Run = %+v, %v; want Succeeded without the first attempt's message", got, err)
		}
		q, err := s.Quarantined(t.Context(), ns, "crm", "job-1", 0)
		if err != nil || len(q) != 1 || q[0].Reason != "second attempt" {
			t.Errorf("Quarantined = %+v, %v; want only the second attempt's row", q, err)
		}
	}},
	{"runs are listed newest first", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		for i, id := range []string{"r-b", "r-a", "r-c"} {
			run := newRun("crm", id, store.SyncAppend)
			run.StartedAt = t0.Add(time.Duration(i) * time.Hour).In(jst)
			syncRecords(t, s, run, people(1, "a"))
		}
		runs, err := s.SyncRuns(t.Context(), ns, "crm", 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.RunID)
		}
		mustEqual(t, "runs", ids, []string{"r-c", "r-a", "r-b"})
		if len(runs) > 0 && (!runs[0].StartedAt.Equal(t0.Add(2*time.Hour)) || runs[0].StartedAt.Location() != time.UTC) {
			t.Errorf("StartedAt = %v, want %v in UTC", runs[0].StartedAt, t0.Add(2*time.Hour))
		}
		if runs, err := s.SyncRuns(t.Context(), ns, "crm", 2); err != nil || len(runs) != 2 || runs[0].RunID != "r-c" {
			t.Errorf("with limit 2: %+v, %v", runs, err)
		}
		if _, err := s.Run(t.Context(), ns, "crm", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Run of an unknown run: %v, want ErrNotFound", err)
		}
	}},
	{"a run needs a namespace, source, ID and mode", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		for _, run := range []store.SyncRun{
			{Source: "crm", RunID: "r", Mode: store.SyncSnapshot},
			{Namespace: ns, RunID: "r", Mode: store.SyncSnapshot},
			{Namespace: ns, Source: "crm", Mode: store.SyncSnapshot},
			{Namespace: ns, Source: "crm", RunID: "r"},
			{Namespace: ns, Source: "crm", RunID: "r", Mode: "Merge"},
		} {
			if w, err := s.BeginSync(t.Context(), run); err == nil {
				abortAtEnd(t, w)
				t.Errorf("BeginSync %+v succeeded", run)
			}
		}
		// None of them holds the source.
		syncRecords(t, s, newRun("crm", "r", store.SyncSnapshot), people(1, "a"))
	}},
}

var sourceStateTests = []test{
	{"a commit remembers the state for the next sync", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		if st, err := s.SourceState(t.Context(), ns, "crm"); err != nil || st != (store.SourceState{}) {
			t.Fatalf("state of a new source = %+v, %v; want zero", st, err)
		}
		states := []store.SourceState{
			{ETag: `W/"abc-123"`, LastModified: "Mon, 02 Jun 2025 10:00:00 GMT"},
			{Cursor: "2025-06-02T10:00:00.123456Z"},
			{},
		}
		for i, want := range states {
			w := begin(t, s, newRun("crm", fmt.Sprintf("r%d", i), store.SyncAppend))
			commit(t, w, 0, want)
			if got, err := s.SourceState(t.Context(), ns, "crm"); err != nil || got != want {
				t.Errorf("after sync %d: %+v, %v; want %+v", i, got, err, want)
			}
		}
		if st, err := s.SourceState(t.Context(), ns, "other"); err != nil || st != (store.SourceState{}) {
			t.Errorf("state of another source = %+v, %v; want zero", st, err)
		}
	}},
}

var namespaceTests = []test{
	{"namespaces do not see each other", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		other := "team-b"
		syncRecords(t, s, newRun("crm", "r1", store.SyncSnapshot), people(1, "a", "b"))
		runB := store.SyncRun{Namespace: other, Source: "crm", RunID: "r1", Mode: store.SyncSnapshot}
		w := begin(t, s, runB)
		putRecords(t, w, people(2, "b", "c"))
		if err := w.PutEvent(t.Context(), click("e1", t0, "b@example.com")); err != nil {
			t.Fatal(err)
		}
		if err := w.Quarantine(t.Context(), store.QuarantinedRow{Row: 1, Reason: "b only"}); err != nil {
			t.Fatal(err)
		}
		run := commit(t, w, 3, store.SourceState{ETag: "b"})
		checkCounts(t, "same run ID and keys in another namespace", run, counts{Read: 3, Loaded: 3, Inserted: 3, Quarantined: 1})

		mustEqual(t, "records of "+ns, contents(scanRecords(t, s, ns, "crm")), contents(people(1, "a", "b")))
		mustEqual(t, "records of "+other, contents(scanRecords(t, s, other, "crm")), contents(people(2, "b", "c")))
		mustEqual(t, "live records of "+ns, liveKeys(scanRecords(t, s, ns, "crm")), []string{"a", "b"})
		if got := scanEvents(t, s, ns, "crm"); len(got) != 0 {
			t.Errorf("events of %s: %d, want none", ns, len(got))
		}
		if got := scanEvents(t, s, other, "crm"); len(got) != 1 {
			t.Errorf("events of %s: %d, want 1", other, len(got))
		}
		if q, err := s.Quarantined(t.Context(), ns, "crm", "r1", 0); err != nil || len(q) != 0 {
			t.Errorf("quarantined rows of %s: %+v, %v", ns, q, err)
		}
		if st, err := s.SourceState(t.Context(), ns, "crm"); err != nil || st != (store.SourceState{}) {
			t.Errorf("state of %s: %+v, %v", ns, st, err)
		}
		runsA, errA := s.SyncRuns(t.Context(), ns, "crm", 0)
		runsB, errB := s.SyncRuns(t.Context(), other, "crm", 0)
		if errA != nil || errB != nil || len(runsA) != 1 || len(runsB) != 1 || runsA[0].Inserted != 2 || runsB[0].Namespace != other {
			t.Errorf("runs: %+v %v / %+v %v", runsA, errA, runsB, errB)
		}
	}},
}

var concurrencyTests = []test{
	{"syncs of two sources at once both land", func(t *testing.T, open func(t *testing.T) store.Store) {
		s, s2 := open(t), open(t)
		sources := map[string][]store.Record{}
		for i, src := range []string{"crm", "shop"} {
			var rs []store.Record
			for j := range 2000 {
				rs = append(rs, person(fmt.Sprintf("%s-%04d", src, j), i))
			}
			sources[src] = rs
		}
		errs := make(chan error, 2)
		for src, rs := range sources {
			st := s
			if src == "shop" {
				st = s2 // as another process would
			}
			go func() {
				w, err := st.BeginSync(t.Context(), newRun(src, "r1", store.SyncSnapshot))
				if err != nil {
					errs <- err
					return
				}
				for _, r := range rs {
					if err := w.PutRecord(t.Context(), r); err != nil {
						errs <- errors.Join(err, abort(t, w))
						return
					}
				}
				_, err = w.Commit(t.Context(), int64(len(rs)), store.SourceState{ETag: src})
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for src, rs := range sources {
			got := scanRecords(t, s, ns, src)
			mustEqual(t, "records of "+src, contents(got), contents(rs))
			if live := liveKeys(got); len(live) != len(rs) {
				t.Errorf("%d live records of %s, want %d", len(live), src, len(rs))
			}
			if st, err := s.SourceState(t.Context(), ns, src); err != nil || st.ETag != src {
				t.Errorf("state of %s: %+v, %v", src, st, err)
			}
		}
	}},
	{"syncs of one source take turns", func(t *testing.T, open func(t *testing.T) store.Store) {
		s, other := open(t), open(t)
		first := begin(t, s, newRun("crm", "r1", store.SyncSnapshot))
		putRecords(t, first, people(1, "a", "b", "c"))

		// While the first sync is open, a second one of the same source waits.
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if w, err := other.BeginSync(ctx, newRun("crm", "r2", store.SyncSnapshot)); !errors.Is(err, context.DeadlineExceeded) {
			if w != nil {
				abortAtEnd(t, w)
			}
			t.Fatalf("BeginSync while another sync of the source is open = %v, want it to wait until its context ends", err)
		}

		type result struct {
			run store.SyncRun
			err error
		}
		done := make(chan result, 1)
		go func() {
			w, err := other.BeginSync(t.Context(), newRun("crm", "r2", store.SyncSnapshot))
			if err != nil {
				done <- result{err: err}
				return
			}
			if err := w.PutRecord(t.Context(), person("a", 1)); err != nil {
				done <- result{err: errors.Join(err, abort(t, w))}
				return
			}
			run, err := w.Commit(t.Context(), 1, store.SourceState{})
			done <- result{run, err}
		}()
		commit(t, first, 3, store.SourceState{})
		second := <-done
		if second.err != nil {
			t.Fatal(second.err)
		}
		// The second sync started from what the first one committed.
		checkCounts(t, "second sync", second.run, counts{Read: 1, Loaded: 1, Unchanged: 1, Deleted: 2})
		mustEqual(t, "live records", liveKeys(scanRecords(t, s, ns, "crm")), []string{"a"})
	}},
	{"concurrent snapshots of one source never mix", func(t *testing.T, open func(t *testing.T) store.Store) {
		stores := []store.Store{open(t), open(t)}
		sets := [][]string{{"a", "b", "c"}, {"c", "d"}}
		errs := make(chan error, len(sets))
		for i, keys := range sets {
			go func() {
				w, err := stores[i].BeginSync(t.Context(), newRun("crm", fmt.Sprintf("r%d", i), store.SyncSnapshot))
				if err != nil {
					errs <- err
					return
				}
				for _, r := range people(i, keys...) {
					if err := w.PutRecord(t.Context(), r); err != nil {
						errs <- errors.Join(err, abort(t, w))
						return
					}
				}
				_, err = w.Commit(t.Context(), int64(len(keys)), store.SourceState{})
				errs <- err
			}()
		}
		for range sets {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		runs, err := stores[0].SyncRuns(t.Context(), ns, "crm", 0)
		if err != nil || len(runs) != 2 {
			t.Fatalf("runs: %+v, %v", runs, err)
		}
		got := scanRecords(t, stores[0], ns, "crm")
		live := liveKeys(got)
		var want []store.Record
		switch {
		case slices.Equal(live, sets[0]):
			want = people(0, sets[0]...)
		case slices.Equal(live, sets[1]):
			want = people(1, sets[1]...)
		default:
			t.Fatalf("live records %q are neither snapshot: the syncs mixed", live)
		}
		var gotLive []store.Record
		for _, r := range got {
			if r.DeletedAt == nil {
				gotLive = append(gotLive, r)
			}
		}
		mustEqual(t, "live records", contents(gotLive), contents(want))
	}},
}

// abort ends a writer after a failure inside a goroutine, where t.Fatal cannot be called.
func abort(t *testing.T, w store.SyncWriter) error {
	_, err := w.Abort(t.Context(), store.SyncFailed, 0, "test failed")
	return err
}
