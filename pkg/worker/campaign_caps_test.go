package worker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestFrequencyCapHoldsAcrossCampaignsRunningAtOnce runs two campaigns over the same audience at
// the same moment under a cap of one marketing message a week: each person gets exactly one
// message, from one campaign or the other, and the other campaign records the cap. The
// outcomes count under the policy's name, with the time of the last one, and a segment of the
// people who received each campaign has the people it sent to.
func TestFrequencyCapHoldsAcrossCampaignsRunningAtOnce(t *testing.T) {
	const n = 60
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			st := openTestStore(t, backend)
			publishCustomers(t, st, n)

			var mu sync.Mutex
			received := map[string]int{}
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body struct{ Profile string }
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Profile == "" {
					http.Error(w, "no profile in the payload", http.StatusBadRequest)
					return
				}
				mu.Lock()
				received[body.Profile]++
				mu.Unlock()
			}))
			defer hook.Close()
			ch := webhookChannel("crm", hook.URL)
			strict := &cdpv1alpha1.DeliveryPolicy{Spec: cdpv1alpha1.DeliveryPolicySpec{FrequencyCaps: []cdpv1alpha1.FrequencyCap{{
				Name: "weekly", MaxMessages: 1, Period: "7d",
			}}}}
			strict.Name, strict.Namespace = "strict", "shop"

			campaigns := []string{"spring", "autumn"}
			summaries := make([]DeliverySummary, len(campaigns))
			errs := make([]error, len(campaigns))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, name := range campaigns {
				payload := webhookPayload(name, ch)
				payload.Policy = strict
				if _, err := PlanCampaignRun(t.Context(), st, payload); err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					<-start
					summaries[i], errs[i] = DeliverRun(t.Context(), st, payload, webhookCredentials, DeliveryOptions{
						Worker: name + "-0", Now: func() time.Time { return campaignNow },
					})
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("campaign %s: %v", campaigns[i], err)
				}
			}

			for i := range n {
				if id := customerID(i); received[id] != 1 {
					t.Errorf("%s received %d messages, want exactly 1", id, received[id])
				}
			}
			var sent, capped int64
			for i, name := range campaigns {
				counts, err := st.DeliveryCounts(t.Context(), "shop", name, "r1")
				if err != nil {
					t.Fatal(err)
				}
				if counts.Sent != summaries[i].Sent || counts.Capped != summaries[i].Capped || counts.Sent+counts.Capped != n {
					t.Errorf("campaign %s: ledger %+v, worker %+v; want every row sent or capped", name, counts, summaries[i])
				}
				sent, capped = sent+counts.Sent, capped+counts.Capped
			}
			if sent != n || capped != n {
				t.Errorf("sent %d and capped %d over both campaigns, want %d each", sent, capped, n)
			}

			totals, err := st.DeliveryTotals(t.Context(), "shop")
			if err != nil {
				t.Fatal(err)
			}
			got := map[store.DeliveryState]store.DeliveryTotal{}
			for _, total := range totals {
				if total.Policy != "strict" || total.Channel != "crm" {
					t.Errorf("total %+v, want every outcome counted under channel crm and policy strict", total)
				}
				got[total.State] = total
			}
			for _, state := range []store.DeliveryState{store.DeliverySent, store.DeliveryCapped} {
				if got[state].Count != n || !got[state].Last.Equal(campaignNow) {
					t.Errorf("%s total = %+v, want %d, the last at %s", state, got[state], n, campaignNow)
				}
			}

			// The webhook's messages went to no address: their events reach the profiles by ID,
			// so a segment of "received spring" has exactly the people spring sent to.
			cfg, err := ResolveConfig(testResolution())
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range campaigns {
				seg := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
					ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
					Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{Event: &cdpv1alpha1.EventCondition{
						Type:  store.EventMessageSent,
						Where: []cdpv1alpha1.AttributeCondition{{Path: "campaign", Operator: cdpv1alpha1.OpEquals, Value: &name}},
					}}},
				}}
				seg.Name, seg.Namespace = "received-"+name, "shop"
				res, err := EvaluateSegment(t.Context(), st, seg, cfg, DeclaredFields(testResolution(), nil), SegmentOptions{Now: func() time.Time { return campaignNow.Add(time.Minute) }})
				if err != nil {
					t.Fatal(err)
				}
				if res.Size != summaries[i].Sent {
					t.Errorf("segment %s has %d members, want the %d profiles %s sent to", seg.Name, res.Size, summaries[i].Sent, name)
				}
			}
		})
	}
}
