package worker

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// segmentProfiles and segmentEvents size BenchmarkSegmentBehavioural: small by default so that
// `make bench` stays short; the figure is -segment.bench-profiles=1000000
// -segment.bench-events=10000000.
var (
	segmentProfiles = flag.Int("segment.bench-profiles", 100_000, "profiles BenchmarkSegmentBehavioural selects from")
	segmentEvents   = flag.Int("segment.bench-events", 1_000_000, "events BenchmarkSegmentBehavioural reads")
	// segmentKeep keeps the SQLite database between runs, for experiments with the query:
	// loading ten million events takes minutes.
	segmentKeep = flag.String("segment.bench-keep", "", "directory where BenchmarkSegmentBehavioural keeps its SQLite database to reuse it")
)

// prefectures are the generated profiles' prefectures: a third live in Tokyo or Kanagawa.
var prefectures = []string{"東京都", "神奈川県", "大阪府", "愛知県", "福岡県", "北海道"}

// BenchmarkSegmentBehavioural evaluates "at least 2 purchases in the last 90 days and none in the
// last 30, and prefecture in (東京都, 神奈川県)" over generated profiles and events, on SQLite and
// PostgreSQL: the evaluation's query, diff and history, with the event links already up to
// date (linking is measured apart, as link-s, once per store).
func BenchmarkSegmentBehavioural(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		if *segmentKeep != "" {
			dir = *segmentKeep
		}
		path := filepath.Join(dir, fmt.Sprintf("segments-%d-%d.db", *segmentProfiles, *segmentEvents))
		_, err := os.Stat(path)
		benchmarkSegment(b, "sqlite:"+path, err == nil)
	})
	b.Run("postgres", func(b *testing.B) {
		name := fmt.Sprintf("segment_bench_%d", time.Now().UnixNano())
		if err := pg.CreateDatabase(name); err != nil {
			b.Fatal(err)
		}
		benchmarkSegment(b, pg.DSN(name), false)
	})
}

func benchmarkSegment(b *testing.B, dsn string, loaded bool) {
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	n, events := *segmentProfiles, *segmentEvents
	if !loaded {
		publishBenchProfiles(b, st, n)
		loadBenchEvents(b, st, n, events, now)
	}

	idr := &cdpv1alpha1.IdentityResolution{Spec: cdpv1alpha1.IdentityResolutionSpec{
		Sources:       []cdpv1alpha1.ResolutionSource{{Name: "crm"}},
		Deterministic: []cdpv1alpha1.DeterministicRule{{Name: "id", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierCustomerID}}},
	}}
	idr.Name, idr.Namespace = "customers", "bench"
	cfg, err := ResolveConfig(idr)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := LinkEvents(ctx, st, cfg, 1); err != nil {
		b.Fatal(err)
	}
	link := time.Since(start)

	seg := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
		ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
		Rule: cdpv1alpha1.SegmentRule{All: []cdpv1alpha1.NestedRule{
			{Condition: cdpv1alpha1.Condition{Event: &cdpv1alpha1.EventCondition{
				Type: "purchase", Within: ptr.To(cdpv1alpha1.Duration("90d")),
				Count: &cdpv1alpha1.CountComparison{Operator: "GreaterThanOrEqual", Value: 2},
			}}},
			{Not: &cdpv1alpha1.LeafRule{Condition: cdpv1alpha1.Condition{Event: &cdpv1alpha1.EventCondition{
				Type: "purchase", Within: ptr.To(cdpv1alpha1.Duration("30d")),
			}}}},
			{Condition: cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{
				Path: "prefecture", Operator: cdpv1alpha1.OpIn, Values: []string{"東京都", "神奈川県"},
			}}},
		}},
	}}
	seg.Name, seg.Namespace = "lapsing-kanto-buyers", "bench"
	fields := Fields{
		Attributes:      map[string]cdpv1alpha1.AttributeType{"prefecture": cdpv1alpha1.AttributeString},
		EventProperties: map[string]cdpv1alpha1.AttributeType{"amount": cdpv1alpha1.AttributeNumber},
	}
	var size int64
	var first time.Duration
	for b.Loop() {
		began := time.Now()
		res, err := EvaluateSegment(ctx, st, seg, cfg, fields, SegmentOptions{Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		if first == 0 {
			// The first evaluation writes every member as entered; later ones find no change.
			first = time.Since(began)
		}
		size = res.Size
	}
	b.ReportMetric(float64(size), "members")
	b.ReportMetric(first.Seconds(), "first-s")
	b.ReportMetric(link.Seconds(), "link-s")
}

// publishBenchProfiles publishes n profiles, each with a customer ID and a prefecture.
func publishBenchProfiles(b *testing.B, st store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	w, err := st.BeginPublish(ctx, store.ResolutionRun{Namespace: "bench", Resolution: "customers", RunID: "bench", StartedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("C%07d", i)
		err := w.PutProfile(ctx, store.Profile{
			ID: "cus_" + id, Identifiers: map[string][]string{"CustomerID": {id}},
			Attributes: map[string]any{"prefecture": prefectures[i%len(prefectures)]},
			Records:    []store.RecordRef{{Source: "crm", Key: id}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, store.ResolutionRun{}); err != nil {
		b.Fatal(err)
	}
}

// loadBenchEvents appends events spread over the last year before now: a third purchases, the
// rest views and opens, each by a random profile's customer ID.
func loadBenchEvents(b *testing.B, st store.Store, profiles, events int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	w, err := st.BeginSync(ctx, store.SyncRun{Namespace: "bench", Source: "web", RunID: "load", Mode: store.SyncAppend})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"purchase", "page_view", "email_opened"}
	for i := range events {
		err := w.PutEvent(ctx, store.Event{
			ID: fmt.Sprintf("e%08d", i), Type: types[i%len(types)],
			OccurredAt:     now.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))),
			IdentifierType: "CustomerID", IdentifierValue: fmt.Sprintf("C%07d", rng.IntN(profiles)),
			Properties: map[string]any{"amount": float64(rng.IntN(20000))},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, int64(events), store.SourceState{}); err != nil {
		b.Fatal(err)
	}
}
