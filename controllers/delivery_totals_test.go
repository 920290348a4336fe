package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestChannelsAndPoliciesCountTheNamespaceDeliveries records a campaign's outcomes in the ledger
// as its delivery Pods would. Once the Campaign's status shows them, the Channels of its steps
// count what each sent and failed to send and show when each last sent, and each DeliveryPolicy
// what its own caps and quiet hours held back through any channel. More outcomes move the counts
// on as soon as the Campaign's status changes again, well before the periodic refresh.
func TestChannelsAndPoliciesCountTheNamespaceDeliveries(t *testing.T) {
	ns := newNamespace(t)
	email, backup := smtpChannel(ns, "email"), smtpChannel(ns, "backup")
	defaultPolicy := &cdpv1alpha1.DeliveryPolicy{ObjectMeta: objectMeta(ns, cdpv1alpha1.DefaultDeliveryPolicyName)}
	transactional := &cdpv1alpha1.DeliveryPolicy{ObjectMeta: objectMeta(ns, "transactional")}
	// The campaign's segment does not exist, so it starts no Job: the test delivers in its place.
	camp := emailCampaign(ns, "welcome", "new-customers", "email")
	step := &camp.Spec.Steps[0]
	step.Messages = append(step.Messages, cdpv1alpha1.StepMessage{
		ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "backup"}, Template: step.Messages[0].Template,
	})
	create(t, email, backup, defaultPolicy, transactional, camp)
	eventuallyReady(t, email, metav1.ConditionFalse, cdpv1alpha1.ReasonSecretNotFound)
	eventuallyReady(t, backup, metav1.ConditionFalse, cdpv1alpha1.ReasonSecretNotFound)
	eventuallyReady(t, defaultPolicy, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	eventuallyReady(t, transactional, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonSegmentNotFound)

	// The Campaign controller copies the ledger's counts into status when it reconciles: every
	// few seconds while a delivery Job runs, and here when the spec changes.
	pokeCampaign := func(text string) {
		update(t, camp, func() { camp.Spec.Steps[0].Messages[0].Template.Text = text })
	}
	expectCampaignTotals := func(want cdpv1alpha1.DeliveryCounts) {
		t.Helper()
		NewWithT(t).Eventually(func(g Gomega) cdpv1alpha1.DeliveryCounts {
			g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(camp), camp)).To(Succeed())
			return camp.Status.Totals
		}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(want))
	}

	first := testClock.Now()
	deliverRun(t, ns, "welcome", "welcome-1", "default", first,
		delivered{"p1", "email", store.DeliverySent},
		delivered{"p2", "email", store.DeliverySent},
		delivered{"p3", "email", store.DeliveryFailed},
		delivered{"p4", "backup", store.DeliverySent},
		delivered{"p5", "email", store.DeliveryCapped},
		delivered{"p6", "email", store.DeliveryDeferred},
		delivered{"p7", "", store.DeliverySuppressed})
	pokeCampaign("ご登録ありがとうございます!")
	expectCampaignTotals(cdpv1alpha1.DeliveryCounts{Targeted: 7, Sent: 3, Failed: 1, Capped: 1, Deferred: 1, Suppressed: 1})
	expectDeliveryCounts(t, ns,
		map[string]channelCounts{"email": {sent: 2, failed: 1, last: first.Unix()}, "backup": {sent: 1, last: first.Unix()}},
		map[string]policyCounts{"default": {capped: 1, deferred: 1}, "transactional": {}})

	// An hour later the deferred message goes out, and a second run, under the other policy,
	// delivers through the backup channel two minutes after that.
	second := first.Add(time.Hour)
	recordOutcomes(t, ns, "welcome", "welcome-1", "default", second, delivered{"p6", "email", store.DeliverySent})
	deliverRun(t, ns, "welcome", "welcome-2", "transactional", second.Add(2*time.Minute),
		delivered{"p8", "backup", store.DeliverySent},
		delivered{"p9", "backup", store.DeliveryCapped},
		delivered{"p10", "backup", store.DeliveryDeferred},
		delivered{"p11", "backup", store.DeliveryFailed})
	pokeCampaign("ご登録ありがとうございます。")
	expectCampaignTotals(cdpv1alpha1.DeliveryCounts{Targeted: 11, Sent: 5, Failed: 2, Capped: 2, Deferred: 1, Suppressed: 1})
	expectDeliveryCounts(t, ns,
		map[string]channelCounts{"email": {sent: 3, failed: 1, last: second.Unix()}, "backup": {sent: 2, failed: 1, last: second.Add(2 * time.Minute).Unix()}},
		map[string]policyCounts{"default": {capped: 1, deferred: 1}, "transactional": {capped: 1, deferred: 1}})
	// status.recentRuns has both runs, newest first, each with its own counts.
	NewWithT(t).Eventually(func(g Gomega) []cdpv1alpha1.CampaignRunSummary {
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(camp), camp)).To(Succeed())
		return camp.Status.RecentRuns
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(And(
		HaveLen(2),
		HaveEach(HaveField("StartTime", Not(BeNil()))),
		WithTransform(func(runs []cdpv1alpha1.CampaignRunSummary) []string {
			return []string{runs[0].Name, runs[1].Name}
		}, Equal([]string{"welcome-2", "welcome-1"})),
		WithTransform(func(runs []cdpv1alpha1.CampaignRunSummary) []cdpv1alpha1.DeliveryCounts {
			return []cdpv1alpha1.DeliveryCounts{runs[0].Counts, runs[1].Counts}
		}, Equal([]cdpv1alpha1.DeliveryCounts{
			{Targeted: 4, Sent: 1, Capped: 1, Deferred: 1, Failed: 1},
			{Targeted: 7, Sent: 4, Failed: 1, Capped: 1, Suppressed: 1},
		})),
	))
}

