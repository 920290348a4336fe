package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

const campaign = "welcome"

// deliveryRun is a run of the test campaign scheduled an hour before t0, so that rows planned
// without a NotBefore are due at t0.
func deliveryRun(run string, shards int) store.DeliveryRun {
	return store.DeliveryRun{Namespace: ns, Campaign: campaign, Run: run, Trigger: "schedule",
		ScheduledAt: t0.Add(-time.Hour), Shards: shards}
}

func planned(profileID, step string, shard int) store.PlannedDelivery {
	return store.PlannedDelivery{ProfileID: profileID, Step: step, Shard: shard, Purpose: "Marketing"}
}

func plan(t *testing.T, s store.Store, run store.DeliveryRun, rows ...store.PlannedDelivery) int64 {
	t.Helper()
	n, err := s.PlanDeliveryRun(t.Context(), run, slices.Values(rows))
	if err != nil {
		t.Fatalf("PlanDeliveryRun %s: %v", run.Run, err)
	}
	return n
}

// take makes worker the owner of a shard of a run of the test campaign.
func take(t *testing.T, s store.Store, run, worker string, shard int) {
	t.Helper()
	if _, err := s.TakeShard(t.Context(), ns, campaign, run, shard, worker); err != nil {
		t.Fatalf("TakeShard by %s: %v", worker, err)
	}
}

// due makes worker the owner of a shard and reads up to limit of its rows due by now, from the
// start.
func due(t *testing.T, s store.Store, run, worker string, shard, limit int, now time.Time) []store.Delivery {
	t.Helper()
	take(t, s, run, worker, shard)
	ds, _, err := s.DueDeliveries(t.Context(), store.DueQuery{Namespace: ns, Campaign: campaign, Run: run, Shard: shard,
		Limit: limit, Now: now})
	if err != nil {
		t.Fatalf("DueDeliveries: %v", err)
	}
	return ds
}

func record(t *testing.T, s store.Store, outcomes ...store.Outcome) int {
	t.Helper()
	n, err := s.RecordOutcomes(t.Context(), outcomes)
	if err != nil {
		t.Fatalf("RecordOutcomes: %v", err)
	}
	return n
}

// outcome of a row of worker's shard, as read; a sent or failed one went to the provider.
func outcome(d store.Delivery, worker string, state store.DeliveryState, at time.Time) store.Outcome {
	return store.Outcome{Namespace: d.Namespace, Campaign: d.Campaign, Run: d.Run, ProfileID: d.ProfileID,
		Step: d.Step, Shard: d.Shard, Worker: worker, State: state, At: at, RowUpdatedAt: d.UpdatedAt,
		Attempted: state == store.DeliverySent || state == store.DeliveryFailed}
}

func outcomes(ds []store.Delivery, worker string, state store.DeliveryState, at time.Time) []store.Outcome {
	out := make([]store.Outcome, len(ds))
	for i, d := range ds {
		out[i] = outcome(d, worker, state, at)
	}
	return out
}

// rowKeys names rows "profile/step".
func rowKeys(ds []store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ProfileID + "/" + d.Step
	}
	return out
}

// rowStates renders rows "profile/step state attempts by".
func rowStates(ds []store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%s/%s %s %d %s", d.ProfileID, d.Step, d.State, d.Attempts, d.RecordedBy)
	}
	return out
}

func deliveries(t *testing.T, s store.Store, run string) []store.Delivery {
	t.Helper()
	ds, err := s.Deliveries(t.Context(), ns, campaign, run, 0)
	if err != nil {
		t.Fatalf("Deliveries: %v", err)
	}
	return ds
}

func deliveryCounts(t *testing.T, s store.Store, run string) store.DeliveryCounts {
	t.Helper()
	c, err := s.DeliveryCounts(t.Context(), ns, campaign, run)
	if err != nil {
		t.Fatalf("DeliveryCounts: %v", err)
	}
	return c
}

// campaignEvents flushes the events outcomes kept, and renders those of the events:
// "type identifier properties at".
func campaignEvents(t *testing.T, s store.Store) []string {
	t.Helper()
	if _, err := s.FlushDeliveryEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range scanEvents(t, s, ns, store.CampaignEventSource) {
		out = append(out, fmt.Sprintf("%s %s:%s %s %s", e.Type, e.IdentifierType, e.IdentifierValue,
			value(e.Properties), e.OccurredAt.Format(time.RFC3339Nano)))
	}
	slices.Sort(out)
	return out
}

// RunDeliveryEventFlush runs the flush test alone: a backend runs it with a flush step smaller
// than its backlog (store.SetFlushEventRows).
func RunDeliveryEventFlush(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	var rows []store.PlannedDelivery
	for i := range 7 {
		rows = append(rows, planned(fmt.Sprintf("p%d", i), "day-1", 0))
	}
	plan(t, s, deliveryRun("r1", 1), rows...)
	ds := due(t, s, "r1", "w1", 0, 10, t0)
	record(t, s, outcomes(ds[:4], "w1", store.DeliverySent, t0)...)
	record(t, s, outcomes(ds[4:], "w1", store.DeliveryFailed, t0)...)
	if n, err := s.FlushDeliveryEvents(t.Context()); err != nil || n != 7 {
		t.Fatalf("flush moved %d events, %v; want 7", n, err)
	}
	got := campaignEvents(t, s)
	if len(got) != 7 || len(slices.Compact(slices.Clone(got))) != 7 {
		t.Errorf("events = %q, want 7 different ones", got)
	}
}

