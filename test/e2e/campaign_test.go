package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/test/mailsink"
)

// TestCampaignDeliversThroughJobsToSMTPAndWebhook runs a campaign of two steps, an email and a
// webhook notification, over a segment of resolved profiles, through a real Indexed Job with two
// Pods: the messages arrive at a real SMTP server and at a webhook receiver, and the campaign's
// status counts exactly what arrived.
func TestCampaignDeliversThroughJobsToSMTPAndWebhook(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	sink, err := mailsink.Start(mailsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sink.Stop() }()
	var mu sync.Mutex
	hooked := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var payload struct{ Email string }
		if json.Unmarshal(body, &payload) != nil || r.Header.Get("Kizuna-Signature") == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		hooked[payload.Email]++
		mu.Unlock()
	}))
	defer hook.Close()

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
	createObject(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"},
		StringData: map[string]string{"key": "0123456789abcdef0123456789abcdef"}})
	createObject(t, &cdpv1alpha1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "email"},
		Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelSMTP, SMTP: &cdpv1alpha1.SMTPChannel{
			Host: sink.SMTPHost(), Port: int32(sink.SMTPPort()), TLS: cdpv1alpha1.TLSModeNone,
			From: cdpv1alpha1.EmailAddress{Address: "news@kizuna-store.example", Name: "絆ストア"},
		}}})
	createObject(t, &cdpv1alpha1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm-hook"},
		Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelWebhook, Webhook: &cdpv1alpha1.WebhookChannel{
			URL: hook.URL + "/kizuna", SigningSecretRef: cdpv1alpha1.SecretKeySelector{Name: "hook", Key: "key"},
		}}})
	camp := &cdpv1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "thanks"}, Spec: cdpv1alpha1.CampaignSpec{
		Audience:    cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "spenders"}}},
		Trigger:     cdpv1alpha1.CampaignTrigger{Once: &cdpv1alpha1.OnceTrigger{At: metav1.Time{Time: time.Now().Add(-time.Hour)}}},
		Parallelism: ptr.To(int32(2)),
		Steps: []cdpv1alpha1.CampaignStep{
			{Name: "mail", Messages: []cdpv1alpha1.StepMessage{{
				ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "email"},
				Template:   cdpv1alpha1.MessageTemplate{Subject: "{{ honorific .Attributes.name }}、ありがとうございます", Text: "いつもありがとうございます。"},
			}}},
			{Name: "notify-crm", Messages: []cdpv1alpha1.StepMessage{{
				ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "crm-hook"},
				Template:   cdpv1alpha1.MessageTemplate{Payload: `{"email": "{{ .Identifiers.Email }}"}`},
			}}},
		},
	}}
	createObject(t, camp)

	// 佐藤, 鈴木 and 高橋 spent 200 or more; 高橋 has no email: the mail step suppresses him,
	// the webhook, which needs no address, is sent for all three.
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(camp), camp)).To(Succeed())
		last := camp.Status.LastRun
		g.Expect(last).NotTo(BeNil(), "no run yet")
		g.Expect(last.CompletionTime).NotTo(BeNil(), "run %s not complete: %+v", last.Name, last.Counts)
		g.Expect(last.Counts).To(Equal(cdpv1alpha1.DeliveryCounts{Targeted: 6, Sent: 5, Suppressed: 1}))
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
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 3 || hooked["hanako@example.jp"] != 1 || hooked["jiro@example.jp"] != 1 || hooked[""] != 1 {
		t.Errorf("the webhook received %v, want one post for each of the three spenders", hooked)
	}
}
