package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestSegmentEvaluatesWhenTheResolutionPublishes evaluates segments in the manager against the
// real store: once the resolution publishes, the segments' status shows their size, and a
// segment that refers to another follows it; a new generation evaluates again.
func TestSegmentEvaluatesWhenTheResolutionPublishes(t *testing.T) {
	ns := newNamespace(t)
	ds := syncedSource(t, ns)
	idr := resolution(ns, "customers", "crm")
	create(t, idr)
	everyone := &cdpv1alpha1.Segment{
		ObjectMeta: objectMeta(ns, "everyone"),
		Spec: cdpv1alpha1.SegmentSpec{
			ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
			Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{
				RandomBucket: &cdpv1alpha1.RandomBucketCondition{Salt: "all", From: 0, To: 99},
			}},
		},
	}
	// Members of everyone that have an email: none, since the profiles carry no identifiers.
	reachable := membershipSegment(ns, "reachable", "customers", "everyone")
	create(t, everyone, reachable)

	// Before any publication the segments wait.
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(segmentCondition(g, everyone, cdpv1alpha1.ConditionEvaluated).Reason).To(Equal(cdpv1alpha1.ReasonWaitingForProfiles))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	first := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: first.Name}, crmRecords("a", "b", "c")...)
	finishJob(t, first, true)
	expectEvaluated(t, everyone, 3, 3, 1)
	expectEvaluated(t, reachable, 0, 0, 1)

	// A second generation with a fourth profile: one enters.
	resyncSource(t, ds, "again")
	second := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: second.Name}, crmRecords("a", "b", "c", "d")...)
	finishJob(t, second, true)
	expectEvaluated(t, everyone, 4, 1, 2)
	members, err := testStore.SegmentMembers(context.Background(), ns, "everyone", 0)
	if err != nil || len(members) != 4 {
		t.Fatalf("members = %v, %v; want the four profiles", members, err)
	}
	if !controllerutil.ContainsFinalizer(everyone, cdpv1alpha1.SegmentDataFinalizer) {
		t.Fatalf("finalizers = %v; want %s", everyone.Finalizers, cdpv1alpha1.SegmentDataFinalizer)
	}

	// Deleting a segment deletes its members and history from the store before the object goes;
	// the segment that referred to it reports it missing.
	if err := k8sClient.Delete(context.Background(), everyone); err != nil {
		t.Fatal(err)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(everyone), &cdpv1alpha1.Segment{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "get deleted segment: %v", err)
	}).WithTimeout(20 * time.Second).Should(Succeed())
	members, err = testStore.SegmentMembers(context.Background(), ns, "everyone", 0)
	if err != nil || len(members) != 0 {
		t.Fatalf("members after delete = %v, %v; want none", members, err)
	}
	history, err := testStore.SegmentHistory(context.Background(), ns, "everyone", 0)
	if err != nil || len(history) != 0 {
		t.Fatalf("history after delete = %v, %v; want none", history, err)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(segmentCondition(g, reachable, cdpv1alpha1.ConditionReady).Reason).To(Equal(cdpv1alpha1.ReasonSegmentNotFound))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

func segmentCondition(g Gomega, seg *cdpv1alpha1.Segment, condType string) metav1.Condition {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(seg), seg)).To(Succeed())
	c := meta.FindStatusCondition(seg.Status.Conditions, condType)
	g.Expect(c).NotTo(BeNil(), "no %s condition", condType)
	return *c
}

// expectEvaluated waits until the segment's latest evaluation, of the given resolution
// generation, found size members of whom entered are new, and nobody exited.
func expectEvaluated(t *testing.T, seg *cdpv1alpha1.Segment, size, entered, generation int64) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		c := segmentCondition(g, seg, cdpv1alpha1.ConditionEvaluated)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "message: %s", c.Message)
		g.Expect(seg.Status.EvaluatedResolutionGeneration).To(Equal(generation))
		g.Expect(seg.Status.Size).To(Equal(size))
		g.Expect(seg.Status.Entered).To(Equal(entered))
		g.Expect(seg.Status.Exited).To(BeZero())
		g.Expect(seg.Status.LastEvaluationTime).NotTo(BeNil())
		g.Expect(seg.Status.LastEvaluationDuration).NotTo(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())
}
