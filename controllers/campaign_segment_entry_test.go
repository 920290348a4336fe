package controllers

import (
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// TestCampaignRunsOnSegmentEntry follows a welcome campaign on entry into a segment whose
// members entered before it was created, with the injected clock: the first check finds nobody
// new and starts no Job; a profile enters, and the next check starts the run's Job, named after
// its time, for the profiles that entered since the campaign was created, the empty check having
// kept the window's start.
func TestCampaignRunsOnSegmentEntry(t *testing.T) {
	ns := newNamespace(t)
	clockAtNow(t)

	ds, everyone := publishedEveryone(t, ns, "a", "b", "c")
	// The campaign is created in a later second than the evaluation: its creation time, kept to
	// the second, comes after a, b and c entered.
	camp := segmentEntryCampaign(t, ns, everyone.Status.LastEvaluationTime.Time)
	if camp.Spec.Trigger.SegmentEntry.CheckEvery != "15m" {
		t.Errorf("checkEvery defaults to %q, want 15m", camp.Spec.Trigger.SegmentEntry.CheckEvery)
	}

	created := camp.CreationTimestamp.Time
	// The fake clock fires no timers: a change to the segment wakes the campaign.
	poke := func(value string) {
		update(t, everyone, func() { everyone.Labels = map[string]string{"kizuna.test/poke": value} })
	}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
		g.Expect(camp.Status.NextRunTime).NotTo(BeNil())
		g.Expect(camp.Status.NextRunTime.Time).To(BeTemporally("==", created.Add(15*time.Minute)))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// The first check finds nobody who entered since the creation: no Job.
	firstCheck := created.Add(15 * time.Minute)
	testClock.SetTime(firstCheck.Add(5 * time.Second))
	poke("1")
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
		g.Expect(camp.Status.NextRunTime.Time).To(BeTemporally("==", firstCheck.Add(15*time.Minute)))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	if jobs := campaignJobs(t, camp); len(jobs) != 0 {
		t.Fatalf("%d delivery Jobs after a check that found nobody new, want none", len(jobs))
	}
	if camp.Status.LastScheduleTime != nil {
		t.Errorf("lastScheduleTime = %v after a check that started no run, want none", camp.Status.LastScheduleTime)
	}

	// d enters at the next publication, which evaluates the segment and wakes the campaign at
	// the next check. The store stamps the entry with the real time, before the first check's
	// time on the injected clock: only a window that still starts at the creation finds it.
	secondCheck := firstCheck.Add(15 * time.Minute)
	testClock.SetTime(secondCheck.Add(5 * time.Second))
	resyncSource(t, ds, "again")
	second := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: second.Name}, crmRecords("a", "b", "c", "d")...)
	finishJob(t, second, true)
	expectEvaluated(t, everyone, 4, 1, 2)

	run := jobName(camp.Name, strconv.FormatInt(secondCheck.Unix(), 10))
	job := eventuallyJob(t, ns, jobName(run, "run"))
	payload := jobPayload(t, job)
	r := payload.Run
	if r.Run != run || r.Trigger != worker.TriggerSegmentEntry || !r.ScheduledAt.Equal(secondCheck) || !r.EnteredAfter.Equal(created) {
		t.Fatalf("payload run = %+v; want run %s of trigger segmentEntry at %v, for the profiles that entered after %v",
			r, run, secondCheck, created)
	}
	// The Job's plan, as its first Pod makes it, reaches d alone.
	if planned, err := worker.PlanCampaignRun(t.Context(), testStore, &payload); err != nil || planned != 1 {
		t.Fatalf("plan the run: %d rows, %v; want d's one", planned, err)
	}
	if rows, err := testStore.Deliveries(t.Context(), ns, camp.Name, run, 0); err != nil || len(rows) != 1 || rows[0].ProfileID != "p-d" {
		t.Errorf("the run's rows = %+v, %v; want one for p-d", rows, err)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonDelivering))
		g.Expect(camp.Status.LastScheduleTime).NotTo(BeNil())
		g.Expect(camp.Status.LastScheduleTime.Time).To(BeTemporally("==", secondCheck))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	if jobs := campaignJobs(t, camp); len(jobs) != 1 {
		t.Errorf("%d delivery Jobs, want the run's one", len(jobs))
	}
}

