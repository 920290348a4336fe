package worker

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/procstat"
	"github.com/kizuna-dev/kizuna/test/synth"
)

// resolveRecords sizes BenchmarkResolveDeterministic: 1,000,000 records by default so that
// `make bench` stays short; the figure is -resolve.records=10000000. resolveAttributes
// gives every record an attribute too, for survivorship to choose.
var (
	resolveRecords    = flag.Int("resolve.records", 1_000_000, "records BenchmarkResolveDeterministic resolves")
	resolveAttributes = flag.Bool("resolve.attributes", false, "give every record of BenchmarkResolveDeterministic an attribute")
)

// BenchmarkResolveDeterministic resolves generated records with three identifiers each (email,
// phone, customer ID; see synth.Contacts) from a SQLite store, end to end: read the records, normalise, link,
// cluster, assign IDs, choose attributes, publish.
func BenchmarkResolveDeterministic(b *testing.B) {
	ctx := context.Background()
	n := *resolveRecords
	sources := []string{"crm", "ec", "app"}
	dsn := "sqlite:" + filepath.Join(b.TempDir(), "resolve.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	for _, source := range sources {
		loadContacts(b, st, source, sources, n)
	}
	// A resolution Job opens the store after the syncs' Jobs have closed it: closing moves
	// what they wrote from the WAL into the database file, work that is theirs to pay for.
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if st, err = store.Open(ctx, dsn); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	idr := &cdpv1alpha1.IdentityResolution{Spec: cdpv1alpha1.IdentityResolutionSpec{
		Sources: []cdpv1alpha1.ResolutionSource{{Name: "crm"}, {Name: "ec"}, {Name: "app"}},
		Deterministic: []cdpv1alpha1.DeterministicRule{
			{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}},
			{Name: "phone", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierPhone}},
			{Name: "customer", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierCustomerID}},
		},
	}}
	idr.Name, idr.Namespace = "customers", "bench"
	cfg, err := ResolveConfig(idr)
	if err != nil {
		b.Fatal(err)
	}
	var peak int64
	phases := map[string]time.Duration{}
	run := 0
	for b.Loop() {
		run++
		// Return what loading the store left behind, so that the peak is the resolution's own.
		debug.FreeOSMemory()
		procstat.ResetPeakRSS()
		got, _, err := Resolve(ctx, st, cfg, ResolveOptions{
			RunID: fmt.Sprintf("bench-%d", run), Phase: func(name string, took time.Duration) { phases[name] += took },
		})
		if err != nil || got.Records != int64(n) {
			b.Fatalf("resolve: %+v, %v", got, err)
		}
		peak = max(peak, procstat.PeakRSS())
		b.ReportMetric(float64(got.Profiles), "profiles")
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	for name, took := range phases {
		b.ReportMetric(took.Seconds()/float64(b.N), name+"-s")
	}
}

// loadContacts writes one source's share of the generated records into the store.
func loadContacts(b *testing.B, st store.Store, source string, sources []string, n int) {
	b.Helper()
	ctx := context.Background()
	w, err := st.BeginSync(ctx, store.SyncRun{Namespace: "bench", Source: source, RunID: "load", Mode: store.SyncSnapshot})
	if err != nil {
		b.Fatal(err)
	}
	var rows int64
	err = synth.Contacts(1, n, sources, func(c synth.Contact) error {
		if c.Source != source {
			return nil
		}
		rows++
		ids := map[string][]string{}
		for t, v := range map[string]string{"Email": c.Email, "Phone": c.Phone, "CustomerID": c.CustomerID} {
			if v != "" {
				ids[t] = []string{v}
			}
		}
		var attrs map[string]any
		if *resolveAttributes {
			attrs = map[string]any{"segment": "s" + strconv.Itoa(c.Person%7)}
		}
		return w.PutRecord(ctx, store.Record{Key: c.Key, Identifiers: ids, Attributes: attrs})
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Commit(ctx, rows, store.SourceState{}); err != nil {
		b.Fatal(err)
	}
}
