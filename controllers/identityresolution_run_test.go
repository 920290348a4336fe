package controllers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// This file runs the IdentityResolution controller against a real API server without a Job
// controller: the tests sync its sources and finish its Jobs themselves, and write resolution runs
// into a real store, as `kizuna worker resolve` would.

// syncedSource creates the DataSource "crm" and completes its first sync.
func syncedSource(t *testing.T, ns string) *cdpv1alpha1.DataSource {
	t.Helper()
	const name = "crm"
	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, name+"-export"), Data: map[string]string{"contacts.csv": "id\n"}},
		configMapDataSource(ns, name, name+"-export"))
	job := eventuallyJob(t, ns, name+"-sync-g1")
	recordRun(t, ns, name, job.Name, "a", "b", "c")
	finishJob(t, job, true)
	ds := &cdpv1alpha1.DataSource{ObjectMeta: objectMeta(ns, name)}
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(ds.Status.LastSuccessfulSyncTime).NotTo(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return ds
}

// resyncSource completes another sync of a DataSource, in a later second than its last one:
// status keeps times to the second.
func resyncSource(t *testing.T, ds *cdpv1alpha1.DataSource, request string) {
	t.Helper()
	last := ds.Status.LastSuccessfulSyncTime.Time
	NewWithT(t).Eventually(func() time.Time { return time.Now().Truncate(time.Second) }).
		WithTimeout(3 * time.Second).WithPolling(20 * time.Millisecond).Should(BeTemporally(">", last))
	update(t, ds, func() {
		if ds.Annotations == nil {
			ds.Annotations = map[string]string{}
		}
		ds.Annotations[cdpv1alpha1.SyncRequestAnnotation] = request
	})
	job := eventuallyJob(t, ds.Namespace, ds.Name+"-sync-r"+shortHash(request))
	recordRun(t, ds.Namespace, ds.Name, job.Name, "a", "b", "c", "d")
	finishJob(t, job, true)
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(ds.Status.LastSuccessfulSyncTime.Time).To(BeTemporally(">", last))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// recordResolution writes a resolution run into the store as `kizuna worker resolve` would: a
// dry run is only recorded, a failed run aborts its publication, any other run publishes one
// profile per record.
func recordResolution(t *testing.T, run store.ResolutionRun, records ...store.RecordRef) {
	t.Helper()
	ctx := context.Background()
	run.StartedAt = time.Now().Add(-90 * time.Second)
	switch {
	case run.DryRun:
		run.Status, run.FinishedAt = store.SyncSucceeded, time.Now()
		if err := testStore.PutResolutionRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	case run.Status == store.SyncFailed:
		w, err := testStore.BeginPublish(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Abort(ctx, run.Message); err != nil {
			t.Fatal(err)
		}
	default:
		w, err := testStore.BeginPublish(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range records {
			p := store.Profile{ID: "p-" + ref.Key, CreatedGeneration: 1, Attributes: map[string]any{"name": ref.Key},
				Records: []store.RecordRef{ref}}
			if err := w.PutProfile(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		run.Status, run.FinishedAt = store.SyncSucceeded, time.Now()
		if _, err := w.Commit(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
}

func crmRecords(keys ...string) []store.RecordRef {
	refs := make([]store.RecordRef, len(keys))
	for i, k := range keys {
		refs[i] = store.RecordRef{Source: "crm", Key: k}
	}
	return refs
}

func getResolution(g Gomega, idr *cdpv1alpha1.IdentityResolution) {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(idr), idr)).To(Succeed())
}

func idrCondition(idr *cdpv1alpha1.IdentityResolution, condType string) metav1.Condition {
	if c := meta.FindStatusCondition(idr.Status.Conditions, condType); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// resolutionJobNames lists the Jobs of a resolution that are not being deleted.
func resolutionJobNames(g Gomega, idr *cdpv1alpha1.IdentityResolution) []string {
	var jobs batchv1.JobList
	g.Expect(k8sClient.List(context.Background(), &jobs, client.InNamespace(idr.Namespace),
		client.MatchingLabels{LabelIdentityResolution: idr.Name})).To(Succeed())
	names := []string{}
	for _, j := range jobs.Items {
		if j.DeletionTimestamp == nil {
			names = append(names, j.Name)
		}
	}
	slices.Sort(names)
	return names
}

func TestIdentityResolutionRunsOnceItsSourcesSynced(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "crm-export"), Data: map[string]string{"contacts.csv": "id\n"}},
		configMapDataSource(ns, "crm", "crm-export"))
	idr := resolution(ns, "customers", "crm")
	create(t, idr)

	// The source is Ready but has never synced: the resolution is Ready, and waits for it.
	eventuallyReady(t, idr, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		resolving := idrCondition(idr, cdpv1alpha1.ConditionResolving)
		g.Expect(resolving.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(resolving.Reason).To(Equal(cdpv1alpha1.ReasonWaitingForSources))
		g.Expect(resolving.Message).To(ContainSubstring(`DataSource "crm" has not synced`))
		g.Expect(idrCondition(idr, cdpv1alpha1.ConditionResolved).Reason).To(Equal(cdpv1alpha1.ReasonNeverResolved))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	NewWithT(t).Expect(resolutionJobNames(NewWithT(t), idr)).To(BeEmpty())

	// Its first sync starts one resolution Job, named after the generation and the sources' data.
	sync := eventuallyJob(t, ns, "crm-sync-g1")
	recordRun(t, ns, "crm", sync.Name, "a", "b")
	finishJob(t, sync, true)
	ds := &cdpv1alpha1.DataSource{ObjectMeta: objectMeta(ns, "crm")}
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(ds.Status.LastSuccessfulSyncTime).NotTo(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())
	name := "customers-resolve-g1-" + inputFingerprint([]*cdpv1alpha1.DataSource{ds})
	job := eventuallyJob(t, ns, name)

	getResolution(NewWithT(t), idr)
	if !metav1.IsControlledBy(job, idr) {
		t.Errorf("Job %s is not controlled by the IdentityResolution", job.Name)
	}
	if job.Labels[LabelIdentityResolution] != "customers" || job.Labels[labelComponent] != "resolve" {
		t.Errorf("Job labels %v", job.Labels)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != "kizuna:test" || !slices.Equal(c.Args, []string{"worker", "resolve"}) {
		t.Errorf("container runs %s %v", c.Image, c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env[worker.EnvRunID] != name {
		t.Errorf("run ID %q, want the Job's name", env[worker.EnvRunID])
	}
	if want := fmt.Sprintf(`{"name":"customers","namespace":%q,"generation":1,`, ns); len(env[worker.EnvResolution]) < len(want) || env[worker.EnvResolution][:len(want)] != want {
		t.Errorf("resolution payload %s, want it to start with %s", env[worker.EnvResolution], want)
	}
	if env[worker.EnvStoreDSN] == "" {
		t.Error("the Job is not given the store")
	}

	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		resolving := idrCondition(idr, cdpv1alpha1.ConditionResolving)
		g.Expect(resolving.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(resolving.Message).To(ContainSubstring(name))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	// Exactly one Job, however often the resolution is reconciled.
	NewWithT(t).Consistently(func(g Gomega) []string { return resolutionJobNames(g, idr) }).
		WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal([]string{name}))
}

func TestIdentityResolutionReflectsItsRunsAndRunsAgainOnChanges(t *testing.T) {
	ns := newNamespace(t)
	ds := syncedSource(t, ns)
	idr := resolution(ns, "customers", "crm")
	create(t, idr)
	first := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))

	// A new sync of the source while the first run runs waits for it: one run at a time.
	resyncSource(t, ds, "again")
	changed := "customers-resolve-g1-" + inputFingerprint([]*cdpv1alpha1.DataSource{ds})
	NewWithT(t).Consistently(func(g Gomega) []string { return resolutionJobNames(g, idr) }).
		WithTimeout(time.Second).WithPolling(100 * time.Millisecond).Should(Equal([]string{first.Name}))

	// The first run published: status shows it, and the source's new data runs again.
	recordResolution(t, store.ResolutionRun{
		Namespace: ns, Resolution: "customers", RunID: first.Name,
		Records: 3, Profiles: 3, NewProfiles: 3, Merges: 0, Splits: 0,
		Ignored: []store.IgnoredValue{
			{Type: "Email+Phone", Value: "i***o", Records: 25},
			{Type: "Custom:member_no", Value: "0***0", Records: 21},
		},
	}, crmRecords("a", "b", "c")...)
	finishJob(t, first, true)
	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		g.Expect(idr.Status.PublishedGeneration).To(Equal(int64(1)))
		g.Expect(idr.Status.Profiles).To(Equal(int64(3)))
		g.Expect(idr.Status.Records).To(Equal(int64(3)))
		g.Expect(idr.Status.IgnoredValues).To(Equal([]cdpv1alpha1.IgnoredIdentifierValue{
			{Type: cdpv1alpha1.IdentifierEmail, Value: "i***o", Records: 25},
			{Type: cdpv1alpha1.IdentifierCustom, Value: "0***0", Records: 21},
		}))
		last := idr.Status.LastRun
		g.Expect(last).NotTo(BeNil())
		g.Expect(last.Records).To(Equal(int64(3)))
		g.Expect(last.NewProfiles).To(Equal(int64(3)))
		g.Expect(last.DryRun).To(BeFalse())
		g.Expect(last.StartTime).NotTo(BeNil())
		g.Expect(last.CompletionTime).NotTo(BeNil())
		g.Expect(last.CompletionTime.Sub(last.StartTime.Time)).To(BeNumerically(">=", 89*time.Second))
		resolved := idrCondition(idr, cdpv1alpha1.ConditionResolved)
		g.Expect(resolved.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(resolved.Reason).To(Equal(cdpv1alpha1.ReasonPublished))
		g.Expect(resolved.Message).To(ContainSubstring(first.Name))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	second := eventuallyJob(t, ns, changed)
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(first), first)).To(Succeed())
		g.Expect(first.Annotations).To(HaveKeyWithValue(annotationReflected, "true"))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// A Job that fails before it records a run says so, and leaves the published profiles.
	finishJob(t, second, false)
	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		resolved := idrCondition(idr, cdpv1alpha1.ConditionResolved)
		g.Expect(resolved.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(resolved.Reason).To(Equal(cdpv1alpha1.ReasonResolutionJobFailed))
		g.Expect(resolved.Message).To(ContainSubstring(second.Name))
		g.Expect(resolved.Message).To(ContainSubstring(batchv1.JobReasonBackoffLimitExceeded))
		g.Expect(idr.Status.PublishedGeneration).To(Equal(int64(1)))
		g.Expect(idr.Status.Profiles).To(Equal(int64(3)))
		g.Expect(idrCondition(idr, cdpv1alpha1.ConditionResolving).Reason).To(Equal(cdpv1alpha1.ReasonNoResolutionRunning))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// A spec change runs again; a dry run publishes nothing.
	update(t, idr, func() { idr.Spec.DryRun = true })
	dry := eventuallyJob(t, ns, "customers-resolve-g2-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: dry.Name, DryRun: true,
		Generation: 1, Records: 3, Profiles: 2, Merges: 1})
	finishJob(t, dry, true)
	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		resolved := idrCondition(idr, cdpv1alpha1.ConditionResolved)
		g.Expect(resolved.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(resolved.Reason).To(Equal(cdpv1alpha1.ReasonDryRun))
		g.Expect(resolved.ObservedGeneration).To(Equal(idr.Generation))
		g.Expect(idr.Status.LastRun).NotTo(BeNil())
		g.Expect(idr.Status.LastRun.DryRun).To(BeTrue())
		g.Expect(idr.Status.LastRun.Merges).To(Equal(int64(1)))
		g.Expect(idr.Status.PublishedGeneration).To(Equal(int64(1)))
		g.Expect(idr.Status.Profiles).To(Equal(int64(3)))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// A run that failed reports the run's message.
	update(t, idr, func() { idr.Spec.DryRun = false })
	failed := eventuallyJob(t, ns, "customers-resolve-g3-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: failed.Name,
		Status: store.SyncFailed, Message: "write profile p-a: disk full"})
	finishJob(t, failed, false)
	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		resolved := idrCondition(idr, cdpv1alpha1.ConditionResolved)
		g.Expect(resolved.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(resolved.Reason).To(Equal(cdpv1alpha1.ReasonResolutionFailed))
		g.Expect(resolved.Message).To(ContainSubstring("disk full"))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// Only the last failed Job is kept (the history limits are 2 succeeded and 1 failed here).
	NewWithT(t).Eventually(func(g Gomega) []string { return resolutionJobNames(g, idr) }).
		WithTimeout(20 * time.Second).Should(Equal([]string{first.Name, dry.Name, failed.Name}))

	// Runs are announced as events on the resolution.
	NewWithT(t).Eventually(func(g Gomega) {
		var events eventsv1.EventList
		g.Expect(k8sClient.List(context.Background(), &events, client.InNamespace(ns))).To(Succeed())
		reasons := map[string]string{}
		for _, e := range events.Items {
			if e.Regarding.Kind == "IdentityResolution" && e.Regarding.Name == "customers" {
				reasons[e.Reason] = e.Type
			}
		}
		g.Expect(reasons).To(HaveKeyWithValue("ResolutionStarted", corev1.EventTypeNormal))
		g.Expect(reasons).To(HaveKeyWithValue(cdpv1alpha1.ReasonPublished, corev1.EventTypeNormal))
		g.Expect(reasons).To(HaveKeyWithValue(cdpv1alpha1.ReasonResolutionJobFailed, corev1.EventTypeWarning))
		g.Expect(reasons).To(HaveKeyWithValue(cdpv1alpha1.ReasonResolutionFailed, corev1.EventTypeWarning))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

func TestIdentityResolutionRunsOnItsSchedule(t *testing.T) {
	ns := newNamespace(t)
	previous := testClock.Now()
	t.Cleanup(func() { testClock.SetTime(previous) })
	testClock.SetTime(time.Now())

	ds := syncedSource(t, ns)
	// A daily schedule half a day away: nothing is due until the clock moves.
	at := time.Now().UTC().Add(12 * time.Hour)
	cron := fmt.Sprintf("%d %d * * *", at.Minute(), at.Hour())
	sched, err := schedule.Parse(cron, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	idr := resolution(ns, "customers", "crm")
	idr.Spec.Schedule = &cdpv1alpha1.Schedule{Cron: cron, TimeZone: "UTC"}
	create(t, idr)

	// A new resolution runs at once, schedule or not.
	first := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: first.Name, Records: 3, Profiles: 3, NewProfiles: 3},
		crmRecords("a", "b", "c")...)
	finishJob(t, first, true)
	NewWithT(t).Eventually(func(g Gomega) {
		getResolution(g, idr)
		g.Expect(idrCondition(idr, cdpv1alpha1.ConditionResolved).Reason).To(Equal(cdpv1alpha1.ReasonPublished))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// When the scheduled time has come, it runs again. The fake clock fires no timers, so a
	// change to the source wakes the resolution.
	due := sched.Next(idr.CreationTimestamp.Time)
	testClock.SetTime(due.Add(time.Minute))
	update(t, ds, func() { ds.Labels = map[string]string{"kizuna.test/poke": "1"} })
	scheduled := eventuallyJob(t, ns, "customers-resolve-t"+strconv.FormatInt(due.Unix(), 10))
	if got := scheduled.Annotations[annotationScheduleTime]; got != due.UTC().Format(time.RFC3339) {
		t.Errorf("the scheduled Job covers %q, want %s", got, due.UTC().Format(time.RFC3339))
	}
	if !metav1.IsControlledBy(scheduled, idr) {
		t.Error("the scheduled Job is not controlled by the IdentityResolution")
	}
}
