package controllers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// clockAtNow sets the injected clock to the real time for a test, and back after it.
func clockAtNow(t *testing.T) {
	previous := testClock.Now()
	t.Cleanup(func() { testClock.SetTime(previous) })
	testClock.SetTime(time.Now())
}

// jobPayload returns the campaign payload a delivery Job passes to its Pods.
func jobPayload(t *testing.T, job *batchv1.Job) worker.CampaignPayload {
	t.Helper()
	var payload worker.CampaignPayload
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == worker.EnvCampaign {
			if err := json.Unmarshal([]byte(e.Value), &payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	return payload
}

// runningCondition reads the campaign again and returns its Running condition.
func runningCondition(g Gomega, camp *cdpv1alpha1.Campaign) *metav1.Condition {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(camp), camp)).To(Succeed())
	c := meta.FindStatusCondition(camp.Status.Conditions, cdpv1alpha1.ConditionRunning)
	g.Expect(c).NotTo(BeNil())
	return c
}

// campaignJobs lists the delivery Jobs of a campaign.
func campaignJobs(t *testing.T, camp *cdpv1alpha1.Campaign) []batchv1.Job {
	t.Helper()
	var jobs batchv1.JobList
	if err := k8sClient.List(t.Context(), &jobs, client.InNamespace(camp.Namespace), client.MatchingLabels{LabelCampaign: camp.Name}); err != nil {
		t.Fatal(err)
	}
	return jobs.Items
}

// publishedEveryone publishes, through a resolution Job, a profile for each CRM customer named,
// and returns the CRM's DataSource and the segment "everyone" of them all, once evaluated.
func publishedEveryone(t *testing.T, ns string, customers ...string) (*cdpv1alpha1.DataSource, *cdpv1alpha1.Segment) {
	t.Helper()
	ds := syncedSource(t, ns)
	create(t, resolution(ns, "customers", "crm"))
	everyone := &cdpv1alpha1.Segment{ObjectMeta: objectMeta(ns, "everyone"), Spec: cdpv1alpha1.SegmentSpec{
		ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
		Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{
			RandomBucket: &cdpv1alpha1.RandomBucketCondition{Salt: "all", From: 0, To: 99},
		}},
	}}
	create(t, everyone)
	first := eventuallyJob(t, ns, "customers-resolve-g1-"+inputFingerprint([]*cdpv1alpha1.DataSource{ds}))
	recordResolution(t, store.ResolutionRun{Namespace: ns, Resolution: "customers", RunID: first.Name}, crmRecords(customers...)...)
	finishJob(t, first, true)
	n := int64(len(customers))
	expectEvaluated(t, everyone, n, n, 1)
	return ds, everyone
}

