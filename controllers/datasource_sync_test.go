package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// This file runs the DataSource controller against a real API server without a Job controller:
// the tests finish Jobs themselves and write runs into a real store, as a worker would.

func eventuallyJob(t *testing.T, ns, name string) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	NewWithT(t).Eventually(func() error {
		return k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, job)
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	return job
}

// finishJob marks a Job finished as the Job controller would.
func finishJob(t *testing.T, job *batchv1.Job, succeeded bool) {
	t.Helper()
	now := metav1.Now()
	job.Status.StartTime = &now
	if succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded, LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded, LastTransitionTime: now},
		}
	}
	if err := k8sClient.Status().Update(context.Background(), job); err != nil {
		t.Fatalf("finish Job %s: %v", job.Name, err)
	}
}

// recordRun writes a sync run into the store as `kizuna worker sync` would.
func recordRun(t *testing.T, ns, source, runID string, keys ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := testStore.BeginSync(ctx, store.SyncRun{Namespace: ns, Source: source, RunID: runID, Mode: store.SyncSnapshot, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := w.PutRecord(ctx, store.Record{Key: k, Attributes: map[string]any{"name": k}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Quarantine(ctx, store.QuarantinedRow{Row: 7, Reason: `column "spend": "x" is not a number`, Raw: "9,x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, int64(len(keys))+1, store.SourceState{}); err != nil {
		t.Fatal(err)
	}
}

func getDataSource(g Gomega, ds *cdpv1alpha1.DataSource) {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(ds), ds)).To(Succeed())
}

func TestDataSourceRunsSyncJobsAndReflectsTheirRuns(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "cards"), Data: map[string]string{"contacts.csv": "id\n"}})
	ds := configMapDataSource(ns, "cards", "cards")
	create(t, ds)

	// A new DataSource syncs once, in a Job named after its generation and owned by it.
	job := eventuallyJob(t, ns, "cards-sync-g1")
	if !metav1.IsControlledBy(job, ds) {
		t.Errorf("Job %s is not controlled by the DataSource", job.Name)
	}
	if got := job.Spec.Template.Spec.Containers[0].Image; got != "kizuna:test" {
		t.Errorf("image %q, want the worker image", got)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(ds.Status.ActiveJob).To(Equal("cards-sync-g1"))
		g.Expect(conditionStatus(ds, cdpv1alpha1.ConditionSyncing)).To(Equal(metav1.ConditionTrue))
		g.Expect(conditionReason(ds, cdpv1alpha1.ConditionSynced)).To(Equal(cdpv1alpha1.ReasonNeverSynced))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	recordRun(t, ns, "cards", job.Name, "a", "b")
	finishJob(t, job, true)
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(ds.Status.ActiveJob).To(BeEmpty())
		g.Expect(conditionReason(ds, cdpv1alpha1.ConditionSynced)).To(Equal(cdpv1alpha1.ReasonSyncSucceeded))
		g.Expect(ds.Status.Records).To(Equal(int64(2)))
		last := ds.Status.LastSync
		g.Expect(last).NotTo(BeNil())
		g.Expect(last.RowsRead).To(Equal(int64(3)))
		g.Expect(last.RowsLoaded).To(Equal(int64(2)))
		g.Expect(last.RowsQuarantined).To(Equal(int64(1)))
		g.Expect(last.FirstErrors).To(Equal([]cdpv1alpha1.RowError{{Row: 7, Reason: `column "spend": "x" is not a number`}}))
		g.Expect(ds.Status.LastSuccessfulSyncTime).NotTo(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// The sync-request annotation asks for another sync.
	update(t, ds, func() { ds.Annotations = map[string]string{cdpv1alpha1.SyncRequestAnnotation: "now"} })
	requested := eventuallyJob(t, ns, "cards-sync-r"+shortHash("now"))

	// A spec change waits for the running sync, and a Job that failed without recording a run
	// is reported as such.
	update(t, ds, func() { ds.Spec.MaxErrorRatio = ptrTo(0.5) })
	finishJob(t, requested, false)
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(conditionReason(ds, cdpv1alpha1.ConditionSynced)).To(Equal(cdpv1alpha1.ReasonSyncJobFailed))
		g.Expect(dsCondition(ds, cdpv1alpha1.ConditionSynced).Message).To(ContainSubstring("failed before it recorded a run"))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	second := eventuallyJob(t, ns, "cards-sync-g2")

	// Suspending starts nothing new.
	update(t, ds, func() {
		ds.Spec.Suspend = true
		ds.Annotations[cdpv1alpha1.SyncRequestAnnotation] = "again"
	})
	finishJob(t, second, false)
	NewWithT(t).Eventually(func(g Gomega) {
		getDataSource(g, ds)
		g.Expect(conditionReason(ds, cdpv1alpha1.ConditionSyncing)).To(Equal(cdpv1alpha1.ReasonSyncSuspended))
		g.Expect(ds.Status.ObservedGeneration).To(Equal(ds.Generation))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "cards-sync-r" + shortHash("again")}, &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("a suspended DataSource started a sync: %v", err)
	}

	// Only the last failed Job is kept (the history limit is 1 in these tests).
	NewWithT(t).Eventually(func(g Gomega) {
		var jobs batchv1.JobList
		g.Expect(k8sClient.List(context.Background(), &jobs, client.InNamespace(ns))).To(Succeed())
		var names []string
		for _, j := range jobs.Items {
			if j.DeletionTimestamp == nil {
				names = append(names, j.Name)
			}
		}
		g.Expect(strings.Join(names, ",")).To(Equal("cards-sync-g1,cards-sync-g2"))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

func ptrTo[T any](v T) *T { return &v }

func dsCondition(ds *cdpv1alpha1.DataSource, condType string) metav1.Condition {
	for _, c := range ds.Status.Conditions {
		if c.Type == condType {
			return c
		}
	}
	return metav1.Condition{}
}

func conditionStatus(ds *cdpv1alpha1.DataSource, condType string) metav1.ConditionStatus {
	return dsCondition(ds, condType).Status
}

func conditionReason(ds *cdpv1alpha1.DataSource, condType string) string {
	return dsCondition(ds, condType).Reason
}