var deliveryTests = []test{
	{"a plan writes the run and its rows once, and a second plan changes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		later := t0.Add(24 * time.Hour)
		rows := []store.PlannedDelivery{
			{ProfileID: "p2", Step: "day-1", Shard: 1, Variant: "b", Purpose: "Marketing", Channel: "mail",
				ChannelType: "SMTP", Address: "p2@example.co.jp"},
			{ProfileID: "p1", Step: "day-1", Shard: 0, Variant: "a", Purpose: "Marketing"},
			{ProfileID: "p1", Step: "day-2", Shard: 0, Variant: "a", Purpose: "Marketing", NotBefore: later},
			{ProfileID: "p3", Step: "day-1", Shard: 1, Purpose: "Marketing", State: store.DeliveryHoldout},
		}
		run := deliveryRun("r1", 2)
		if n := plan(t, s, run, rows...); n != 4 {
			t.Errorf("planned %d rows, want 4", n)
		}
		got, err := s.DeliveryRun(t.Context(), ns, campaign, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Trigger != "schedule" || got.Shards != 2 || !got.CompletedAt.IsZero() {
			t.Errorf("run = %+v, want trigger schedule, 2 shards, not completed", got)
		}
		checkTime(t, "ScheduledAt", got.ScheduledAt, run.ScheduledAt)
		if got.CreatedAt.IsZero() || got.PlannedAt.Before(got.CreatedAt) {
			t.Errorf("CreatedAt %v, PlannedAt %v: want both, in that order", got.CreatedAt, got.PlannedAt)
		}
		ds := deliveries(t, s, "r1")
		mustEqual(t, "rows", rowStates(ds), []string{
			"p1/day-1 pending 0 ", "p1/day-2 pending 0 ", "p2/day-1 pending 0 ", "p3/day-1 holdout 0 "})
		p2 := ds[2]
		if p2.Shard != 1 || p2.Variant != "b" || p2.Purpose != "Marketing" || p2.Channel != "mail" ||
			p2.ChannelType != "SMTP" || p2.Address != "p2@example.co.jp" || p2.Namespace != ns ||
			p2.Campaign != campaign || p2.Run != "r1" {
			t.Errorf("row p2 = %+v, want it as planned", p2)
		}
		checkTime(t, "NotBefore of a row planned without one", ds[0].NotBefore, run.ScheduledAt)
		checkTime(t, "NotBefore of a delayed step", ds[1].NotBefore, later)
		checkTime(t, "UpdatedAt", p2.UpdatedAt, got.CreatedAt)
		if !p2.SentAt.IsZero() || p2.RecordedBy != "" || p2.MessageID != "" || p2.Error != "" || p2.Attempts != 0 {
			t.Errorf("row p2 = %+v, want no outcome, send or error yet", p2)
		}

		_, err = s.PlanDeliveryRun(t.Context(), run, slices.Values([]store.PlannedDelivery{planned("p9", "day-1", 0)}))
		if !errors.Is(err, store.ErrRunFinished) {
			t.Fatalf("second plan: err = %v, want ErrRunFinished", err)
		}
		mustEqual(t, "rows after a second plan", rowStates(deliveries(t, s, "r1")), rowStates(ds))
		if again, err := s.DeliveryRun(t.Context(), ns, campaign, "r1"); err != nil || again != got {
			t.Errorf("run after a second plan = %+v, %v; want %+v", again, err, got)
		}
	}},
	{"outcomes add to their channel's and policy's totals, once each, over runs and workers", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		rows := []store.PlannedDelivery{planned("p1", "day-1", 0), planned("p2", "day-1", 0), planned("p3", "day-1", 0),
			planned("p4", "day-1", 0), planned("p5", "day-1", 0)}
		plan(t, s, deliveryRun("r1", 1), rows...)
		plan(t, s, deliveryRun("r2", 1), rows[:2]...)
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		via := func(o store.Outcome, channel string) store.Outcome {
			o.Channel, o.ChannelType = channel, "SMTP"
			return o
		}
		deferred := via(outcome(ds[3], "w1", store.DeliveryDeferred, t0), "mail")
		deferred.NotBefore = t0.Add(time.Hour)
		record(t, s,
			via(outcome(ds[0], "w1", store.DeliverySent, t0), "mail"),
			via(outcome(ds[1], "w1", store.DeliverySent, t0), "line"),
			via(outcome(ds[2], "w1", store.DeliveryCapped, t0), "mail"),
			deferred,
			outcome(ds[4], "w1", store.DeliverySuppressed, t0))
		// Recorded again, final outcomes apply and count nothing.
		if n := record(t, s, via(outcome(ds[0], "w1", store.DeliveryFailed, t0), "mail")); n != 0 {
			t.Errorf("an outcome of a sent row applied to %d rows, want 0", n)
		}
		// The deferred row is deferred again: each deferral counts. A retry counts nothing.
		again := due(t, s, "r1", "w2", 0, 10, t0.Add(time.Hour))
		if len(again) != 1 {
			t.Fatalf("claimed %d rows after the deferral, want 1", len(again))
		}
		deferred = via(outcome(again[0], "w2", store.DeliveryDeferred, t0.Add(time.Hour)), "mail")
		deferred.NotBefore = t0.Add(2 * time.Hour)
		record(t, s, deferred)
		// Run r2 decides under another policy.
		r2 := due(t, s, "r2", "w3", 0, 10, t0)
		underStrict := func(o store.Outcome) store.Outcome {
			o.Policy = "strict"
			return o
		}
		record(t, s, underStrict(via(outcome(r2[0], "w3", store.DeliverySent, t0.Add(3*time.Minute)), "mail")),
			underStrict(via(outcome(r2[1], "w3", store.DeliveryPending, t0.Add(4*time.Minute)), "mail")))
		got, err := s.DeliveryTotals(t.Context(), ns)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, total := range got {
			lines = append(lines, fmt.Sprintf("%q %q %s %d %s", total.Channel, total.Policy, total.State, total.Count,
				total.Last.Sub(t0)))
		}
		mustEqual(t, "totals", lines, []string{`"" "" suppressed 1 0s`, `"line" "" sent 1 0s`, `"mail" "" capped 1 0s`,
			`"mail" "" deferred 2 1h0m0s`, `"mail" "" sent 1 0s`, `"mail" "strict" sent 1 3m0s`})
		if other, err := s.DeliveryTotals(t.Context(), "team-b"); err != nil || len(other) != 0 {
			t.Errorf("totals of another namespace = %v, %v; want none", other, err)
		}
	}},
	{"runs are listed newest first and looked up by name", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		for _, run := range []string{"r1", "r2", "r3"} {
			plan(t, s, deliveryRun(run, 1), planned("p1", "day-1", 0))
		}
		plan(t, s, store.DeliveryRun{Namespace: ns, Campaign: "other", Run: "r9", Shards: 1})
		runs, err := s.DeliveryRuns(t.Context(), ns, campaign, 2)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range runs {
			names = append(names, r.Run)
		}
		mustEqual(t, "latest two runs", names, []string{"r3", "r2"})
		if all, err := s.DeliveryRuns(t.Context(), ns, campaign, 0); err != nil || len(all) != 3 {
			t.Errorf("DeliveryRuns without a limit = %d runs, %v; want 3", len(all), err)
		}
		if _, err := s.DeliveryRun(t.Context(), ns, campaign, "r4"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeliveryRun of a run never planned: err = %v, want ErrNotFound", err)
		}
		if _, err := s.DeliveryRun(t.Context(), "team-b", campaign, "r1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeliveryRun in another namespace: err = %v, want ErrNotFound", err)
		}
	}},
	{"a plan that fails writes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		for _, tc := range []struct {
			name string
			run  store.DeliveryRun
			rows []store.PlannedDelivery
			want string
		}{
			{"no shard", deliveryRun("r1", 0), nil, "at least one shard"},
			{"a shard beyond the run's", deliveryRun("r1", 2), []store.PlannedDelivery{planned("p1", "s", 2)}, "shard 2"},
			{"a negative shard", deliveryRun("r1", 2), []store.PlannedDelivery{planned("p1", "s", -1)}, "shard -1"},
			{"a state other than pending or holdout", deliveryRun("r1", 1),
				[]store.PlannedDelivery{{ProfileID: "p1", Step: "s", State: store.DeliverySent}}, `"sent"`},
			{"no profile", deliveryRun("r1", 1), []store.PlannedDelivery{planned("", "s", 0)}, "profile ID is empty"},
			{"a step planned twice", deliveryRun("r1", 1),
				[]store.PlannedDelivery{planned("p1", "s", 0), planned("p2", "s", 0), planned("p1", "s", 0)}, "planned twice"},
			{"no campaign", store.DeliveryRun{Namespace: ns, Run: "r1", Shards: 1}, nil, "campaign is empty"},
		} {
			_, err := s.PlanDeliveryRun(t.Context(), tc.run, slices.Values(tc.rows))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want one that says %q", tc.name, err, tc.want)
			}
		}
		if _, err := s.DeliveryRun(t.Context(), ns, campaign, "r1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeliveryRun after failed plans: err = %v, want ErrNotFound", err)
		}
		if ds := deliveries(t, s, "r1"); len(ds) != 0 {
			t.Errorf("failed plans left rows %v", rowKeys(ds))
		}
		// The run can still be planned.
		if n := plan(t, s, deliveryRun("r1", 1), planned("p1", "s", 0)); n != 1 {
			t.Errorf("plan after failed ones wrote %d rows, want 1", n)
		}
	}},
	{"a plan of many batches streams its rows", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		const n = 12_345
		rows := func(yield func(store.PlannedDelivery) bool) {
			for i := range n {
				if !yield(planned(fmt.Sprintf("p%06d", i), "day-1", i%3)) {
					return
				}
			}
		}
		got, err := s.PlanDeliveryRun(t.Context(), deliveryRun("r1", 3), rows)
		if err != nil || got != n {
			t.Fatalf("PlanDeliveryRun = %d, %v; want %d", got, err, n)
		}
		if c := deliveryCounts(t, s, "r1"); c.Pending != n || c.Total != n {
			t.Errorf("counts = %+v, want %d pending", c, n)
		}
		first, err := s.Deliveries(t.Context(), ns, campaign, "r1", 2)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "first rows", rowKeys(first), []string{"p000000/day-1", "p000001/day-1"})
	}},
	{"reads take due rows of their shard only, in the order they became due and were planned", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		rows := []store.PlannedDelivery{
			planned("p3", "day-1", 0), planned("p1", "day-1", 0), planned("p2", "day-1", 1),
			{ProfileID: "p1", Step: "day-2", Shard: 0, NotBefore: t0.Add(time.Hour)},
			{ProfileID: "p4", Step: "day-1", Shard: 0, State: store.DeliveryHoldout},
			planned("p5", "day-1", 0),
		}
		plan(t, s, deliveryRun("r1", 2), rows...)
		plan(t, s, deliveryRun("r2", 2), planned("p1", "day-1", 0))

		got := due(t, s, "r1", "w1", 0, 10, t0)
		mustEqual(t, "first read", rowStates(got), []string{"p3/day-1 pending 0 ", "p1/day-1 pending 0 ", "p5/day-1 pending 0 "})
		if got[0].Shard != 0 || got[0].Namespace != ns || got[0].Run != "r1" || got[0].Purpose != "Marketing" {
			t.Errorf("row read = %+v, want its run, shard and purpose", got[0])
		}
		// A read writes nothing.
		mustEqual(t, "rows as stored", rowStates(deliveries(t, s, "r1")), []string{
			"p1/day-1 pending 0 ", "p1/day-2 pending 0 ", "p2/day-1 pending 0 ", "p3/day-1 pending 0 ",
			"p4/day-1 holdout 0 ", "p5/day-1 pending 0 "})
		if early := due(t, s, "r1", "w1", 0, 10, t0.Add(time.Hour-time.Microsecond)); len(early) != 3 {
			t.Errorf("a read before the delayed step is due took %v", rowKeys(early))
		}
		mustEqual(t, "read once the delayed step is due", rowKeys(due(t, s, "r1", "w1", 0, 10, t0.Add(time.Hour))),
			[]string{"p3/day-1", "p1/day-1", "p5/day-1", "p1/day-2"})
		mustEqual(t, "read of the other shard", rowKeys(due(t, s, "r1", "w2", 1, 10, t0)), []string{"p2/day-1"})
		if c := deliveryCounts(t, s, "r2"); c.Pending != 1 {
			t.Errorf("counts of another run = %+v, want its row pending", c)
		}
		for _, q := range []store.DueQuery{
			{Namespace: ns, Campaign: campaign, Run: "r1", Limit: 0},
			{Namespace: ns, Campaign: campaign, Run: "r1", Limit: 1, Shard: -1},
			{Namespace: ns, Campaign: campaign, Limit: 1},
		} {
			if got, _, err := s.DueDeliveries(t.Context(), q); err == nil {
				t.Errorf("DueDeliveries(%+v) = %v, want an error", q, rowKeys(got))
			}
		}
	}},
	{"a read starts where the last one stopped, and finds a row again once its outcome makes it due again", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		var rows []store.PlannedDelivery
		for i := range 7 {
			rows = append(rows, planned(fmt.Sprintf("p%d", i), "day-1", 0))
		}
		plan(t, s, deliveryRun("r1", 1), rows...)
		take(t, s, "r1", "w1", 0)
		read := func(cursor store.DueCursor, now time.Time) ([]store.Delivery, store.DueCursor) {
			t.Helper()
			ds, next, err := s.DueDeliveries(t.Context(), store.DueQuery{Namespace: ns, Campaign: campaign, Run: "r1",
				Limit: 3, Now: now, After: cursor})
			if err != nil {
				t.Fatal(err)
			}
			return ds, next
		}
		var cursor store.DueCursor
		var all []string
		var first []store.Delivery
		for i, want := range []int{3, 3, 1, 0} {
			var ds []store.Delivery
			ds, cursor = read(cursor, t0)
			if len(ds) != want {
				t.Fatalf("read %d took %d rows, want %d", i+1, len(ds), want)
			}
			if i == 0 {
				first = ds
			}
			all = append(all, rowKeys(ds)...)
		}
		mustEqual(t, "rows read", all, rowKeys(deliveries(t, s, "r1")))
		// Outcomes that make rows due again: a retry in 30 s, a deferral to after quiet hours.
		retry := outcome(first[0], "w1", store.DeliveryPending, t0)
		retry.NotBefore, retry.Attempted = t0.Add(30*time.Second), true
		quiet := outcome(first[1], "w1", store.DeliveryDeferred, t0)
		quiet.NotBefore = t0.Add(10 * time.Hour)
		record(t, s, retry, quiet, outcome(first[2], "w1", store.DeliverySent, t0))
		if ds, _ := read(cursor, t0.Add(29*time.Second)); len(ds) != 0 {
			t.Errorf("a read before the retry is due took %v", rowKeys(ds))
		}
		ds, cursor := read(cursor, t0.Add(30*time.Second))
		mustEqual(t, "read once the retry is due", rowStates(ds), []string{"p0/day-1 pending 1 w1"})
		ds, _ = read(cursor, t0.Add(10*time.Hour))
		mustEqual(t, "read at the end of quiet hours", rowStates(ds), []string{"p1/day-1 deferred 0 w1"})
	}},
	{"a worker that takes a shard over stops the outcomes and reservations of the one before", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		plan(t, s, deliveryRun("r1", 2), planned("p1", "day-1", 0), planned("p2", "day-1", 0), planned("p3", "day-1", 1))
		old := due(t, s, "r1", "old", 0, 10, t0)
		if len(old) != 2 {
			t.Fatalf("the old worker read %v", rowKeys(old))
		}
		other := due(t, s, "r1", "pod-b", 1, 10, t0)
		reserve := func(worker string, shard int, profileID string) error {
			_, err := s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: campaign, Run: "r1", Shard: shard,
				Worker: worker, Since: t0.Add(-time.Hour), At: t0,
				Sends: []store.ReservedSend{{ProfileID: profileID, Step: "day-1", ChannelType: "SMTP", Purpose: "Marketing"}},
				Allow: func(int, []store.Sent) bool { return true }})
			return err
		}
		if err := errors.Join(reserve("old", 0, "p1"), reserve("pod-b", 1, "p3")); err != nil {
			t.Fatal(err)
		}
		sent := func() []string {
			t.Helper()
			got, err := s.RecentSends(t.Context(), ns, []string{"p1", "p2", "p3"}, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return slices.Sorted(maps.Keys(got))
		}
		mustEqual(t, "reserved", sent(), []string{"p1", "p3"})

		// The old worker was killed, or is still running: a new one takes the shard over. The
		// old reservation ends with it (the message may not have gone), the other shard's stays.
		released, err := s.TakeShard(t.Context(), ns, campaign, "r1", 0, "new")
		if err != nil || released != 1 {
			t.Fatalf("TakeShard = %d, %v; want the old worker's one reservation released", released, err)
		}
		mustEqual(t, "reserved after the takeover", sent(), []string{"p3"})
		if _, err := s.RecordOutcomes(t.Context(), outcomes(old, "old", store.DeliverySent, t0)); !errors.Is(err, store.ErrNotShardOwner) {
			t.Errorf("the old worker's outcomes: err = %v, want ErrNotShardOwner", err)
		}
		if err := reserve("old", 0, "p2"); !errors.Is(err, store.ErrNotShardOwner) {
			t.Errorf("the old worker's reservation: err = %v, want ErrNotShardOwner", err)
		}
		// An outcome that names its worker's shard applies only to a row of that shard.
		wrongShard := outcome(old[0], "pod-b", store.DeliverySent, t0)
		wrongShard.Shard = 1
		if n := record(t, s, wrongShard); n != 0 {
			t.Errorf("an outcome naming shard 1 applied to %d rows of shard 0, want none", n)
		}
		// A batch with one outcome of a shard its worker does not own applies nothing.
		mixed := []store.Outcome{outcome(other[0], "pod-b", store.DeliverySent, t0), outcome(old[0], "pod-b", store.DeliverySent, t0)}
		if _, err := s.RecordOutcomes(t.Context(), mixed); !errors.Is(err, store.ErrNotShardOwner) {
			t.Errorf("a batch with an outcome of another's shard: err = %v, want ErrNotShardOwner", err)
		}
		mustEqual(t, "rows after the refused outcomes", rowStates(deliveries(t, s, "r1")),
			[]string{"p1/day-1 pending 0 ", "p2/day-1 pending 0 ", "p3/day-1 pending 0 "})
		// Nobody owns a shard of a run no worker started.
		plan(t, s, deliveryRun("r2", 1), planned("p1", "day-1", 0))
		r2, _, err := s.DueDeliveries(t.Context(), store.DueQuery{Namespace: ns, Campaign: campaign, Run: "r2", Limit: 1, Now: t0})
		if err != nil || len(r2) != 1 {
			t.Fatalf("read r2: %v, %v", rowKeys(r2), err)
		}
		if _, err := s.RecordOutcomes(t.Context(), outcomes(r2, "w1", store.DeliverySent, t0)); !errors.Is(err, store.ErrNotShardOwner) {
			t.Errorf("an outcome of a shard nobody took: err = %v, want ErrNotShardOwner", err)
		}

		// The new worker reads the rows left pending and records them.
		again := due(t, s, "r1", "new", 0, 10, t0)
		if n := record(t, s, outcomes(again, "new", store.DeliverySent, t0.Add(time.Minute))...); n != 2 {
			t.Errorf("the new worker's outcomes applied to %d rows, want 2", n)
		}
		mustEqual(t, "rows after the new worker's outcomes", rowStates(deliveries(t, s, "r1"))[:2],
			[]string{"p1/day-1 sent 1 new", "p2/day-1 sent 1 new"})
		events := campaignEvents(t, s)
		if len(events) != 2 || !strings.HasPrefix(events[0], store.EventMessageSent) || !strings.HasPrefix(events[1], store.EventMessageSent) {
			t.Errorf("events = %q, want one message_sent per row", events)
		}
		for _, bad := range []struct {
			shard  int
			worker string
		}{{-1, "w"}, {0, ""}} {
			if _, err := s.TakeShard(t.Context(), ns, campaign, "r1", bad.shard, bad.worker); err == nil {
				t.Errorf("TakeShard(shard %d, worker %q) succeeded, want an error", bad.shard, bad.worker)
			}
		}
	}},
	{"the next delivery is the earliest pending or deferred row", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		if _, ok, err := s.NextDelivery(t.Context(), ns, campaign, "none"); err != nil || ok {
			t.Fatalf("NextDelivery of a run without rows = %v, %v; want none", ok, err)
		}
		later := planned("p2", "day-3", 0)
		later.NotBefore = t0.Add(48 * time.Hour)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), later)
		next := func(want time.Time) {
			t.Helper()
			got, ok, err := s.NextDelivery(t.Context(), ns, campaign, "r1")
			if err != nil || !ok || !got.Equal(want) {
				t.Fatalf("NextDelivery = %v, %v, %v; want %v", got, ok, err, want)
			}
		}
		next(t0.Add(-time.Hour)) // p1/day-1, due from the run's time
		rows := due(t, s, "r1", "w", 0, 1, t0)
		next(t0.Add(-time.Hour)) // read, not recorded: still due
		deferred := outcome(rows[0], "w", store.DeliveryDeferred, t0)
		deferred.NotBefore = t0.Add(9 * time.Hour)
		record(t, s, deferred)
		next(t0.Add(9 * time.Hour))
		rows = due(t, s, "r1", "w", 0, 1, t0.Add(9*time.Hour))
		record(t, s, outcome(rows[0], "w", store.DeliverySent, t0.Add(9*time.Hour)))
		next(t0.Add(48 * time.Hour))
		rows = due(t, s, "r1", "w", 0, 1, t0.Add(48*time.Hour))
		record(t, s, outcome(rows[0], "w", store.DeliverySent, t0.Add(48*time.Hour)))
		if _, ok, err := s.NextDelivery(t.Context(), ns, campaign, "r1"); err != nil || ok {
			t.Fatalf("NextDelivery after every row was sent = %v, %v; want none", ok, err)
		}
	}},
	{"deferred and retried rows are not due before their time", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), planned("p2", "day-1", 0), planned("p3", "day-1", 0))
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		quiet := outcome(ds[0], "w1", store.DeliveryDeferred, t0)
		quiet.NotBefore = t0.Add(10 * time.Hour)
		retry := outcome(ds[1], "w1", store.DeliveryPending, t0)
		retry.NotBefore, retry.Error, retry.Attempted = t0.Add(30*time.Second), "451 4.7.1 try again later", true
		// Not sent (the run stopped first): due at once, no attempt counted.
		now := outcome(ds[2], "w1", store.DeliveryPending, t0.Add(time.Second))
		if n := record(t, s, quiet, retry, now); n != 3 {
			t.Fatalf("applied %d outcomes, want 3", n)
		}
		after := deliveries(t, s, "r1")
		mustEqual(t, "rows", rowStates(after), []string{"p1/day-1 deferred 0 w1", "p2/day-1 pending 1 w1", "p3/day-1 pending 0 w1"})
		checkTime(t, "NotBefore of the deferred row", after[0].NotBefore, t0.Add(10*time.Hour))
		checkTime(t, "NotBefore of a row to retry without a time", after[2].NotBefore, t0.Add(time.Second))
		if after[1].Error != "451 4.7.1 try again later" {
			t.Errorf("Error = %q, want the retry's", after[1].Error)
		}
		mustEqual(t, "due at t0+1s", rowKeys(due(t, s, "r1", "w2", 0, 10, t0.Add(time.Second))), []string{"p3/day-1"})
		mustEqual(t, "due at t0+30s", rowKeys(due(t, s, "r1", "w2", 0, 10, t0.Add(30*time.Second))), []string{"p3/day-1", "p2/day-1"})
		// Deferred rows come first: they have waited longest.
		mustEqual(t, "due at the end of quiet hours", rowKeys(due(t, s, "r1", "w3", 0, 10, t0.Add(10*time.Hour))),
			[]string{"p1/day-1", "p3/day-1", "p2/day-1"})
		if c := deliveryCounts(t, s, "r1"); c.Deferred != 1 || c.Pending != 2 {
			t.Errorf("counts = %+v, want 1 deferred and 2 pending", c)
		}
		if events := campaignEvents(t, s); len(events) != 0 {
			t.Errorf("deferred and retried rows wrote events %q", events)
		}
	}},
	{"final outcomes write one event each, received when flushed, also when the batch is recorded again", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		rows := []store.PlannedDelivery{
			{ProfileID: "p1", Step: "day-1", Variant: "a", Purpose: "Marketing"},
			{ProfileID: "p2", Step: "day-1", Variant: "b", Purpose: "Marketing", Channel: "sms", ChannelType: "SMS",
				Address: "+819012345678"},
			{ProfileID: "p3", Step: "day-1", Purpose: "Marketing"},
			{ProfileID: "p4", Step: "day-1", Purpose: "Marketing"},
			{ProfileID: "p5", Step: "day-1", Purpose: "Marketing"},
		}
		plan(t, s, deliveryRun("r1", 1), rows...)
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		at := t0.Add(90 * time.Second).Add(123456789)
		sent := outcome(ds[0], "w1", store.DeliverySent, at)
		sent.Channel, sent.ChannelType, sent.Address = "line", "LINE", "U4af4980629"
		sent.MessageID, sent.ProviderMessageID = "m-p1", "provider-1"
		failed := outcome(ds[1], "w1", store.DeliveryFailed, at)
		failed.Error = strings.Repeat("550 5.1.1 no such user ", 100)
		suppressed := outcome(ds[2], "w1", store.DeliverySuppressed, at)
		suppressed.Channel, suppressed.ChannelType, suppressed.Address = "mail", "SMTP", "p3@example.co.jp"
		capped := outcome(ds[3], "w1", store.DeliveryCapped, at)
		capped.Channel, capped.ChannelType = "hook", "Webhook"
		deferred := outcome(ds[4], "w1", store.DeliveryDeferred, at)
		deferred.NotBefore = at.Add(time.Hour)
		batch := []store.Outcome{sent, failed, suppressed, capped, deferred}
		if n := record(t, s, batch...); n != 5 {
			t.Fatalf("applied %d outcomes, want 5", n)
		}
		when := at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
		props := func(variant, channel string) string {
			return fmt.Sprintf("{campaign=string:welcome channel=string:%s run=string:r1 step=string:day-1 variant=string:%s}", channel, variant)
		}
		want := []string{
			"message_capped ProfileID:p4 " + props("", "hook") + " " + when,
			"message_failed Phone:+819012345678 " + props("b", "sms") + " " + when,
			"message_sent LineUserID:U4af4980629 " + props("a", "line") + " " + when,
			"message_suppressed Email:p3@example.co.jp " + props("", "mail") + " " + when,
		}
		// The events wait for a flush, which moves each once and stamps it received then.
		if got := scanEvents(t, s, ns, store.CampaignEventSource); len(got) != 0 {
			t.Errorf("events before the flush = %v, want none", eventStrings(got))
		}
		before := time.Now()
		if n, err := s.FlushDeliveryEvents(t.Context()); err != nil || n != 4 {
			t.Fatalf("flush moved %d events, %v; want 4", n, err)
		}
		flushed := window{before, time.Now()}
		for _, e := range scanEvents(t, s, ns, store.CampaignEventSource) {
			flushed.check(t, "ReceivedAt of "+e.ID, e.ReceivedAt)
		}
		if n, err := s.FlushDeliveryEvents(t.Context()); err != nil || n != 0 {
			t.Errorf("a second flush moved %d events, %v; want none", n, err)
		}
		mustEqual(t, "events", campaignEvents(t, s), want)

		// Recorded again (a commit whose answer was lost), the batch applies nothing: the rows
		// changed since they were read, the deferred one too.
		if n := record(t, s, batch...); n != 0 {
			t.Errorf("the batch recorded again applied %d outcomes, want none", n)
		}
		mustEqual(t, "events after the batch was recorded again", campaignEvents(t, s), want)

		after := deliveries(t, s, "r1")
		mustEqual(t, "rows", rowStates(after), []string{"p1/day-1 sent 1 w1", "p2/day-1 failed 1 w1",
			"p3/day-1 suppressed 0 w1", "p4/day-1 capped 0 w1", "p5/day-1 deferred 0 w1"})
		p1 := after[0]
		if p1.Channel != "line" || p1.ChannelType != "LINE" || p1.Address != "U4af4980629" || p1.MessageID != "m-p1" ||
			p1.ProviderMessageID != "provider-1" {
			t.Errorf("sent row = %+v, want the outcome's channel and message IDs", p1)
		}
		checkTime(t, "SentAt", p1.SentAt, at)
		checkTime(t, "UpdatedAt", p1.UpdatedAt, at)
		if !after[1].SentAt.IsZero() || after[1].Channel != "sms" || len(after[1].Error) != store.MaxDeliveryErrorBytes ||
			!strings.HasPrefix(after[1].Error, "550 5.1.1") {
			t.Errorf("failed row = %+v, want its planned channel kept, no SentAt, and the error cut to %d bytes",
				after[1], store.MaxDeliveryErrorBytes)
		}

		// The same profile and step in another run is another message, with an event of its own.
		plan(t, s, deliveryRun("r2", 1), planned("p1", "day-1", 0))
		r2 := due(t, s, "r2", "w1", 0, 10, t0)
		if n := record(t, s, outcomes(r2, "w1", store.DeliverySent, at)...); n != 1 {
			t.Fatalf("applied %d outcomes of run r2, want 1", n)
		}
		if events := campaignEvents(t, s); len(events) != len(want)+1 {
			t.Errorf("events after a send of another run = %q, want %d", events, len(want)+1)
		}
	}},
	{"outcomes that cannot apply are refused, and none of their batch applies", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), planned("p2", "day-1", 0))
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		good := outcome(ds[0], "w1", store.DeliverySent, t0)
		for _, tc := range []struct {
			name string
			bad  store.Outcome
			want string
		}{
			{"holdout", outcome(ds[1], "w1", store.DeliveryHoldout, t0), "not an outcome"},
			{"sending", outcome(ds[1], "w1", store.DeliveryState("sending"), t0), "not an outcome"},
			{"a negative shard", store.Outcome{Namespace: ns, Campaign: campaign, Run: "r1", ProfileID: "p2",
				Step: "day-1", Worker: "w1", State: store.DeliverySent, Shard: -1}, "shard -1"},
			{"no worker", outcome(ds[1], "", store.DeliverySent, t0), "worker is empty"},
			{"an address with a NUL", store.Outcome{Namespace: ns, Campaign: campaign, Run: "r1", ProfileID: "p2",
				Step: "day-1", Worker: "w1", State: store.DeliverySent, Address: "a\x00b"}, "NUL"},
		} {
			_, err := s.RecordOutcomes(t.Context(), []store.Outcome{good, tc.bad})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want one that says %q", tc.name, err, tc.want)
			}
		}
		mustEqual(t, "rows", rowStates(deliveries(t, s, "r1")), []string{"p1/day-1 pending 0 ", "p2/day-1 pending 0 "})
		if n, err := s.RecordOutcomes(t.Context(), nil); n != 0 || err != nil {
			t.Errorf("RecordOutcomes(nil) = %d, %v; want 0, nil", n, err)
		}
	}},
	{"counts add up, and a run without rows counts zero", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		if c := deliveryCounts(t, s, "r1"); c != (store.DeliveryCounts{}) {
			t.Errorf("counts of a run never planned = %+v, want zero", c)
		}
		var rows []store.PlannedDelivery
		for i := range 9 {
			rows = append(rows, planned(fmt.Sprintf("p%d", i), "day-1", 0))
		}
		rows = append(rows, store.PlannedDelivery{ProfileID: "p9", Step: "day-1", State: store.DeliveryHoldout})
		plan(t, s, deliveryRun("r1", 1), rows...)
		ds := due(t, s, "r1", "w1", 0, 7, t0)
		states := []store.DeliveryState{store.DeliverySent, store.DeliverySent, store.DeliveryFailed,
			store.DeliverySuppressed, store.DeliveryCapped, store.DeliveryDeferred}
		var batch []store.Outcome
		for i, st := range states {
			o := outcome(ds[i], "w1", st, t0)
			o.NotBefore = t0.Add(time.Hour)
			batch = append(batch, o)
		}
		record(t, s, batch...)
		want := store.DeliveryCounts{Pending: 3, Sent: 2, Deferred: 1, Suppressed: 1, Capped: 1,
			Failed: 1, Holdout: 1, Total: 10}
		if c := deliveryCounts(t, s, "r1"); c != want {
			t.Errorf("counts = %+v, want %+v", c, want)
		}
	}},
	{"a run completes once nothing is left to send", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), planned("p2", "day-1", 0),
			store.PlannedDelivery{ProfileID: "p3", Step: "day-1", State: store.DeliveryHoldout})
		complete := func(at time.Time) store.DeliveryRun {
			t.Helper()
			r, err := s.CompleteDeliveryRun(t.Context(), ns, campaign, "r1", at)
			if err != nil {
				t.Fatalf("CompleteDeliveryRun: %v", err)
			}
			return r
		}
		if r := complete(t0); !r.CompletedAt.IsZero() {
			t.Errorf("a run with pending rows completed at %v", r.CompletedAt)
		}
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		record(t, s, outcome(ds[0], "w1", store.DeliverySent, t0))
		if r := complete(t0); !r.CompletedAt.IsZero() {
			t.Errorf("a run with a row still pending completed at %v", r.CompletedAt)
		}
		record(t, s, outcome(ds[1], "w1", store.DeliveryFailed, t0))
		checkTime(t, "CompletedAt", complete(t0.Add(time.Minute)).CompletedAt, t0.Add(time.Minute))
		checkTime(t, "CompletedAt after a second completion", complete(t0.Add(time.Hour)).CompletedAt, t0.Add(time.Minute))
		if _, err := s.CompleteDeliveryRun(t.Context(), ns, campaign, "r2", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CompleteDeliveryRun of a run never planned: err = %v, want ErrNotFound", err)
		}
	}},
	{"a takeover from another store while the owner records its outcomes: each row is recorded once, by one of them", func(t *testing.T, open func(t *testing.T) store.Store) {
		stores := []store.Store{open(t), open(t)}
		const n, batch = 3000, 50
		rows := func(yield func(store.PlannedDelivery) bool) {
			for i := range n {
				if !yield(planned(fmt.Sprintf("p%05d", i), "day-1", 0)) {
					return
				}
			}
		}
		if _, err := stores[0].PlanDeliveryRun(t.Context(), deliveryRun("r1", 1), rows); err != nil {
			t.Fatal(err)
		}
		// work reads the shard's due rows and records them sent, a batch at a time, until none is
		// left or its outcomes are refused; it returns how many applied and how many it read.
		work := func(s store.Store, worker string, started chan<- struct{}) (applied, read int, err error) {
			var cursor store.DueCursor
			for i := 0; ; i++ {
				if i == 5 && started != nil {
					close(started)
				}
				ds, next, err := s.DueDeliveries(t.Context(), store.DueQuery{Namespace: ns, Campaign: campaign, Run: "r1",
					Limit: batch, Now: t0, After: cursor})
				if err != nil || len(ds) == 0 {
					return applied, read, err
				}
				cursor, read = next, read+len(ds)
				got, err := s.RecordOutcomes(t.Context(), outcomes(ds, worker, store.DeliverySent, t0))
				if err != nil {
					return applied, read, err
				}
				applied += got
			}
		}
		takeOver := func(s store.Store, worker string) {
			if _, err := s.TakeShard(t.Context(), ns, campaign, "r1", 0, worker); err != nil {
				t.Error(err)
			}
		}
		takeOver(stores[0], "old")
		started := make(chan struct{})
		var oldApplied, newApplied, newRead int
		var oldErr, newErr error
		var wg sync.WaitGroup
		wg.Go(func() { oldApplied, _, oldErr = work(stores[0], "old", started) })
		wg.Go(func() {
			<-started
			takeOver(stores[1], "new")
			newApplied, newRead, newErr = work(stores[1], "new", nil)
		})
		wg.Wait()
		if oldErr != nil && !errors.Is(oldErr, store.ErrNotShardOwner) {
			t.Errorf("the old worker stopped with %v, want ErrNotShardOwner or nothing", oldErr)
		}
		if newErr != nil {
			t.Fatalf("the new worker: %v", newErr)
		}
		// The new worker read only rows no outcome of the old one applied to after the takeover.
		if newApplied != newRead {
			t.Errorf("the new worker read %d rows and %d of its outcomes applied: the old worker recorded some after the takeover",
				newRead, newApplied)
		}
		if oldApplied+newApplied != n {
			t.Errorf("outcomes applied: %d by the old worker, %d by the new; want %d in all", oldApplied, newApplied, n)
		}
		by := map[string]int{}
		for _, d := range deliveries(t, stores[1], "r1") {
			if d.State != store.DeliverySent || d.Attempts != 1 {
				t.Errorf("row %s/%s is %s after %d attempts, want sent once", d.ProfileID, d.Step, d.State, d.Attempts)
			}
			by[d.RecordedBy]++
		}
		if by["old"] != oldApplied || by["new"] != newApplied {
			t.Errorf("rows recorded by each worker = %v, want old %d and new %d", by, oldApplied, newApplied)
		}
		t.Logf("the old worker recorded %d rows, the new one %d", oldApplied, newApplied)
	}},
	{"recent sends are every sent row of the profiles since a time, across campaigns", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		since := t0.Add(-7 * 24 * time.Hour)
		type send struct {
			campaign, profile, channelType string
			state                          store.DeliveryState
			at                             time.Time
		}
		sends := []send{
			{"welcome", "p1", "SMTP", store.DeliverySent, since},
			{"welcome", "p2", "SMTP", store.DeliverySent, since.Add(-time.Microsecond)},
			{"winback", "p1", "LINE", store.DeliverySent, t0},
			{"winback", "p2", "SMTP", store.DeliveryFailed, t0},
			{"winback", "p3", "SMS", store.DeliverySent, t0},
			{"birthday", "p1", "SMTP", store.DeliverySent, since.Add(time.Hour)},
		}
		for i, sd := range sends {
			run := store.DeliveryRun{Namespace: ns, Campaign: sd.campaign, Run: fmt.Sprintf("r%d", i), Shards: 1,
				ScheduledAt: since.Add(-time.Hour)}
			purpose := "Marketing"
			if sd.campaign == "birthday" {
				purpose = "Transactional"
			}
			plan(t, s, run, store.PlannedDelivery{ProfileID: sd.profile, Step: "s", Purpose: purpose,
				ChannelType: sd.channelType, Address: sd.profile + "-address"})
			if _, err := s.TakeShard(t.Context(), ns, sd.campaign, run.Run, 0, "w1"); err != nil {
				t.Fatal(err)
			}
			ds, _, err := s.DueDeliveries(t.Context(), store.DueQuery{Namespace: ns, Campaign: sd.campaign, Run: run.Run,
				Limit: 1, Now: since})
			if err != nil || len(ds) != 1 {
				t.Fatalf("read %s: %v, %v", run.Run, rowKeys(ds), err)
			}
			record(t, s, outcome(ds[0], "w1", sd.state, sd.at))
		}
		got, err := s.RecentSends(t.Context(), ns, []string{"p2", "p1", "p4", "p1"}, since)
		if err != nil {
			t.Fatal(err)
		}
		render := func(m map[string][]store.Sent) []string {
			var out []string
			for p, ss := range m {
				for _, sd := range ss {
					out = append(out, fmt.Sprintf("%s %s %s %s %s", p, sd.Campaign, sd.ChannelType, sd.Purpose,
						sd.SentAt.Format(time.RFC3339Nano)))
				}
			}
			slices.Sort(out)
			return out
		}
		mustEqual(t, "recent sends", render(got), []string{
			"p1 birthday SMTP Transactional " + since.Add(time.Hour).Format(time.RFC3339Nano),
			"p1 welcome SMTP Marketing " + since.Format(time.RFC3339Nano),
			"p1 winback LINE Marketing " + t0.Format(time.RFC3339Nano),
		})
		if ss := got["p1"]; len(ss) == 3 && !slices.IsSortedFunc(ss, func(a, b store.Sent) int { return a.SentAt.Compare(b.SentAt) }) {
			t.Errorf("sends of p1 are not oldest first: %v", ss)
		}
		if _, ok := got["p2"]; ok {
			t.Errorf("p2, sent before the window and failed within it, has sends %v", got["p2"])
		}
		if other, err := s.RecentSends(t.Context(), "team-b", []string{"p1"}, since); err != nil || len(other) != 0 {
			t.Errorf("recent sends in another namespace = %v, %v; want none", other, err)
		}
		if none, err := s.RecentSends(t.Context(), ns, nil, since); err != nil || len(none) != 0 {
			t.Errorf("recent sends of no profile = %v, %v; want none", none, err)
		}
		many := []string{"p3"}
		for i := range 1200 {
			many = append(many, fmt.Sprintf("q%d", i))
		}
		if got, err := s.RecentSends(t.Context(), ns, many, since); err != nil || len(got["p3"]) != 1 || len(got) != 1 {
			t.Errorf("recent sends of 1,201 profiles = %v, %v; want p3's one", got, err)
		}
	}},
	{"a reserved send counts for every campaign's caps until its outcome, and only a sent one keeps counting", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		since := t0.Add(-7 * 24 * time.Hour)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), planned("p1", "day-2", 0),
			planned("p2", "day-1", 0), planned("p3", "day-1", 0))
		due(t, s, "r1", "w1", 0, 10, t0)
		// Each send of the batch sees the ones allowed before it: p1's second step sees its first.
		seen := map[string]int{}
		allowed, err := s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: campaign, Run: "r1", Worker: "w1",
			Since: since, At: t0, Sends: []store.ReservedSend{
				{ProfileID: "p1", Step: "day-1", ChannelType: "SMTP", Purpose: "Marketing"},
				{ProfileID: "p1", Step: "day-2", ChannelType: "SMTP", Purpose: "Marketing"},
				{ProfileID: "p2", Step: "day-1", ChannelType: "SMTP", Purpose: "Marketing"},
				{ProfileID: "p3", Step: "day-1", ChannelType: "SMTP", Purpose: "Marketing"},
			},
			Allow: func(i int, sends []store.Sent) bool {
				seen[fmt.Sprint(i)] = len(sends)
				return i != 3 // p3's send is held back
			}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{true, true, true, false}; !slices.Equal(allowed, want) {
			t.Errorf("allowed = %v, want %v", allowed, want)
		}
		if want := map[string]int{"0": 0, "1": 1, "2": 0, "3": 0}; fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("sends each decision saw = %v, want %v", seen, want)
		}
		recent := func() string {
			t.Helper()
			got, err := s.RecentSends(t.Context(), ns, []string{"p1", "p2", "p3", "p4"}, since)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for p, ss := range got {
				for _, sd := range ss {
					out = append(out, fmt.Sprintf("%s %s %s", p, sd.Campaign, sd.SentAt.Sub(t0)))
				}
			}
			slices.Sort(out)
			return strings.Join(out, ", ")
		}
		if got, want := recent(), "p1 welcome 0s, p1 welcome 0s, p2 welcome 0s"; got != want {
			t.Errorf("recent sends after the reservation = %q, want %q", got, want)
		}

		// Another campaign's worker sees them before any outcome is recorded.
		other := store.DeliveryRun{Namespace: ns, Campaign: "winback", Run: "r1", Shards: 1, ScheduledAt: t0.Add(-time.Hour)}
		plan(t, s, other, planned("p1", "s", 0), planned("p2", "s", 0), planned("p3", "s", 0))
		if _, err := s.TakeShard(t.Context(), ns, "winback", "r1", 0, "w2"); err != nil {
			t.Fatal(err)
		}
		counted := map[int]int{}
		_, err = s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: "winback", Run: "r1", Worker: "w2",
			Since: since, At: t0, Sends: []store.ReservedSend{
				{ProfileID: "p1", Step: "s", ChannelType: "LINE", Purpose: "Marketing"},
				{ProfileID: "p2", Step: "s", ChannelType: "LINE", Purpose: "Marketing"},
				{ProfileID: "p3", Step: "s", ChannelType: "LINE", Purpose: "Marketing"},
			},
			Allow: func(i int, sends []store.Sent) bool { counted[i] = len(sends); return false }})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]int{0: 2, 1: 1, 2: 0}; fmt.Sprint(counted) != fmt.Sprint(want) {
			t.Errorf("winback counted %v sends per profile, want %v", counted, want)
		}

		// The outcomes settle the reservations: sent counts from its own time, the rest no more.
		ds := deliveries(t, s, "r1")
		at := t0.Add(time.Minute)
		record(t, s, outcome(ds[0], "w1", store.DeliverySent, at), outcome(ds[1], "w1", store.DeliveryPending, at),
			outcome(ds[2], "w1", store.DeliveryFailed, at))
		if got, want := recent(), "p1 welcome 1m0s"; got != want {
			t.Errorf("recent sends after the outcomes = %q, want %q", got, want)
		}

		// A row whose worker died keeps its reservation, since it may have gone, until another
		// worker takes its shard over; then it counts no more.
		plan(t, s, deliveryRun("r2", 1), planned("p4", "day-1", 0))
		due(t, s, "r2", "w1", 0, 1, t0)
		if _, err := s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: campaign, Run: "r2", Worker: "w1",
			Since: since, At: t0, Sends: []store.ReservedSend{{ProfileID: "p4", Step: "day-1", ChannelType: "SMTP", Purpose: "Marketing"}},
			Allow: func(int, []store.Sent) bool { return true }}); err != nil {
			t.Fatal(err)
		}
		if got := recent(); !strings.Contains(got, "p4 welcome 0s") {
			t.Errorf("recent sends with a reservation of a live worker = %q, want p4's", got)
		}
		if got := due(t, s, "r2", "w3", 0, 1, t0.Add(2*time.Minute)); len(got) != 1 {
			t.Fatalf("w3 read %d rows, want 1", len(got))
		}
		if got := recent(); strings.Contains(got, "p4") {
			t.Errorf("recent sends after the shard was taken over = %q, want none of p4", got)
		}
		// A row no longer to send is not reserved.
		record(t, s, outcome(deliveries(t, s, "r2")[0], "w3", store.DeliveryFailed, t0.Add(2*time.Minute)))
		if got, err := s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: campaign, Run: "r2", Worker: "w3",
			Since: since, At: t0, Sends: []store.ReservedSend{{ProfileID: "p4", Step: "day-1", ChannelType: "SMTP", Purpose: "Marketing"}},
			Allow: func(int, []store.Sent) bool { return true }}); err != nil || !slices.Equal(got, []bool{false}) {
			t.Errorf("reservation of a failed row = %v, %v; want [false]", got, err)
		}
		if got := recent(); strings.Contains(got, "p4") {
			t.Errorf("recent sends after a reservation of a failed row = %q, want none of p4", got)
		}
		if _, err := s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: campaign, Run: "r2", Worker: "w1",
			Sends: []store.ReservedSend{{ProfileID: "p4", Step: "day-1"}}}); err == nil {
			t.Error("a reservation without Allow was accepted")
		}
	}},
	{"reservations of many workers at once give a cap's last place to one campaign per profile", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		const workers, profiles, rounds = 6, 40, 4
		var rows []store.PlannedDelivery
		for p := range profiles {
			rows = append(rows, planned(fmt.Sprintf("p%02d", p), "s", 0))
		}
		// Each round a new set of profiles, so that every round races afresh.
		for round := range rounds {
			var sends []store.ReservedSend
			for p := range profiles {
				id := fmt.Sprintf("round%d-p%02d", round, p)
				rows[p].ProfileID = id
				sends = append(sends, store.ReservedSend{ProfileID: id, Step: "s", ChannelType: "SMTP", Purpose: "Marketing"})
			}
			run := fmt.Sprintf("r%d", round)
			for w := range workers {
				camp := fmt.Sprintf("c%d", w)
				plan(t, s, store.DeliveryRun{Namespace: ns, Campaign: camp, Run: run, Shards: 1, ScheduledAt: t0.Add(-time.Hour)}, rows...)
				if _, err := s.TakeShard(t.Context(), ns, camp, run, 0, "w-"+camp); err != nil {
					t.Fatal(err)
				}
			}
			// At most one message per profile: each worker allows a send only to a profile with none.
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([][]bool, workers)
			errs := make([]error, workers)
			for w := range workers {
				wg.Go(func() {
					camp := fmt.Sprintf("c%d", w)
					<-start
					results[w], errs[w] = s.ReserveSends(t.Context(), store.Reservation{Namespace: ns, Campaign: camp, Run: run,
						Worker: "w-" + camp, Since: t0.Add(-time.Hour), At: t0, Sends: sends,
						Allow: func(_ int, sent []store.Sent) bool { return len(sent) == 0 }})
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			for p, send := range sends {
				n := 0
				for w := range workers {
					if results[w][p] {
						n++
					}
				}
				if n != 1 {
					t.Errorf("profile %s was allowed %d sends, want exactly 1", send.ProfileID, n)
				}
			}
		}
	}},
	{"a campaign's counts add the kept counts of its completed runs to the ledger of the open ones", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), planned("p2", "day-1", 0), planned("p3", "day-1", 0))
		holdout := planned("p6", "day-1", 0)
		holdout.State = store.DeliveryHoldout
		plan(t, s, deliveryRun("r2", 1), planned("p4", "day-1", 0), planned("p5", "day-1", 0), holdout)
		plan(t, s, store.DeliveryRun{Namespace: ns, Campaign: "other", Run: "r1", Shards: 1}, planned("p1", "day-1", 0))
		plan(t, s, store.DeliveryRun{Namespace: "team-b", Campaign: campaign, Run: "r1", Shards: 1}, planned("p1", "day-1", 0))
		r1 := due(t, s, "r1", "w1", 0, 10, t0)
		record(t, s, outcome(r1[0], "w1", store.DeliverySent, t0), outcome(r1[1], "w1", store.DeliveryFailed, t0),
			outcome(r1[2], "w1", store.DeliverySent, t0))
		if run, err := s.CompleteDeliveryRun(t.Context(), ns, campaign, "r1", t0); err != nil || run.CompletedAt.IsZero() {
			t.Fatalf("complete r1: %+v, %v", run, err)
		}
		// A completed run counts from its kept counts, the same.
		if got, want := deliveryCounts(t, s, "r1"), (store.DeliveryCounts{Sent: 2, Failed: 1, Total: 3}); got != want {
			t.Errorf("counts of the completed run = %+v, want %+v", got, want)
		}
		r2 := due(t, s, "r2", "w1", 0, 10, t0)
		if len(r2) != 2 {
			t.Fatalf("claimed %v of r2, want p4 and p5", rowKeys(r2))
		}
		record(t, s, outcome(r2[0], "w1", store.DeliverySent, t0))
		// r2 is not complete: p5 is still being sent.
		if run, err := s.CompleteDeliveryRun(t.Context(), ns, campaign, "r2", t0); err != nil || !run.CompletedAt.IsZero() {
			t.Fatalf("complete r2 while p5 is pending: %+v, %v", run, err)
		}
		want := store.DeliveryCounts{Pending: 1, Sent: 3, Failed: 1, Holdout: 1, Total: 6}
		if got, err := s.CampaignDeliveryCounts(t.Context(), ns, campaign); err != nil || got != want {
			t.Errorf("campaign counts = %+v, %v; want %+v", got, err, want)
		}
		// Completing r2 moves its counts from the ledger to the kept counts: the sum stays.
		record(t, s, outcome(r2[1], "w1", store.DeliveryCapped, t0))
		if run, err := s.CompleteDeliveryRun(t.Context(), ns, campaign, "r2", t0); err != nil || run.CompletedAt.IsZero() {
			t.Fatalf("complete r2: %+v, %v", run, err)
		}
		if _, err := s.CompleteDeliveryRun(t.Context(), ns, campaign, "r2", t0.Add(time.Hour)); err != nil {
			t.Fatalf("complete r2 again: %v", err)
		}
		want = store.DeliveryCounts{Sent: 3, Failed: 1, Capped: 1, Holdout: 1, Total: 6}
		if got, err := s.CampaignDeliveryCounts(t.Context(), ns, campaign); err != nil || got != want {
			t.Errorf("campaign counts once both runs completed = %+v, %v; want %+v", got, err, want)
		}
		if got, err := s.CampaignDeliveryCounts(t.Context(), ns, "never-ran"); err != nil || got != (store.DeliveryCounts{}) {
			t.Errorf("counts of a campaign without runs = %+v, %v; want zero", got, err)
		}
		if err := s.DeleteCampaign(t.Context(), ns, campaign); err != nil {
			t.Fatal(err)
		}
		if got, err := s.CampaignDeliveryCounts(t.Context(), ns, campaign); err != nil || got != (store.DeliveryCounts{}) {
			t.Errorf("counts of a deleted campaign = %+v, %v; want zero", got, err)
		}
	}},
	{"reached profiles are those of the campaign's other runs since a time, but the suppressed, capped and failed", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		day := 24 * time.Hour
		early := store.DeliveryRun{Namespace: ns, Campaign: campaign, Run: "r1", Shards: 1, ScheduledAt: t0.Add(-10 * day)}
		holdout := planned("p7", "day-1", 0)
		holdout.State = store.DeliveryHoldout
		later := planned("p9", "day-1", 0)
		later.NotBefore = t0.Add(time.Hour)
		plan(t, s, early, planned("p1", "day-1", 0), planned("p2", "day-1", 0), planned("p3", "day-1", 0),
			planned("p4", "day-1", 0), holdout, later)
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		states := map[string]store.DeliveryState{"p1": store.DeliverySent, "p2": store.DeliveryFailed,
			"p3": store.DeliverySuppressed, "p4": store.DeliveryCapped}
		for _, d := range ds {
			record(t, s, outcome(d, "w1", states[d.ProfileID], t0))
		}
		plan(t, s, deliveryRun("r2", 1), planned("p5", "day-1", 0))
		plan(t, s, store.DeliveryRun{Namespace: ns, Campaign: "other", Run: "r1", Shards: 1}, planned("p6", "day-1", 0))
		ids := []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"}
		reached := func(except string, after time.Time) []string {
			t.Helper()
			got, err := s.ReachedProfiles(t.Context(), ns, campaign, except, after, ids)
			if err != nil {
				t.Fatal(err)
			}
			return slices.Sorted(maps.Keys(got))
		}
		// Sent, held out, or still to send (p9, due in an hour) is reached.
		mustEqual(t, "reached by every other run", reached("r3", time.Time{}), []string{"p1", "p5", "p7", "p9"})
		mustEqual(t, "reached by runs of the last five days", reached("r3", t0.Add(-5*day)), []string{"p5"})
		mustEqual(t, "reached by runs but r2", reached("r2", time.Time{}), []string{"p1", "p7", "p9"})
		if got, err := s.ReachedProfiles(t.Context(), "team-b", campaign, "r3", time.Time{}, ids); err != nil || len(got) != 0 {
			t.Errorf("reached in another namespace = %v, %v; want none", got, err)
		}
	}},
	{"deleting a campaign removes its runs and rows, and nothing else", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0), planned("p2", "day-1", 0))
		plan(t, s, deliveryRun("r2", 1), planned("p1", "day-1", 0))
		plan(t, s, store.DeliveryRun{Namespace: ns, Campaign: "other", Run: "r1", Shards: 1}, planned("p1", "day-1", 0))
		plan(t, s, store.DeliveryRun{Namespace: "team-b", Campaign: campaign, Run: "r1", Shards: 1}, planned("p1", "day-1", 0))
		ds := due(t, s, "r1", "w1", 0, 10, t0)
		record(t, s, outcomes(ds, "w1", store.DeliverySent, t0)...)
		if err := s.Suppress(t.Context(), store.Suppression{Namespace: ns, ChannelType: "SMTP", Address: "p1@example.com",
			Reason: store.SuppressComplaint, Source: "campaign/" + campaign}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCampaign(t.Context(), ns, campaign); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.DeliveryRuns(t.Context(), ns, campaign, 0); err != nil || len(runs) != 0 {
			t.Errorf("runs after the deletion = %v, %v; want none", runs, err)
		}
		for _, run := range []string{"r1", "r2"} {
			if ds := deliveries(t, s, run); len(ds) != 0 {
				t.Errorf("rows of %s after the deletion: %v", run, rowKeys(ds))
			}
		}
		if ds, err := s.Deliveries(t.Context(), ns, "other", "r1", 0); err != nil || len(ds) != 1 {
			t.Errorf("rows of another campaign = %v, %v; want 1", rowKeys(ds), err)
		}
		if ds, err := s.Deliveries(t.Context(), "team-b", campaign, "r1", 0); err != nil || len(ds) != 1 {
			t.Errorf("rows of the campaign in another namespace = %v, %v; want 1", rowKeys(ds), err)
		}
		if events := campaignEvents(t, s); len(events) != 2 {
			t.Errorf("events after the deletion = %q, want the 2 sends", events)
		}
		if sup, err := s.Suppressed(t.Context(), ns, "SMTP", []string{"p1@example.com"}); err != nil || len(sup) != 1 {
			t.Errorf("suppressions after the deletion = %v, %v; want the complaint", sup, err)
		}
		// Its runs can be planned again.
		plan(t, s, deliveryRun("r1", 1), planned("p1", "day-1", 0))
		if err := s.DeleteCampaign(t.Context(), ns, "never-planned"); err != nil {
			t.Errorf("deleting a campaign the store does not hold: %v", err)
		}
	}},
}