// TestCampaignRunsAsAnIndexedJobAndCountsTheLedger starts a once-triggered campaign whose time
// has come: the controller creates one Indexed Job for the run, with a Pod per shard, the
// channel's Secrets passed by reference (the signing key by its key, the headers Secret whole)
// and the run in its environment. The test then does what the Job's Pods would, with that same
// environment resolved as a kubelet resolves it, and finishes the Job: the campaign's status
// shows the ledger's counts, which match what the webhook received with the Secret's headers.
func TestCampaignRunsAsAnIndexedJobAndCountsTheLedger(t *testing.T) {
	ns := newNamespace(t)
	publishedEveryone(t, ns, "a", "b", "c")

	const apiKey = "receiver-api-key-0c4d"
	var mu sync.Mutex
	received := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var payload struct{ Profile string }
		if err := json.Unmarshal(body, &payload); err != nil || r.Header.Get("Idempotency-Key") == "" ||
			r.Header.Get("X-Api-Key") != apiKey {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		received[payload.Profile]++
		mu.Unlock()
	}))
	defer hook.Close()

	at := testClock.Now().Add(-time.Minute)
	channel := &cdpv1alpha1.Channel{ObjectMeta: objectMeta(ns, "crm-hook"), Spec: cdpv1alpha1.ChannelSpec{
		Type: cdpv1alpha1.ChannelWebhook,
		Webhook: &cdpv1alpha1.WebhookChannel{URL: hook.URL + "/kizuna",
			SigningSecretRef: cdpv1alpha1.SecretKeySelector{Name: "hook-signing", Key: "key"},
			HeadersSecretRef: &cdpv1alpha1.LocalObjectReference{Name: "hook-headers"}},
	}}
	camp := &cdpv1alpha1.Campaign{ObjectMeta: objectMeta(ns, "notify-crm"), Spec: cdpv1alpha1.CampaignSpec{
		Audience:    cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}}},
		Trigger:     cdpv1alpha1.CampaignTrigger{Once: &cdpv1alpha1.OnceTrigger{At: metav1.Time{Time: at}}},
		Parallelism: ptr.To(int32(2)),
		Steps: []cdpv1alpha1.CampaignStep{{Name: "notify", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "crm-hook"},
			Template:   cdpv1alpha1.MessageTemplate{Payload: `{"profile": "{{ .ProfileID }}"}`},
		}}}},
	}}
	const signingKey = "0123456789abcdef0123456789abcdef"
	signing := secret(ns, "hook-signing", map[string]string{"key": signingKey})
	headers := secret(ns, "hook-headers", map[string]string{"X-Api-Key": apiKey + "\n"})
	create(t, signing, headers, channel, camp)

	run := jobName("notify-crm", strconv.FormatInt(at.Unix(), 10))
	eventuallyReady(t, camp, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	job := eventuallyJob(t, ns, jobName(run, "run"))
	spec := job.Spec
	if ptr.Deref(spec.CompletionMode, "") != batchv1.IndexedCompletion || ptr.Deref(spec.Completions, 0) != 2 ||
		ptr.Deref(spec.Parallelism, 0) != 2 || ptr.Deref(spec.PodReplacementPolicy, "") != batchv1.Failed {
		t.Fatalf("Job spec: mode %v, completions %v, parallelism %v, replacement %v; want Indexed, 2, 2, Failed",
			spec.CompletionMode, spec.Completions, spec.Parallelism, spec.PodReplacementPolicy)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	if ref := env[worker.SecretEnvName("hook-signing", "key")].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "hook-signing" {
		t.Fatalf("the signing key is not passed by Secret reference: %+v", env)
	}
	envFrom := spec.Template.Spec.Containers[0].EnvFrom
	if len(envFrom) != 1 || envFrom[0].SecretRef == nil || envFrom[0].SecretRef.Name != "hook-headers" ||
		envFrom[0].Prefix != worker.SecretEnvPrefix("hook-headers") || env[worker.SecretEnvMarker("hook-headers")].Value != "hook-headers" {
		t.Fatalf("the headers Secret is not passed whole by reference: envFrom %+v", envFrom)
	}
	if encoded, err := json.Marshal(job); err != nil || strings.Contains(string(encoded), apiKey) || strings.Contains(string(encoded), signingKey) {
		t.Fatalf("the Job carries a Secret's value (%v)", err)
	}
	var payload worker.CampaignPayload
	if err := json.Unmarshal([]byte(env[worker.EnvCampaign].Value), &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Run.Run != run || payload.Resolution != "customers" || payload.Run.Shards != 2 || len(payload.Channels) != 1 {
		t.Fatalf("payload = run %q, resolution %q, %d shards, %d channels", payload.Run.Run, payload.Resolution, payload.Run.Shards, len(payload.Channels))
	}

	// The two Pods of the Job, as `kizuna worker deliver` runs them, with the Pod's environment.
	setPodEnvironment(t, ns, spec.Template.Spec.Containers[0])
	for shard := range 2 {
		if _, err := worker.DeliverRun(t.Context(), testStore, &payload, worker.EnvCredentials{}, worker.DeliveryOptions{
			Shard: shard, Worker: "pod-" + strconv.Itoa(shard),
		}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(received) != 3 || received["p-a"] != 1 || received["p-b"] != 1 || received["p-c"] != 1 {
		t.Errorf("the webhook received %v; want one post per profile", received)
	}
	mu.Unlock()
	finishJob(t, job, true)

	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(camp), camp)).To(Succeed())
		last := camp.Status.LastRun
		g.Expect(last).NotTo(BeNil())
		g.Expect(last.Name).To(Equal(run))
		g.Expect(last.Counts).To(Equal(cdpv1alpha1.DeliveryCounts{Targeted: 3, Sent: 3}))
		g.Expect(last.CompletionTime).NotTo(BeNil())
		g.Expect(camp.Status.Totals.Sent).To(Equal(int64(3)))
		running := meta.FindStatusCondition(camp.Status.Conditions, cdpv1alpha1.ConditionRunning)
		g.Expect(running).NotTo(BeNil())
		g.Expect(running.Reason).To(Equal(cdpv1alpha1.ReasonNotDelivering))
		g.Expect(camp.Status.NextRunTime).To(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())

	// A once campaign runs once: no second Job appears.
	var jobs batchv1.JobList
	if err := k8sClient.List(t.Context(), &jobs, client.InNamespace(ns), client.MatchingLabels{LabelCampaign: "notify-crm"}); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Errorf("%d delivery Jobs, want 1", len(jobs.Items))
	}
}

// setPodEnvironment sets the environment of a Pod's container in this process for the test, as a
// kubelet computes it: every key of the envFrom Secrets under their prefix, then env's literal
// values and Secret keys.
func setPodEnvironment(t *testing.T, ns string, c corev1.Container) {
	t.Helper()
	secretData := func(name string) map[string][]byte {
		t.Helper()
		var s corev1.Secret
		if err := k8sClient.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			t.Fatalf("the Pod's Secret %s: %v", name, err)
		}
		return s.Data
	}
	for _, from := range c.EnvFrom {
		if from.SecretRef == nil {
			t.Fatalf("envFrom %+v is not a Secret", from)
		}
		for key, value := range secretData(from.SecretRef.Name) {
			t.Setenv(from.Prefix+key, string(value))
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			t.Setenv(e.Name, e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			value, ok := secretData(ref.Name)[ref.Key]
			if !ok {
				t.Fatalf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			t.Setenv(e.Name, string(value))
		default:
			t.Fatalf("env %s: a source this test does not resolve", e.Name)
		}
	}
}
