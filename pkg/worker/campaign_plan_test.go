package worker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestProfilesEntered asks whether anyone entered a campaign's segments after a time. Segment
// first let a in at 1 minute and b at 2, then changed nothing in eight evaluations, more than
// one page of them; segment second let z in at 20 minutes.
func TestProfilesEntered(t *testing.T) {
	minute := func(n int) time.Time { return campaignNow.Add(time.Duration(n) * time.Minute) }
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			clock := clocktesting.NewFakePassiveClock(campaignNow)
			st := openTestStore(t, backend, store.WithClock(clock))
			evaluate := func(segment string, at time.Time, members ...string) {
				t.Helper()
				evaluateMembers(t, st, clock, segment, at, members...)
			}
			evaluate("first", minute(1), "a")
			for n := 2; n <= 10; n++ {
				evaluate("first", minute(n), "a", "b")
			}
			evaluate("second", minute(20), "z")

			for _, tc := range []struct {
				name    string
				include []string
				after   time.Time
				want    bool
			}{
				{"an entry nine evaluations back", []string{"first"}, campaignNow, true},
				{"an entry after, in the middle of a minute", []string{"first"}, minute(1).Add(30 * time.Second), true},
				{"the last entry finished at the time, not after it", []string{"first"}, minute(2), false},
				{"nothing since the latest evaluation", []string{"first"}, minute(10), false},
				{"an entry in the second included segment", []string{"first", "second"}, minute(10), true},
				{"nothing in either", []string{"first", "second"}, minute(20), false},
				{"a segment never evaluated", []string{"unknown"}, campaignNow, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					camp := &cdpv1alpha1.Campaign{}
					camp.Namespace = "shop"
					for _, name := range tc.include {
						camp.Spec.Audience.Include = append(camp.Spec.Audience.Include, cdpv1alpha1.LocalObjectReference{Name: name})
					}
					got, err := ProfilesEntered(t.Context(), st, camp, tc.after)
					if err != nil || got != tc.want {
						t.Errorf("ProfilesEntered(%v, after %v) = %v, %v; want %v", tc.include, tc.after, got, err, tc.want)
					}
				})
			}
		})
	}
}

// The window of the next run starts at the latest run the store planned, not at the latest Job:
// a run whose Job failed before planning leaves its window to the next one.
func TestWindowStart(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			st := openTestStore(t, backend)
			camp := &cdpv1alpha1.Campaign{}
			camp.Namespace, camp.Name = "shop", "welcome"
			created := campaignNow.Add(-time.Hour)
			start := func() time.Time {
				t.Helper()
				got, err := WindowStart(t.Context(), st, camp, created)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := start(); !got.Equal(created) {
				t.Errorf("with no run planned, the window starts at %v, want the creation %v", got, created)
			}
			for i, at := range []time.Time{created.Add(15 * time.Minute), created.Add(30 * time.Minute)} {
				if _, err := st.PlanDeliveryRun(t.Context(), store.DeliveryRun{Namespace: "shop", Campaign: "welcome",
					Run: fmt.Sprintf("r%d", i), Trigger: TriggerSegmentEntry, ScheduledAt: at, Shards: 1}, slices.Values([]store.PlannedDelivery(nil))); err != nil {
					t.Fatal(err)
				}
			}
			// A third run, due at 45 minutes, failed before it planned: the store knows nothing of it.
			if got, want := start(), created.Add(30*time.Minute); !got.Equal(want) {
				t.Errorf("the window starts at %v, want the latest planned run's time %v", got, want)
			}
		})
	}
}

// A segment-entry run plans the profiles that entered an included segment after the previous
// run and are still members, reading only the evaluations since: entries before the window, and
// those who entered and left, are not planned.
func TestSegmentEntryRunPlansWhoEnteredSince(t *testing.T) {
	minute := func(n int) time.Time { return campaignNow.Add(time.Duration(n) * time.Minute) }
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			clock := clocktesting.NewFakePassiveClock(campaignNow)
			st := openTestStore(t, backend, store.WithClock(clock))
			evaluations := [][]string{{"a"}, {"a", "b"}, {"a", "b", "c"}, {"a", "c"}, {"a", "c", "d"}, {"a", "c", "d", "e"}, {"a", "c", "d"}}
			for n, members := range evaluations {
				evaluateMembers(t, st, clock, "new-members", minute(n+1), members...)
			}
			for i, tc := range []struct {
				after time.Time
				want  []string
			}{
				{time.Time{}, []string{"a", "c", "d"}},
				{minute(2), []string{"c", "d"}},
				{minute(3).Add(30 * time.Second), []string{"d"}},
				{minute(7), nil},
			} {
				camp := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{
					Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "new-members"}}},
					Trigger:  cdpv1alpha1.CampaignTrigger{SegmentEntry: &cdpv1alpha1.SegmentEntryTrigger{}},
					Steps:    []cdpv1alpha1.CampaignStep{{Name: "welcome"}},
				}}
				camp.Name, camp.Namespace = fmt.Sprintf("welcome-%d", i), "shop"
				run := CampaignRun{Namespace: "shop", Campaign: camp.Name, Run: "r1", Trigger: TriggerSegmentEntry,
					ScheduledAt: minute(8), EnteredAfter: tc.after, Shards: 1}
				if _, err := PlanCampaignRun(t.Context(), st, &CampaignPayload{Campaign: camp, Run: run}); err != nil {
					t.Fatal(err)
				}
				rows, err := st.Deliveries(t.Context(), "shop", camp.Name, "r1", 0)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range rows {
					got = append(got, r.ProfileID)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("entered after %v: planned %v, want %v", tc.after, got, tc.want)
				}
			}
		})
	}
}

// evaluateMembers records an evaluation of a segment of namespace shop, finished at at by clock,
// whose members are exactly members.
func evaluateMembers(t *testing.T, st store.Store, clock *clocktesting.FakePassiveClock, segment string, at time.Time, members ...string) {
	t.Helper()
	clock.SetTime(at)
	selects := make([]string, len(members))
	for i, m := range members {
		selects[i] = "SELECT '" + m + "'"
	}
	if _, err := st.EvaluateSegment(t.Context(), store.SegmentEvaluation{
		Namespace: "shop", Segment: segment, Resolution: "customers", ResolutionGeneration: 1,
		Query: strings.Join(selects, " UNION ALL "),
	}); err != nil {
		t.Fatal(err)
	}
}
