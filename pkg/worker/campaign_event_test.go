package worker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// cartEvent is an abandoned cart of a total, as a shop's export carries it: the customer's
// email as the shop wrote it.
type cartEvent struct {
	email              string
	total              float64
	occurred, received time.Time
}

// syncCarts writes events of type cart_abandoned (and page_view for a total of 0) through the
// store, as a sync of an Events DataSource would, with the times the store received them.
func syncCarts(t *testing.T, st store.Store, runID string, events ...cartEvent) {
	t.Helper()
	ctx := t.Context()
	w, err := st.BeginSync(ctx, store.SyncRun{Namespace: "shop", Source: "carts", RunID: runID, Mode: store.SyncAppend})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		ev := store.Event{ID: fmt.Sprintf("%s-%d", runID, i), Type: "cart_abandoned", OccurredAt: e.occurred, ReceivedAt: e.received,
			IdentifierType: "Email", IdentifierValue: e.email, Properties: map[string]any{"total": e.total}}
		if e.total == 0 {
			ev.Type, ev.Properties = "page_view", nil
		}
		if err := w.PutEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, int64(len(events)), store.SourceState{}); err != nil {
		t.Fatal(err)
	}
}

// TestEventRunsTargetWhoseEventsArrived runs two consecutive runs of a cart-abandonment
// campaign on both stores and checks whom each targets: the audience members (minus the
// excluded staff) who abandoned a cart of at least 3,000 yen that the store received since the
// previous run. New events are synced after the segments were evaluated, so only the run's own
// linking takes their identifiers, written in capitals, to the profiles.
func TestEventRunsTargetWhoseEventsArrived(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			testEventRuns(t, openTestStore(t, backend))
		})
	}
}