var suppressionTests = []test{
	{"a suppression is upserted, keeps its first time, and is looked up by address", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		suppress := func(sup store.Suppression) {
			t.Helper()
			if err := s.Suppress(t.Context(), sup); err != nil {
				t.Fatalf("Suppress: %v", err)
			}
		}
		first := store.Suppression{Namespace: ns, ChannelType: "SMTP", Address: "a@example.com",
			Reason: store.SuppressHardBounce, Source: "campaign/welcome", CreatedAt: t0}
		suppress(first)
		suppress(store.Suppression{Namespace: ns, ChannelType: "SMTP", Address: "a@example.com",
			Reason: store.SuppressComplaint, Source: "campaign/winback", CreatedAt: t0.Add(time.Hour)})
		suppress(store.Suppression{Namespace: ns, ChannelType: "SMS", Address: "b@example.com", Reason: store.SuppressManual})
		suppress(store.Suppression{Namespace: "team-b", ChannelType: "SMTP", Address: "b@example.com", Reason: store.SuppressManual})
		got, err := s.Suppressed(t.Context(), ns, "SMTP", []string{"b@example.com", "a@example.com", "c@example.com", "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Suppression{Namespace: ns, ChannelType: "SMTP", Address: "a@example.com",
			Reason: store.SuppressComplaint, Source: "campaign/winback", CreatedAt: t0}
		if len(got) != 1 || got["a@example.com"] != want {
			t.Errorf("Suppressed = %+v, want only %+v", got, want)
		}
		if err := s.Unsuppress(t.Context(), ns, "SMTP", "a@example.com"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Suppressed(t.Context(), ns, "SMTP", []string{"a@example.com"}); err != nil || len(got) != 0 {
			t.Errorf("Suppressed after Unsuppress = %v, %v; want none", got, err)
		}
		if err := s.Unsuppress(t.Context(), ns, "SMTP", "a@example.com"); err != nil {
			t.Errorf("Unsuppress of an address not suppressed: %v", err)
		}
		if got, err := s.Suppressed(t.Context(), ns, "SMS", []string{"b@example.com"}); err != nil || len(got) != 1 {
			t.Errorf("Suppressed of another channel type = %v, %v; want b@example.com", got, err)
		}
		err = s.Suppress(t.Context(), store.Suppression{Namespace: ns, ChannelType: "SMTP", Address: "d@example.com", Reason: "bored"})
		if err == nil || !strings.Contains(err.Error(), "hard-bounce") || strings.Contains(err.Error(), "d@example.com") {
			t.Errorf("Suppress with an unknown reason: err = %v, want one that lists the reasons and leaves the address out", err)
		}
	}},
	{"suppressions are looked up in batches", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		var lookup []string
		for i := range 1300 {
			address := fmt.Sprintf("u%04d@example.com", i)
			lookup = append(lookup, address)
			if i%4 == 0 {
				if err := s.Suppress(t.Context(), store.Suppression{Namespace: ns, ChannelType: "SMTP", Address: address,
					Reason: store.SuppressUnsubscribe, Source: "unsubscribe"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := s.Suppressed(t.Context(), ns, "SMTP", lookup)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 325 || got["u1296@example.com"].Reason != store.SuppressUnsubscribe {
			t.Errorf("Suppressed found %d addresses, want 325 including u1296@example.com", len(got))
		}
	}},
}

var consentTests = []test{
	{"the consent recorded last wins, an older one is ignored, and a refusal wins a tie", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		consent := func(profile, channelType, purpose string, granted bool, at time.Time, source string) {
			t.Helper()
			if err := s.RecordConsent(t.Context(), store.Consent{Namespace: ns, ProfileID: profile, ChannelType: channelType,
				Purpose: purpose, Granted: granted, RecordedAt: at, Source: source}); err != nil {
				t.Fatalf("RecordConsent: %v", err)
			}
		}
		consent("p1", "SMTP", "Marketing", true, t0, "crm")
		consent("p1", "SMTP", "Marketing", false, t0.Add(-time.Minute), "late-import")
		consent("p1", "LINE", "Marketing", false, t0, "unsubscribe")
		consent("p1", "LINE", "Marketing", true, t0.Add(time.Hour), "line-follow")
		consent("p1", "LINE", "Transactional", true, t0, "crm")
		consent("p2", "SMTP", "Marketing", false, t0, "unsubscribe")
		consent("p2", "SMTP", "Marketing", true, t0, "crm")
		consent("p3", "SMTP", "Marketing", true, t0, "crm")
		consent("p3", "SMTP", "Marketing", false, t0, "unsubscribe")
		consent("p9", "SMTP", "Marketing", true, t0, "crm")
		if err := s.RecordConsent(t.Context(), store.Consent{Namespace: "team-b", ProfileID: "p1", ChannelType: "SMTP",
			Purpose: "Marketing", Source: "crm"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Consents(t.Context(), ns, []string{"p1", "p2", "p3", "p4"})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, p := range []string{"p1", "p2", "p3", "p4"} {
			for _, c := range got[p] {
				if c.Namespace != ns || c.ProfileID != p {
					t.Errorf("consent %+v of %s names another profile", c, p)
				}
				lines = append(lines, fmt.Sprintf("%s %s %s %t %s %s", p, c.ChannelType, c.Purpose, c.Granted,
					c.RecordedAt.Format(time.RFC3339), c.Source))
			}
		}
		ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
		mustEqual(t, "consents", lines, []string{
			"p1 LINE Marketing true " + ts(time.Hour) + " line-follow",
			"p1 LINE Transactional true " + ts(0) + " crm",
			"p1 SMTP Marketing true " + ts(0) + " crm",
			// Of two consents recorded at the same time, the refusal wins, whichever is written last.
			"p2 SMTP Marketing false " + ts(0) + " unsubscribe",
			"p3 SMTP Marketing false " + ts(0) + " unsubscribe",
		})
		if len(got) != 3 {
			t.Errorf("Consents returned %d profiles, want p1, p2 and p3", len(got))
		}
		if err := s.RecordConsent(t.Context(), store.Consent{Namespace: ns, ProfileID: "p1", Purpose: "Marketing"}); err == nil ||
			!strings.Contains(err.Error(), "channel type is empty") {
			t.Errorf("RecordConsent without a channel type: err = %v, want one that says so", err)
		}
	}},
}

var rateLimitTests = []test{
	{"a bucket starts full, refills at its rate, and says how long to wait", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		take := func(channel string, want int, at time.Duration) string {
			t.Helper()
			granted, wait, err := s.TakeTokens(t.Context(), store.TokenRequest{Namespace: ns, Channel: channel, Rate: 2,
				Burst: 10, Want: want, Now: t0.Add(at)})
			if err != nil {
				t.Fatalf("TakeTokens: %v", err)
			}
			return fmt.Sprintf("%d %s", granted, wait)
		}
		for _, step := range []struct {
			channel string
			want    int
			at      time.Duration
			got     string
		}{
			{"mail", 4, 0, "4 0s"},
			{"mail", 10, 0, "6 0s"},
			{"mail", 1, 0, "0 500ms"},
			{"mail", 1, 250 * time.Millisecond, "0 250ms"},
			{"mail", 3, 500 * time.Millisecond, "1 0s"},
			// A caller whose clock is behind gets nothing refilled.
			{"mail", 1, 400 * time.Millisecond, "0 500ms"},
			{"mail", 50, 100 * time.Second, "10 0s"},
			{"sms", 3, 0, "3 0s"},
		} {
			if got := take(step.channel, step.want, step.at); got != step.got {
				t.Errorf("take %d of %s at t0+%s = %s, want %s", step.want, step.channel, step.at, got, step.got)
			}
		}
		for _, bad := range []store.TokenRequest{
			{Namespace: ns, Channel: "mail", Rate: 0, Burst: 1, Want: 1},
			{Namespace: ns, Channel: "mail", Rate: 1, Burst: 0, Want: 1},
			{Namespace: ns, Channel: "mail", Rate: 1, Burst: 1, Want: 0},
			{Namespace: ns, Rate: 1, Burst: 1, Want: 1},
		} {
			if _, _, err := s.TakeTokens(t.Context(), bad); err == nil {
				t.Errorf("TakeTokens(%+v) succeeded, want an error", bad)
			}
		}
	}},
	{"concurrent callers on several stores never get more than the bucket allows", func(t *testing.T, open func(t *testing.T) store.Store) {
		stores := []store.Store{open(t), open(t), open(t)}
		const (
			rate, burst = 50.0, 5
			callers     = 6
			calls       = 40
			tick        = 10 * time.Millisecond
		)
		// Each call's time is the next tick of a clock the callers share, as processes read one
		// wall clock; the store sees the calls in whatever order they arrive.
		var ticks, total atomic.Int64
		var wg sync.WaitGroup
		for c := range callers {
			s := stores[c%len(stores)]
			wg.Go(func() {
				for range calls {
					now := t0.Add(time.Duration(ticks.Add(1)) * tick)
					granted, _, err := s.TakeTokens(t.Context(), store.TokenRequest{Namespace: ns, Channel: "mail",
						Rate: rate, Burst: burst, Want: 3, Now: now})
					if err != nil {
						t.Errorf("TakeTokens: %v", err)
						return
					}
					total.Add(int64(granted))
				}
			})
		}
		wg.Wait()
		elapsed := time.Duration(callers*calls-1) * tick
		allowed := int64(burst + rate*elapsed.Seconds())
		if got := total.Load(); got > allowed || got <= burst {
			t.Errorf("the callers were granted %d tokens in %s; want more than the burst of %d and at most %d", got, elapsed, burst, allowed)
		}
	}},
}