// TestSegmentEntryCheckStartsNoJobForAnEmptyAudience has a profile enter the included segment
// and, at the same evaluation, a segment the campaign excludes: the check sees an entry, but
// the run's audience is empty, and no Job starts.
func TestSegmentEntryCheckStartsNoJobForAnEmptyAudience(t *testing.T) {
	ns := newNamespace(t)
	clockAtNow(t)

	ds, everyone := publishedEveryone(t, ns, "a", "b", "c")
	excluded := &cdpv1alpha1.Segment{ObjectMeta: objectMeta(ns, "staff"), Spec: everyone.Spec}
	create(t, excluded)
	expectEvaluated(t, excluded, 3, 3, 1)
	camp := segmentEntryCampaign(t, ns, excluded.Status.LastEvaluationTime.Time, "staff")
	created := camp.CreationTimestamp.Time

	// d enters both segments at the next publication; the check after it finds d's entry.
	check := created.Add(15 * time.Minute)
	testClock.SetTime(check.Add(5 * time.Second))
	resyncSource(t, ds, "staff-joined")
	second := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: second.Name}, crmRecords("a", "b", "c", "d")...)
	finishJob(t, second, true)
	expectEvaluated(t, everyone, 4, 1, 2)
	expectEvaluated(t, excluded, 4, 1, 2)
	if entered, err := worker.ProfilesEntered(t.Context(), testStore, camp, created); err != nil || !entered {
		t.Fatalf("ProfilesEntered = %v, %v; want d's entry", entered, err)
	}
	// The segments' evaluations do not wake the campaign by themselves in this test: a change
	// to the campaign's segment does.
	update(t, everyone, func() { everyone.Labels = map[string]string{"kizuna.test/poke": "1"} })
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(runningCondition(g, camp).Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
		g.Expect(camp.Status.NextRunTime).NotTo(BeNil())
		g.Expect(camp.Status.NextRunTime.Time).To(BeTemporally("==", check.Add(15*time.Minute)))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	if jobs := campaignJobs(t, camp); len(jobs) != 0 {
		t.Errorf("%d delivery Jobs after a check whose audience was empty, want none", len(jobs))
	}
	if camp.Status.LastScheduleTime != nil {
		t.Errorf("lastScheduleTime = %v after a check that started no run, want none", camp.Status.LastScheduleTime)
	}

	// Without the exclusion, the same check's audience is d: its run starts now, not at the
	// next check.
	update(t, camp, func() { camp.Spec.Audience.Exclude = nil })
	job := eventuallyJob(t, ns, jobName(jobName(camp.Name, strconv.FormatInt(check.Unix(), 10)), "run"))
	if r := jobPayload(t, job).Run; r.Trigger != worker.TriggerSegmentEntry || !r.EnteredAfter.Equal(created) {
		t.Errorf("payload run = %+v; want a segment-entry run for the profiles that entered after %v", r, created)
	}
}

// segmentEntryCampaign creates the campaign welcome, which posts to a webhook each profile that
// enters the segment everyone and is not in one of exclude, in a later second than evaluated
// (a creation time is kept to the second: the members evaluated before it entered before it),
// and waits until it is ready.
func segmentEntryCampaign(t *testing.T, ns string, evaluated time.Time, exclude ...string) *cdpv1alpha1.Campaign {
	t.Helper()
	NewWithT(t).Eventually(func() time.Time { return time.Now().Truncate(time.Second) }).
		WithTimeout(3 * time.Second).WithPolling(20 * time.Millisecond).Should(BeTemporally(">", evaluated))
	channel := &cdpv1alpha1.Channel{ObjectMeta: objectMeta(ns, "crm-hook"), Spec: cdpv1alpha1.ChannelSpec{
		Type: cdpv1alpha1.ChannelWebhook,
		Webhook: &cdpv1alpha1.WebhookChannel{URL: "https://crm.example.jp/kizuna",
			SigningSecretRef: cdpv1alpha1.SecretKeySelector{Name: "hook-signing", Key: "key"}},
	}}
	camp := &cdpv1alpha1.Campaign{ObjectMeta: objectMeta(ns, "welcome"), Spec: cdpv1alpha1.CampaignSpec{
		Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}}},
		Trigger:  cdpv1alpha1.CampaignTrigger{SegmentEntry: &cdpv1alpha1.SegmentEntryTrigger{}},
		Steps: []cdpv1alpha1.CampaignStep{{Name: "welcome", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "crm-hook"},
			Template:   cdpv1alpha1.MessageTemplate{Payload: `{"profile": "{{ .ProfileID }}"}`},
		}}}},
	}}
	for _, name := range exclude {
		camp.Spec.Audience.Exclude = append(camp.Spec.Audience.Exclude, cdpv1alpha1.LocalObjectReference{Name: name})
	}
	create(t, secret(ns, "hook-signing", map[string]string{"key": "0123456789abcdef0123456789abcdef"}), channel, camp)
	eventuallyReady(t, camp, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	return camp
}