func testEventRuns(t *testing.T, st store.Store) {
	ctx := t.Context()
	people := map[string][]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		people[k] = []string{k + "@example.jp"}
	}
	syncPeople(t, st, "crm", "r1", people)
	idr, cfg, byRecord := resolveTestResolution(t, st)
	profile := func(keys ...string) []string {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = byRecord["crm/"+k]
		}
		slices.Sort(ids)
		return ids
	}
	names := map[string]string{}
	for k, id := range byRecord {
		names[id] = strings.TrimPrefix(k, "crm/")
	}

	// The campaign's creation, where the first window starts, and the ends of two windows.
	t0 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	r1, r2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	fields := Fields{
		Attributes:      map[string]cdpv1alpha1.AttributeType{"name": cdpv1alpha1.AttributeString},
		EventProperties: map[string]cdpv1alpha1.AttributeType{"total": cdpv1alpha1.AttributeNumber},
	}
	for _, seg := range []*cdpv1alpha1.Segment{
		testSegment("everyone", cdpv1alpha1.Condition{RandomBucket: &cdpv1alpha1.RandomBucketCondition{Salt: "all", From: 0, To: 99}}),
		testSegment("staff", cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{
			Path: "name", Operator: cdpv1alpha1.OpEquals, Value: ptrString("e")}}),
	} {
		if _, err := EvaluateSegment(ctx, st, seg, cfg, fields, SegmentOptions{Now: func() time.Time { return t0.Add(-time.Hour) }}); err != nil {
			t.Fatal(err)
		}
	}

	camp := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{
		Audience: cdpv1alpha1.Audience{
			Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}},
			Exclude: []cdpv1alpha1.LocalObjectReference{{Name: "staff"}},
		},
		Trigger: cdpv1alpha1.CampaignTrigger{Event: &cdpv1alpha1.EventTrigger{
			Type:  "cart_abandoned",
			Where: []cdpv1alpha1.AttributeCondition{{Path: "total", Operator: cdpv1alpha1.OpGreaterThanOrEqual, Value: ptrString("3000")}},
			Delay: ptrDuration("1h"), CheckEvery: "1m",
		}},
		// Runs a minute apart: a second run may target again whom the first did, so that only
		// the window keeps an old event from targeting its customer twice.
		ReEligibleAfter: ptrDuration("1m"),
		Steps: []cdpv1alpha1.CampaignStep{{Name: "reminder", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "mail"},
			Template:   cdpv1alpha1.MessageTemplate{Subject: "カートに商品が残っています", Text: "{{ unsubscribeURL }}"},
		}}}},
	}}
	camp.Name, camp.Namespace = "cart-reminder", "shop"
	// A run due at a check time reads the events received up to the trigger's delay (an hour)
	// before it, since the previous run's window.
	payload := func(run string, after, through time.Time) *CampaignPayload {
		return &CampaignPayload{Campaign: camp, Resolution: "customers",
			Run: CampaignRun{Namespace: "shop", Campaign: camp.Name, Run: run, Trigger: TriggerEvent,
				ScheduledAt: through.Add(time.Hour), ReceivedAfter: after, ReceivedThrough: through, Shards: 1},
			Events: &EventInputs{IdentityResolution: idr, Properties: fields.EventProperties}}
	}
	plan := func(p *CampaignPayload) []string {
		t.Helper()
		if _, err := PlanCampaignRun(ctx, st, p); err != nil {
			t.Fatal(err)
		}
		rows, err := st.Deliveries(ctx, "shop", camp.Name, p.Run.Run, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ProfileID)
			if !r.NotBefore.Equal(p.Run.ScheduledAt) {
				t.Errorf("run %s: %s's reminder is due at %v, want the run's time, %v", p.Run.Run, names[r.ProfileID], r.NotBefore, p.Run.ScheduledAt)
			}
		}
		return ids
	}
	named := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = names[id]
		}
		return out
	}

	// f abandoned a cart before the campaign existed.
	syncCarts(t, st, "e0", cartEvent{"f@example.jp", 7000, t0.Add(-10 * time.Minute), t0.Add(-10 * time.Minute)})
	// In the first minute: a twice, written in capitals; b too cheaply; e, who is staff; g; and c
	// only viewed a page.
	syncCarts(t, st, "e1",
		cartEvent{"A@Example.JP", 5000, t0.Add(10 * time.Second), t0.Add(10 * time.Second)},
		cartEvent{"a@example.jp", 4000, t0.Add(40 * time.Second), t0.Add(40 * time.Second)},
		cartEvent{"b@example.jp", 1000, t0.Add(20 * time.Second), t0.Add(20 * time.Second)},
		cartEvent{"E@EXAMPLE.JP", 8000, t0.Add(30 * time.Second), t0.Add(30 * time.Second)},
		cartEvent{"G@example.jp", 3500, t0.Add(50 * time.Second), t0.Add(50 * time.Second)},
		cartEvent{"c@example.jp", 0, t0.Add(30 * time.Second), t0.Add(30 * time.Second)},
	)
	if got, want := plan(payload("cart-reminder-r1", t0, r1)), profile("a", "g"); !slices.Equal(got, want) {
		t.Fatalf("the first run targets %v, want %v", named(got), named(want))
	}

	// In the second minute: d's cart of three days ago arrives late; c abandons one of exactly
	// 3,000 yen, received at the very end of the window; g abandons another; b's arrives a
	// second after the window.
	syncCarts(t, st, "e2",
		cartEvent{"D@EXAMPLE.JP", 6000, t0.Add(-72 * time.Hour), r1.Add(30 * time.Second)},
		cartEvent{"c@example.jp", 3000, r1.Add(50 * time.Second), r2},
		cartEvent{"g@example.jp", 3500, r1.Add(55 * time.Second), r1.Add(55 * time.Second)},
		cartEvent{"b@example.jp", 9000, r2, r2.Add(time.Second)},
	)
	// Without reEligibleAfter, g, reached by the first run, would be left out of the second.
	once := *camp
	once.Spec.ReEligibleAfter = nil
	p2 := payload("cart-reminder-r2", r1, r2)
	strict, err := PlanAudience(ctx, st, &CampaignPayload{Campaign: &once, Resolution: p2.Resolution, Run: p2.Run, Events: p2.Events})
	if err != nil {
		t.Fatal(err)
	}
	if strict.Recipients+strict.Holdout != 2 || strict.AlreadyReached != 1 {
		t.Errorf("without reEligibleAfter the second run plans %+v, want c and d, and g already reached", strict)
	}
	if got, want := plan(p2), profile("c", "d", "g"); !slices.Equal(got, want) {
		t.Fatalf("the second run targets %v, want %v", named(got), named(want))
	}

	// b's expensive cart arrived after the second window: the next check finds it, and a check
	// of a later, empty window finds nothing.
	for _, c := range []struct {
		after, through time.Time
		want           bool
	}{{r2, r2.Add(time.Minute), true}, {r2.Add(time.Minute), r2.Add(2 * time.Minute), false}} {
		arrived, err := EventsArrived(ctx, st, camp, "customers", fields.EventProperties, c.after, c.through)
		if err != nil || arrived != c.want {
			t.Errorf("EventsArrived(%v, %v] = %v, %v; want %v", c.after, c.through, arrived, err, c.want)
		}
	}
}

