package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/test/mailsink"
)

// TestOnceCampaignSplitsItsRunAcrossIndexedPods runs a campaign triggered once, at a time already
// past, over a segment of resolved profiles, through a real Indexed Job with two Pods, each the
// recipients of its shard: every recipient with an email address gets exactly one message at the
// SMTP server, and the campaign's status counts what arrived. (TestSamplesWelcomeSeriesDeliversThroughJobs runs
// a segment-entry series with delayed steps and a webhook, with one Pod per Job.)
func TestOnceCampaignSplitsItsRunAcrossIndexedPods(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	sink, err := mailsink.Start(mailsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sink.Stop() }()

	crm := fileWriter(t)("crm.csv", "id,email,name,spend\n"+
		"1,taro@example.jp,山田,100\n2,hanako@example.jp,佐藤,200\n3,jiro@example.jp,鈴木,300\n4,,高橋,400\n")
	spec := contactsSpec()
	spec.Source.File = &cdpv1alpha1.FileLocation{Path: crm}
	createObject(t, &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"}, Spec: spec})
	createObject(t, &cdpv1alpha1.IdentityResolution{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customers"},
		Spec: cdpv1alpha1.IdentityResolutionSpec{
			Sources: []cdpv1alpha1.ResolutionSource{{Name: "crm"}},
			Deterministic: []cdpv1alpha1.DeterministicRule{
				{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}},
			},
		},
	})
	createObject(t, &cdpv1alpha1.Segment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "spenders"},
		Spec: cdpv1alpha1.SegmentSpec{ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
			Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{
				Path: "spend", Operator: cdpv1alpha1.OpGreaterThanOrEqual, Value: ptr.To("200"),
			}}}},
	})
	createObject(t, &cdpv1alpha1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "email"},
		Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelSMTP, SMTP: &cdpv1alpha1.SMTPChannel{
			Host: sink.SMTPHost(), Port: int32(sink.SMTPPort()), TLS: cdpv1alpha1.TLSModeNone,
			From: cdpv1alpha1.EmailAddress{Address: "news@kizuna-store.example", Name: "絆ストア"},
		}}})
	camp := &cdpv1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "thanks"}, Spec: cdpv1alpha1.CampaignSpec{
		Audience:    cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "spenders"}}},
		Trigger:     cdpv1alpha1.CampaignTrigger{Once: &cdpv1alpha1.OnceTrigger{At: metav1.Time{Time: time.Now().Add(-time.Hour)}}},
		Parallelism: ptr.To(int32(2)),
		Steps: []cdpv1alpha1.CampaignStep{{Name: "mail", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "email"},
			Template:   cdpv1alpha1.MessageTemplate{Subject: "{{ honorific .Attributes.name }}、ありがとうございます", Text: "いつもありがとうございます。"},
		}}}},
	}}
	createObject(t, camp)

	// 佐藤, 鈴木 and 高橋 spent 200 or more; 高橋 has no email, so his message is suppressed.
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(camp), camp)).To(Succeed())
		last := camp.Status.LastRun
		g.Expect(last).NotTo(BeNil(), "no run yet")
		g.Expect(last.CompletionTime).NotTo(BeNil(), "run %s not complete: %+v", last.Name, last.Counts)
		g.Expect(last.Counts).To(Equal(cdpv1alpha1.DeliveryCounts{Targeted: 3, Sent: 2, Suppressed: 1}))
		running := meta.FindStatusCondition(camp.Status.Conditions, cdpv1alpha1.ConditionRunning)
		g.Expect(running).NotTo(BeNil())
		g.Expect(running.Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
	}).WithTimeout(3 * jobTimeout).WithPolling(pollInterval).Should(Succeed())

	messages, err := sink.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	to := map[string]string{}
	for _, m := range messages {
		to[m.To[0].Address] = m.Subject
	}
	if len(messages) != 2 || to["hanako@example.jp"] != "佐藤様、ありがとうございます" || to["jiro@example.jp"] != "鈴木様、ありがとうございます" {
		t.Errorf("the SMTP server received %v, want one message each for hanako and jiro", to)
	}

	// One Job, its two indexes each run by a Pod that exited 0.
	var jobs batchv1.JobList
	if err := k8s.List(context.Background(), &jobs, client.InNamespace(ns), client.MatchingLabels{"cdp.kizuna.dev/campaign": camp.Name}); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || ptr.Deref(jobs.Items[0].Spec.CompletionMode, "") != batchv1.IndexedCompletion {
		t.Fatalf("the campaign has %d Jobs, want one Indexed Job", len(jobs.Items))
	}
	var indexes []string
	for _, r := range recordsOf(ns) {
		if r.Labels[batchv1.JobNameLabel] == jobs.Items[0].Name {
			if r.ExitCode != 0 {
				t.Errorf("Pod %s exited %d", r.Pod, r.ExitCode)
			}
			indexes = append(indexes, r.Labels[batchv1.JobCompletionIndexAnnotation])
		}
	}
	slices.Sort(indexes)
	if !slices.Equal(indexes, []string{"0", "1"}) {
		t.Errorf("the Job's Pods ran indexes %v, want 0 and 1 once each", indexes)
	}
}