// channelCounts are a Channel's counts, and its last send time in Unix seconds (0 for none).
type channelCounts struct{ sent, failed, last int64 }

func countsOfChannel(ch *cdpv1alpha1.Channel) channelCounts {
	c := channelCounts{sent: ch.Status.MessagesSent, failed: ch.Status.MessagesFailed}
	if ch.Status.LastSendTime != nil {
		c.last = ch.Status.LastSendTime.Unix()
	}
	return c
}

type policyCounts struct{ capped, deferred int64 }

// expectDeliveryCounts waits until the Channels and DeliveryPolicies of a namespace show counts.
func expectDeliveryCounts(t *testing.T, ns string, channels map[string]channelCounts, policies map[string]policyCounts) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		for name, want := range channels {
			var ch cdpv1alpha1.Channel
			g.Expect(k8sClient.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &ch)).To(Succeed())
			g.Expect(countsOfChannel(&ch)).To(Equal(want), "channel %s", name)
		}
		for name, want := range policies {
			var dp cdpv1alpha1.DeliveryPolicy
			g.Expect(k8sClient.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &dp)).To(Succeed())
			g.Expect(policyCounts{dp.Status.Capped, dp.Status.Deferred}).To(Equal(want), "delivery policy %s", name)
		}
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
}

// delivered is what became of one profile's message of step "welcome": its channel is empty
// when none could take it.
type delivered struct {
	profile, channel string
	state            store.DeliveryState
}

// deliverRun plans a run of step "welcome" of a campaign for the profiles of outcomes, and
// records their outcomes under a DeliveryPolicy, as the first delivery Pod of the run would.
func deliverRun(t *testing.T, ns, campaign, run, policy string, at time.Time, outcomes ...delivered) {
	t.Helper()
	rows := make([]store.PlannedDelivery, 0, len(outcomes))
	for _, o := range outcomes {
		rows = append(rows, store.PlannedDelivery{ProfileID: o.profile, Step: "welcome", Purpose: string(cdpv1alpha1.PurposeMarketing)})
	}
	_, err := testStore.PlanDeliveryRun(t.Context(), store.DeliveryRun{
		Namespace: ns, Campaign: campaign, Run: run, Trigger: "once", ScheduledAt: at, Shards: 1,
	}, slices.Values(rows))
	if err != nil {
		t.Fatalf("plan run %s: %v", run, err)
	}
	recordOutcomes(t, ns, campaign, run, policy, at, outcomes...)
}

