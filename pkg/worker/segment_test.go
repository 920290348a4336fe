package worker

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestSegmentEntersAndExits evaluates a behavioural segment on both stores as the clock moves:
// a customer whose purchases age out of the window exits at the next evaluation, and one whose
// first purchase arrives later, written in another notation, enters.
func TestSegmentEntersAndExits(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testSegmentEntersAndExits(t, "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		if err := pg.CreateDatabase("segment_history"); err != nil {
			t.Fatal(err)
		}
		testSegmentEntersAndExits(t, pg.DSN("segment_history"))
	})
}

func syncPurchases(t *testing.T, st store.Store, runID string, purchases map[string]time.Time) {
	t.Helper()
	ctx := t.Context()
	w, err := st.BeginSync(ctx, store.SyncRun{Namespace: "shop", Source: "orders", RunID: runID, Mode: store.SyncAppend})
	if err != nil {
		t.Fatal(err)
	}
	for email, at := range purchases {
		err := w.PutEvent(ctx, store.Event{ID: runID + "-" + email, Type: "purchase", OccurredAt: at,
			IdentifierType: "Email", IdentifierValue: email, Properties: map[string]any{"amount": 1000.0}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, int64(len(purchases)), store.SourceState{}); err != nil {
		t.Fatal(err)
	}
}

func testSegmentEntersAndExits(t *testing.T, dsn string) {
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	syncPeople(t, st, "crm", "r1", map[string][]string{"a": {"a@example.jp"}, "b": {"b@example.jp"}, "c": {"c@example.jp"}})
	_, cfg, byRecord := resolveTestResolution(t, st)
	a, b, c := byRecord["crm/a"], byRecord["crm/b"], byRecord["crm/c"]

	day := 24 * time.Hour
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	// Events carry emails as the shop wrote them: the links normalise them to the profiles'.
	syncPurchases(t, st, "e1", map[string]time.Time{"A@Example.JP": t0.Add(-10 * day), "b@example.jp": t0.Add(-40 * day)})

	seg := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
		ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
		Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{Event: &cdpv1alpha1.EventCondition{
			Type: "purchase", Within: ptr.To(cdpv1alpha1.Duration("30d")),
		}}},
	}}
	seg.Name, seg.Namespace = "recent-buyers", "shop"
	fields := Fields{EventProperties: map[string]cdpv1alpha1.AttributeType{"amount": cdpv1alpha1.AttributeNumber}}
	evaluate := func(at time.Time) store.SegmentEvaluationResult {
		t.Helper()
		res, err := EvaluateSegment(ctx, st, seg, cfg, fields, SegmentOptions{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	members := func() []string {
		t.Helper()
		got, err := st.SegmentMembers(ctx, "shop", seg.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ProfileID)
		}
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

	first := evaluate(t0)
	if first.Size != 1 || first.Entered != 1 || first.Exited != 0 || !slices.Equal(members(), []string{a}) {
		t.Fatalf("first evaluation = %+v, members %v; want only %s (a), entered", first, members(), a)
	}

	// Twenty-five days on, a's purchase is 35 days old; c buys, written in capitals.
	t1 := t0.Add(25 * day)
	syncPurchases(t, st, "e2", map[string]time.Time{"C@EXAMPLE.JP": t1.Add(-1 * day)})
	second := evaluate(t1)
	if second.Size != 1 || second.Entered != 1 || second.Exited != 1 || !slices.Equal(members(), []string{c}) {
		t.Fatalf("second evaluation = %+v, members %v; want %s (c) in and %s (a) out", second, members(), c, a)
	}
	history, err := st.SegmentHistory(ctx, "shop", seg.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"1 entered": {a}, "2 entered": {c}, "2 exited": {a}}
	got := map[string][]string{}
	for _, h := range history {
		key := fmt.Sprintf("%d %s", h.Evaluation, h.Change)
		got[key] = append(got[key], h.ProfileID)
		if !h.At.Equal(first.FinishedAt) && !h.At.Equal(second.FinishedAt) {
			t.Errorf("history %+v: at %v, want an evaluation's finish", h, h.At)
		}
	}
	for k, ids := range want {
		if !slices.Equal(sorted(got[k]...), sorted(ids...)) {
			t.Errorf("history %s = %v, want %v", k, got[k], ids)
		}
	}
	if len(got) != len(want) {
		t.Errorf("history = %v, want %v", got, want)
	}

	// Nothing changed: nothing enters or exits, and b, whose purchase is old, never entered.
	third := evaluate(t1)
	if third.Size != 1 || third.Entered != 0 || third.Exited != 0 || slices.Contains(members(), b) {
		t.Fatalf("third evaluation = %+v, members %v; want c alone, unchanged", third, members())
	}
}