func testSegment(name string, c cdpv1alpha1.Condition) *cdpv1alpha1.Segment {
	seg := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
		ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
		Rule:          cdpv1alpha1.SegmentRule{Condition: c},
	}}
	seg.Name, seg.Namespace = name, "shop"
	return seg
}

func TestCheckEventTrigger(t *testing.T) {
	camp := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{Trigger: cdpv1alpha1.CampaignTrigger{Event: &cdpv1alpha1.EventTrigger{
		Type:  "cart_abandoned",
		Where: []cdpv1alpha1.AttributeCondition{{Path: "colour", Operator: cdpv1alpha1.OpEquals, Value: ptrString("red")}},
	}}}}
	camp.Name, camp.Namespace = "cart-reminder", "shop"
	err := CheckEventTrigger(camp, "customers", map[string]cdpv1alpha1.AttributeType{"total": cdpv1alpha1.AttributeNumber})
	if err == nil || !strings.Contains(err.Error(), "spec.trigger.event.where[0].path") || !strings.Contains(err.Error(), `"colour" is not declared`) {
		t.Errorf("CheckEventTrigger of an undeclared property: %v", err)
	}
	camp.Spec.Trigger.Event.Where[0].Path = "total"
	camp.Spec.Trigger.Event.Where[0].Operator = cdpv1alpha1.OpGreaterThan
	camp.Spec.Trigger.Event.Where[0].Value = ptrString("3000")
	if err := CheckEventTrigger(camp, "customers", map[string]cdpv1alpha1.AttributeType{"total": cdpv1alpha1.AttributeNumber}); err != nil {
		t.Errorf("CheckEventTrigger of a declared property: %v", err)
	}
}

func TestEventWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	hour := ptrDuration("1h")
	for _, c := range []struct {
		name                   string
		delay                  *cdpv1alpha1.Duration
		since, previous, due   time.Time
		wantAfter, wantThrough time.Time
	}{
		{"the first run without a delay ends its window a moment before the check", nil, t0, t0, t0.Add(time.Minute),
			t0, t0.Add(time.Minute - EventSettle)},
		{"the next run starts where the previous ended", nil, t0, t0.Add(time.Minute), t0.Add(2 * time.Minute),
			t0.Add(time.Minute - EventSettle), t0.Add(2*time.Minute - EventSettle)},
		{"a delay moves the window back", hour, t0, t0.Add(90 * time.Minute), t0.Add(91 * time.Minute),
			t0.Add(30*time.Minute - EventSettle), t0.Add(31*time.Minute - EventSettle)},
		{"but not before the campaign", hour, t0, t0, t0.Add(61 * time.Minute), t0, t0.Add(time.Minute - EventSettle)},
		{"empty until the delay has passed", hour, t0, t0, t0.Add(time.Minute), t0, t0.Add(-59*time.Minute - EventSettle)},
		{"locally, every event the first time", hour, time.Time{}, time.Time{}, t0, time.Time{}, t0.Add(-time.Hour - EventSettle)},
	} {
		t.Run(c.name, func(t *testing.T) {
			after, through := EventWindow(&cdpv1alpha1.EventTrigger{Type: "cart_abandoned", Delay: c.delay}, c.since, c.previous, c.due)
			if !after.Equal(c.wantAfter) || !through.Equal(c.wantThrough) {
				t.Errorf("EventWindow = (%v, %v], want (%v, %v]", after, through, c.wantAfter, c.wantThrough)
			}
		})
	}
}