// recordOutcomes reads the rows of a run that are due at a time, which must be those of
// outcomes, and records what became of them under a DeliveryPolicy. A deferred row is due
// again an hour later.
func recordOutcomes(t *testing.T, ns, campaign, run, policy string, at time.Time, outcomes ...delivered) {
	t.Helper()
	const worker = "welcome-pod-0"
	if _, err := testStore.TakeShard(t.Context(), ns, campaign, run, 0, worker); err != nil {
		t.Fatal(err)
	}
	claimed, _, err := testStore.DueDeliveries(t.Context(), store.DueQuery{
		Namespace: ns, Campaign: campaign, Run: run, Limit: 100, Now: at,
	})
	if err != nil {
		t.Fatalf("read the rows of run %s: %v", run, err)
	}
	byProfile := map[string]delivered{}
	for _, o := range outcomes {
		byProfile[o.profile] = o
	}
	if len(claimed) != len(outcomes) {
		t.Fatalf("claimed %d rows of run %s, want %d", len(claimed), run, len(outcomes))
	}
	recorded := make([]store.Outcome, 0, len(claimed))
	for _, row := range claimed {
		o, ok := byProfile[row.ProfileID]
		if !ok {
			t.Fatalf("read the row of %s, which the test does not deliver", row.ProfileID)
		}
		out := store.Outcome{Namespace: ns, Campaign: campaign, Run: run, ProfileID: row.ProfileID, Step: row.Step,
			Worker: worker, Policy: policy, State: o.state, At: at}
		if o.channel != "" {
			out.Channel, out.ChannelType, out.Address = o.channel, string(cdpv1alpha1.ChannelSMTP), row.ProfileID+"@example.co.jp"
		}
		if o.state == store.DeliveryDeferred {
			out.NotBefore = at.Add(time.Hour)
		}
		recorded = append(recorded, out)
	}
	if applied, err := testStore.RecordOutcomes(t.Context(), recorded); err != nil || applied != len(recorded) {
		t.Fatalf("record the outcomes of run %s: %d of %d applied, %v", run, applied, len(recorded), err)
	}
}

func TestSetDeliveryCounts(t *testing.T) {
	t1 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	totals := []store.DeliveryTotal{
		{Channel: "", Policy: "default", State: store.DeliverySuppressed, Count: 4},
		{Channel: "", Policy: "default", State: store.DeliveryCapped, Count: 1},
		{Channel: "backup", Policy: "default", State: store.DeliveryDeferred, Count: 1},
		{Channel: "backup", Policy: "default", State: store.DeliverySuppressed, Count: 9},
		{Channel: "email", Policy: "", State: store.DeliverySent, Count: 6},
		{Channel: "email", Policy: "default", State: store.DeliveryCapped, Count: 3},
		{Channel: "email", Policy: "default", State: store.DeliveryDeferred, Count: 7},
		{Channel: "email", Policy: "default", State: store.DeliveryFailed, Count: 2, Last: t2.Add(time.Hour)},
		{Channel: "email", Policy: "default", State: store.DeliverySent, Count: 5, Last: t2},
		{Channel: "email", Policy: "strict", State: store.DeliveryCapped, Count: 20},
		{Channel: "email", Policy: "strict", State: store.DeliverySent, Count: 1, Last: t1},
		{Channel: "email-jp", Policy: "default", State: store.DeliverySent, Count: 11},
	}
	channels := []struct {
		name string
		want channelCounts
	}{
		// Over every policy, and the counts from before policies were kept; the last send is
		// the latest sent, not the latest failure.
		{"email", channelCounts{sent: 12, failed: 2, last: t2.Unix()}},
		// No time kept: the one the status had stays.
		{"email-jp", channelCounts{sent: 11, last: 99}},
		{"backup", channelCounts{last: 99}},
		// The store counts nothing for it: counts from before are dropped.
		{"unused", channelCounts{last: 99}},
	}
	for _, tt := range channels {
		t.Run("channel "+tt.name, func(t *testing.T) {
			ch := &cdpv1alpha1.Channel{ObjectMeta: metav1.ObjectMeta{Name: tt.name}}
			ch.Status.MessagesSent, ch.Status.MessagesFailed = 100, 100
			ch.Status.LastSendTime = &metav1.Time{Time: time.Unix(99, 0)}
			setChannelCounts(ch, totals)
			if got := countsOfChannel(ch); got != tt.want {
				t.Errorf("counts = %+v, want %+v", got, tt.want)
			}
		})
	}

	for name, want := range map[string]policyCounts{"default": {capped: 4, deferred: 8}, "strict": {capped: 20}, "other": {}} {
		dp := &cdpv1alpha1.DeliveryPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
		dp.Status.Capped, dp.Status.Deferred = 100, 100
		setPolicyCounts(dp, totals)
		if got := (policyCounts{dp.Status.Capped, dp.Status.Deferred}); got != want {
			t.Errorf("policy %s counts = %+v, want %+v over every channel", name, got, want)
		}
	}
}

