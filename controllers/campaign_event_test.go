package controllers

import (
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// TestCampaignRunsOnEvents follows a campaign triggered by carts abandoned an hour before, with
// the injected clock: its where reads a property that only an Events DataSource declares; a
// run due while that source's first sync is still writing the events of its window waits for
// it; a check that finds no new event starts no Job and keeps its window's start; once a cart
// has arrived, the next check starts the run's Job, named after its time, for the events
// received since the campaign was created up to an hour before the run.
func TestCampaignRunsOnEvents(t *testing.T) {
	ns := newNamespace(t)
	clockAtNow(t)

	publishedEveryone(t, ns, "a", "b")

	channel := &cdpv1alpha1.Channel{ObjectMeta: objectMeta(ns, "crm-hook"), Spec: cdpv1alpha1.ChannelSpec{
		Type: cdpv1alpha1.ChannelWebhook,
		Webhook: &cdpv1alpha1.WebhookChannel{URL: "https://crm.example.jp/kizuna",
			SigningSecretRef: cdpv1alpha1.SecretKeySelector{Name: "hook-signing", Key: "key"}},
	}}
	camp := &cdpv1alpha1.Campaign{ObjectMeta: objectMeta(ns, "cart-reminder"), Spec: cdpv1alpha1.CampaignSpec{
		Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}}},
		Trigger: cdpv1alpha1.CampaignTrigger{Event: &cdpv1alpha1.EventTrigger{
			Type:  "cart_abandoned",
			Where: []cdpv1alpha1.AttributeCondition{{Path: "total", Operator: cdpv1alpha1.OpGreaterThanOrEqual, Value: ptr.To("3000")}},
			Delay: ptr.To(cdpv1alpha1.Duration("1h")),
		}},
		Steps: []cdpv1alpha1.CampaignStep{{Name: "reminder", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "crm-hook"},
			Template:   cdpv1alpha1.MessageTemplate{Payload: `{"profile": "{{ .ProfileID }}"}`},
		}}}},
	}}
	create(t, secret(ns, "hook-signing", map[string]string{"key": "0123456789abcdef0123456789abcdef"}), channel, camp)
	if camp.Spec.Trigger.Event.CheckEvery != "1m" {
		t.Errorf("checkEvery defaults to %q, want 1m", camp.Spec.Trigger.Event.CheckEvery)
	}

	// No DataSource declares the property yet: the filter is refused before any run.
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonInvalidEventFilter, "spec.trigger.event.where[0].path", `"total" is not declared`)

	carts := &cdpv1alpha1.DataSource{ObjectMeta: objectMeta(ns, "carts"), Spec: cdpv1alpha1.DataSourceSpec{
		Type:   cdpv1alpha1.DataSourceEvents,
		Source: cdpv1alpha1.SourceLocation{ConfigMap: &cdpv1alpha1.ConfigMapKeySelector{Name: "carts-export", Key: "carts.csv"}},
		Format: &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV},
		Event: &cdpv1alpha1.EventMapping{
			Type:       "cart_abandoned",
			Timestamp:  cdpv1alpha1.TimestampColumn{Column: "at"},
			Identifier: cdpv1alpha1.IdentifierMapping{Column: "email", Type: cdpv1alpha1.IdentifierEmail},
			Properties: []cdpv1alpha1.AttributeMapping{{Name: "total", Type: cdpv1alpha1.AttributeNumber}},
		},
	}}
	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "carts-export"), Data: map[string]string{"carts.csv": "email,at,total\n"}}, carts)
	eventuallyReady(t, camp, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	sync := eventuallyJob(t, ns, "carts-sync-g1")

	created := camp.CreationTimestamp.Time
	// Checks come every minute from the creation on; the first whose window, an hour before it,
	// is not empty comes at 61 minutes.
	due := created.Add(61 * time.Minute)
	// The fake clock fires no timers: a change to the Events source wakes the campaign.
	poke := func(value string) {
		update(t, carts, func() { carts.Labels = map[string]string{"kizuna.test/poke": value} })
	}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
		g.Expect(camp.Status.NextRunTime).NotTo(BeNil())
		g.Expect(camp.Status.NextRunTime.Time).To(BeTemporally("==", created.Add(time.Minute)))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// The first check is due while the sync that began within its window still writes: it
	// waits.
	testClock.SetTime(due.Add(5 * time.Second))
	poke("1")
	NewWithT(t).Eventually(func(g Gomega) {
		c := runningCondition(g, camp)
		g.Expect(c.Reason).To(Equal(cdpv1alpha1.ReasonWaitingForEvents))
		g.Expect(c.Message).To(ContainSubstring(sync.Name))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	if jobs := campaignJobs(t, camp); len(jobs) != 0 {
		t.Fatalf("%d delivery Jobs while a sync was writing, want none", len(jobs))
	}

	// The sync ends having written nothing: the check finds no event and starts no Job.
	finishJob(t, sync, true)
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
		g.Expect(camp.Status.NextRunTime.Time).To(BeTemporally("==", due.Add(time.Minute)))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	if jobs := campaignJobs(t, camp); len(jobs) != 0 {
		t.Fatalf("%d delivery Jobs after a check that found no event, want none", len(jobs))
	}

	// A later sync brings a cart received within the first minute: the next check finds it,
	// since an empty check does not move the start of the window.
	w, err := testStore.BeginSync(t.Context(), store.SyncRun{Namespace: ns, Source: "carts", RunID: "carts-late", Mode: store.SyncAppend})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutEvent(t.Context(), store.Event{ID: "cart-1", Type: "cart_abandoned", OccurredAt: created, ReceivedAt: created.Add(30 * time.Second),
		IdentifierType: "Email", IdentifierValue: "a@example.jp", Properties: map[string]any{"total": 4500.0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(t.Context(), 1, store.SourceState{}); err != nil {
		t.Fatal(err)
	}
	second := due.Add(time.Minute)
	testClock.SetTime(second.Add(5 * time.Second))
	poke("2")
	run := jobName(camp.Name, strconv.FormatInt(second.Unix(), 10))
	job := eventuallyJob(t, ns, jobName(run, "run"))
	payload := jobPayload(t, job)
	r := payload.Run
	if r.Run != run || r.Trigger != worker.TriggerEvent || !r.ScheduledAt.Equal(second) || !r.ReceivedAfter.Equal(created) ||
		!r.ReceivedThrough.Equal(second.Add(-time.Hour-worker.EventSettle)) {
		t.Errorf("payload run = %+v; want run %s of trigger event at %v, for events received in (%v, %v]",
			r, run, second, created, second.Add(-time.Hour-worker.EventSettle))
	}
	if payload.Events == nil || payload.Events.IdentityResolution == nil || payload.Events.IdentityResolution.Name != "customers" ||
		payload.Events.Properties["total"] != cdpv1alpha1.AttributeNumber {
		t.Errorf("payload events = %+v; want resolution customers and the property total, a Number", payload.Events)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonDelivering))
		g.Expect(camp.Status.LastScheduleTime).NotTo(BeNil())
		g.Expect(camp.Status.LastScheduleTime.Time).To(BeTemporally("==", second))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	if jobs := campaignJobs(t, camp); len(jobs) != 1 {
		t.Errorf("%d delivery Jobs, want the run's one", len(jobs))
	}
}