func TestRefreshTotals(t *testing.T) {
	ch := &cdpv1alpha1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "nothing-sent", Name: "email"}}
	ch.Status.MessagesSent = 7
	result, err := refreshTotals(context.Background(), nil, ch, setChannelCounts)
	if err != nil || result != (ctrl.Result{}) || ch.Status.MessagesSent != 7 {
		t.Errorf("without a store: result %+v, error %v, messagesSent %d; want no requeue and the count left alone",
			result, err, ch.Status.MessagesSent)
	}
	result, err = refreshTotals(context.Background(), testStore, ch, setChannelCounts)
	if err != nil || result != (ctrl.Result{RequeueAfter: totalsRefreshInterval}) || ch.Status.MessagesSent != 0 {
		t.Errorf("with a store: result %+v, error %v, messagesSent %d; want a requeue after %s and the store's count, 0",
			result, err, ch.Status.MessagesSent, totalsRefreshInterval)
	}
}

func TestOnlyCountsChanged(t *testing.T) {
	channel := func(change func(*cdpv1alpha1.Channel)) *cdpv1alpha1.Channel {
		ch := smtpChannel("shop", "email")
		ch.ResourceVersion, ch.Generation = "10", 1
		ch.Status.Conditions = []metav1.Condition{{Type: cdpv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: cdpv1alpha1.ReasonReady}}
		ch.Status.MessagesSent = 3
		if change != nil {
			change(ch)
		}
		return ch
	}
	policy := func(capped int64) *cdpv1alpha1.DeliveryPolicy {
		dp := &cdpv1alpha1.DeliveryPolicy{ObjectMeta: objectMeta("shop", "default")}
		dp.Status.Capped = capped
		return dp
	}
	tests := []struct {
		name     string
		old, new client.Object
		want     bool
	}{
		{"channel counts", channel(nil), channel(func(ch *cdpv1alpha1.Channel) {
			ch.ResourceVersion, ch.Status.MessagesSent, ch.Status.MessagesFailed = "11", 4, 1
		}), true},
		{"channel counts and last send", channel(nil), channel(func(ch *cdpv1alpha1.Channel) {
			ch.Status.MessagesSent, ch.Status.LastSendTime = 4, &metav1.Time{Time: time.Unix(99, 0)}
		}), true},
		{"policy counts", policy(1), policy(2), true},
		{"nothing", channel(nil), channel(nil), false},
		{"counts and Ready", channel(nil), channel(func(ch *cdpv1alpha1.Channel) {
			ch.Status.MessagesSent = 4
			ch.Status.Conditions[0].Status = metav1.ConditionFalse
		}), false},
		{"counts and spec", channel(nil), channel(func(ch *cdpv1alpha1.Channel) {
			ch.Status.MessagesSent = 4
			ch.Spec.SMTP.Host = "smtp2.example.co.jp"
		}), false},
		{"counts and labels", channel(nil), channel(func(ch *cdpv1alpha1.Channel) {
			ch.Status.MessagesSent = 4
			ch.Labels = map[string]string{"team": "crm"}
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onlyCountsChanged(tt.old, tt.new); got != tt.want {
				t.Errorf("onlyCountsChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
