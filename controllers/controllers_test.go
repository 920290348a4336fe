package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: objectMeta(ns, name), Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// smtpChannel is an SMTP channel whose credentials are in the Secret smtp-auth.
func smtpChannel(ns, name string) *cdpv1alpha1.Channel {
	return &cdpv1alpha1.Channel{
		ObjectMeta: objectMeta(ns, name),
		Spec: cdpv1alpha1.ChannelSpec{
			Type: cdpv1alpha1.ChannelSMTP,
			SMTP: &cdpv1alpha1.SMTPChannel{
				Host:          "smtp.example.co.jp",
				From:          cdpv1alpha1.EmailAddress{Address: "news@example.co.jp"},
				AuthSecretRef: &cdpv1alpha1.LocalObjectReference{Name: "smtp-auth"},
			},
		},
	}
}

func configMapDataSource(ns, name, configMap string) *cdpv1alpha1.DataSource {
	return &cdpv1alpha1.DataSource{
		ObjectMeta: objectMeta(ns, name),
		Spec: cdpv1alpha1.DataSourceSpec{
			Type:      cdpv1alpha1.DataSourceRecords,
			Source:    cdpv1alpha1.SourceLocation{ConfigMap: &cdpv1alpha1.ConfigMapKeySelector{Name: configMap, Key: "contacts.csv"}},
			Format:    &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV},
			RecordKey: &cdpv1alpha1.ColumnRef{Column: "id"},
			Identifiers: []cdpv1alpha1.IdentifierMapping{
				{Column: "email", Type: cdpv1alpha1.IdentifierEmail},
			},
			Attributes: []cdpv1alpha1.AttributeMapping{{Name: "last_name"}, {Name: "prefecture"}},
		},
	}
}

func resolution(ns, name string, sources ...string) *cdpv1alpha1.IdentityResolution {
	idr := &cdpv1alpha1.IdentityResolution{
		ObjectMeta: objectMeta(ns, name),
		Spec: cdpv1alpha1.IdentityResolutionSpec{
			Deterministic: []cdpv1alpha1.DeterministicRule{{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}}},
		},
	}
	for _, s := range sources {
		idr.Spec.Sources = append(idr.Spec.Sources, cdpv1alpha1.ResolutionSource{Name: s})
	}
	return idr
}

// attributeSegment selects the customers of resolution "customers" who live in Tokyo.
func attributeSegment(ns, name string) *cdpv1alpha1.Segment {
	return &cdpv1alpha1.Segment{
		ObjectMeta: objectMeta(ns, name),
		Spec: cdpv1alpha1.SegmentSpec{
			ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
			Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{
				Attribute: &cdpv1alpha1.AttributeCondition{Path: "prefecture", Operator: cdpv1alpha1.OpEquals, Value: ptr.To("東京都")},
			}},
		},
	}
}

func membershipSegment(ns, name, resolution, member string) *cdpv1alpha1.Segment {
	return &cdpv1alpha1.Segment{
		ObjectMeta: objectMeta(ns, name),
		Spec: cdpv1alpha1.SegmentSpec{
			ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: resolution},
			Rule: cdpv1alpha1.SegmentRule{All: []cdpv1alpha1.NestedRule{
				{Condition: cdpv1alpha1.Condition{Segment: &cdpv1alpha1.SegmentMembershipCondition{Name: member}}},
				{Condition: cdpv1alpha1.Condition{Identifier: &cdpv1alpha1.IdentifierCondition{Type: cdpv1alpha1.IdentifierEmail}}},
			}},
		},
	}
}

func emailCampaign(ns, name, segment, channel string) *cdpv1alpha1.Campaign {
	return &cdpv1alpha1.Campaign{
		ObjectMeta: objectMeta(ns, name),
		Spec: cdpv1alpha1.CampaignSpec{
			Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: segment}}},
			Trigger:  cdpv1alpha1.CampaignTrigger{Schedule: &cdpv1alpha1.Schedule{Cron: "0 10 * * *", TimeZone: "Asia/Tokyo"}},
			Steps: []cdpv1alpha1.CampaignStep{{
				Name: "welcome",
				Messages: []cdpv1alpha1.StepMessage{{
					ChannelRef: cdpv1alpha1.LocalObjectReference{Name: channel},
					Template: cdpv1alpha1.MessageTemplate{
						Subject: "{{ honorific .Attributes.last_name }}、ようこそ",
						Text:    "ご登録ありがとうございます。",
					},
				}},
			}},
		},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8sClient.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func TestChannelTurnsReadyWhenItsSecretAppears(t *testing.T) {
	ns := newNamespace(t)
	ch := smtpChannel(ns, "email")
	create(t, ch)

	c := eventuallyReady(t, ch, metav1.ConditionFalse, cdpv1alpha1.ReasonSecretNotFound, `Secret "smtp-auth" not found`)
	if !c.LastTransitionTime.Time.Equal(testClock.Now()) {
		t.Errorf("lastTransitionTime = %v, want the injected clock's %v", c.LastTransitionTime, testClock.Now())
	}

	// A Secret without the password key is not enough.
	s := secret(ns, "smtp-auth", map[string]string{"username": "kizuna"})
	create(t, s)
	eventuallyReady(t, ch, metav1.ConditionFalse, cdpv1alpha1.ReasonSecretKeyNotFound, `"password"`)

	s.Data["password"] = []byte("s3cret")
	if err := k8sClient.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	eventuallyReady(t, ch, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	if strings.Contains(conditionsText(t, ch), "s3cret") {
		t.Error("the status shows the Secret's value")
	}
}

// update applies change to the latest version of obj, retrying on conflicts with the controllers'
// status writes.
func update(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change()
		return k8sClient.Update(context.Background(), obj)
	})
	if err != nil {
		t.Fatalf("update %s: %v", obj.GetName(), err)
	}
}

func conditionsText(t *testing.T, obj conditionedObject) string {
	t.Helper()
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range *obj.StatusConditions() {
		b.WriteString(c.Reason + " " + c.Message + "\n")
	}
	return b.String()
}

func TestDataSourceTurnsReadyWhenItsConfigMapAppears(t *testing.T) {
	ns := newNamespace(t)
	ds := configMapDataSource(ns, "meishi", "meishi-cards")
	create(t, ds)
	eventuallyReady(t, ds, metav1.ConditionFalse, cdpv1alpha1.ReasonConfigMapNotFound)

	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "meishi-cards"), Data: map[string]string{"contacts.csv": "id,email\n"}})
	eventuallyReady(t, ds, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
}

func TestDataSourceReportsAScheduleAdmissionCannotCheck(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "cards"), Data: map[string]string{"contacts.csv": "id\n"}})
	ds := configMapDataSource(ns, "cards", "cards")
	ds.Spec.Schedule = &cdpv1alpha1.Schedule{Cron: "0 25 * * *", TimeZone: "Asia/Tokyo"}
	create(t, ds)
	eventuallyReady(t, ds, metav1.ConditionFalse, cdpv1alpha1.ReasonInvalidSchedule, "spec.schedule.cron")

	// Fixing the spec moves observedGeneration along with the generation.
	update(t, ds, func() {
		ds.Spec.Schedule.Cron = "0 5 * * *"
	})
	if ds.Generation < 2 {
		t.Fatalf("generation = %d after a spec update, want 2 or more", ds.Generation)
	}
	eventuallyReady(t, ds, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	if ds.Status.ObservedGeneration != ds.Generation {
		t.Errorf("status.observedGeneration = %d, want %d", ds.Status.ObservedGeneration, ds.Generation)
	}
}

func TestIdentityResolutionFollowsItsDataSources(t *testing.T) {
	ns := newNamespace(t)
	idr := resolution(ns, "customers", "crm")
	create(t, idr)
	eventuallyReady(t, idr, metav1.ConditionFalse, cdpv1alpha1.ReasonDataSourceNotFound)

	// The DataSource exists but is not Ready: its ConfigMap is missing.
	create(t, configMapDataSource(ns, "crm", "crm-export"))
	// The message says which DataSource is not Ready, and why.
	eventuallyReady(t, idr, metav1.ConditionFalse, cdpv1alpha1.ReasonReferenceNotReady,
		`DataSource "crm" is not Ready`, cdpv1alpha1.ReasonConfigMapNotFound)

	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "crm-export"), Data: map[string]string{"contacts.csv": "id\n"}})
	eventuallyReady(t, idr, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
}

func readyResolution(t *testing.T, ns, name string) {
	t.Helper()
	create(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, name+"-export"), Data: map[string]string{"contacts.csv": "id\n"}},
		configMapDataSource(ns, name+"-crm", name+"-export"))
	idr := resolution(ns, name, name+"-crm")
	create(t, idr)
	eventuallyReady(t, idr, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
}

func TestSegmentReportsCyclesAndResolutionMismatch(t *testing.T) {
	ns := newNamespace(t)
	readyResolution(t, ns, "customers")

	a := membershipSegment(ns, "a", "customers", "b")
	b := membershipSegment(ns, "b", "customers", "a")
	create(t, a, b)
	eventuallyReady(t, a, metav1.ConditionFalse, cdpv1alpha1.ReasonSegmentCycle, "a -> b -> a")
	eventuallyReady(t, b, metav1.ConditionFalse, cdpv1alpha1.ReasonSegmentCycle)

	// Breaking the cycle in b lets both become Ready, without a resync for a.
	update(t, b, func() {
		b.Spec.Rule = attributeSegment(ns, "b").Spec.Rule
	})
	eventuallyReady(t, b, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
	eventuallyReady(t, a, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)

	readyResolution(t, ns, "other")
	mixed := membershipSegment(ns, "mixed", "other", "b")
	create(t, mixed)
	eventuallyReady(t, mixed, metav1.ConditionFalse, cdpv1alpha1.ReasonSegmentResolutionMismatch, `"customers"`)
}

func TestSegmentWaitsForItsResolution(t *testing.T) {
	ns := newNamespace(t)
	seg := attributeSegment(ns, "tokyo")
	create(t, seg)
	eventuallyReady(t, seg, metav1.ConditionFalse, cdpv1alpha1.ReasonIdentityResolutionNotFound)
	readyResolution(t, ns, "customers")
	eventuallyReady(t, seg, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
}

func TestDeliveryPolicyChecksItsTimeZone(t *testing.T) {
	ns := newNamespace(t)
	dp := &cdpv1alpha1.DeliveryPolicy{
		ObjectMeta: objectMeta(ns, "default"),
		Spec: cdpv1alpha1.DeliveryPolicySpec{QuietHours: &cdpv1alpha1.QuietHours{
			Start: "21:00", End: "09:00", DefaultTimeZone: "Asia/Kizuna",
		}},
	}
	create(t, dp)
	eventuallyReady(t, dp, metav1.ConditionFalse, cdpv1alpha1.ReasonInvalidTimeZone, "spec.quietHours.defaultTimeZone")
	update(t, dp, func() {
		dp.Spec.QuietHours.DefaultTimeZone = "Asia/Tokyo"
	})
	eventuallyReady(t, dp, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)
}

func TestCampaignFollowsItsReferencesAndChecksTemplates(t *testing.T) {
	ns := newNamespace(t)
	camp := emailCampaign(ns, "welcome", "new-customers", "email")
	create(t, camp)
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonSegmentNotFound)

	readyResolution(t, ns, "customers")
	create(t, attributeSegment(ns, "new-customers"))
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonChannelNotFound)

	create(t, secret(ns, "smtp-auth", map[string]string{"username": "u", "password": "p"}), smtpChannel(ns, "email"))
	eventuallyReady(t, camp, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)

	// A default DeliveryPolicy that is not Ready holds the campaign back.
	dp := &cdpv1alpha1.DeliveryPolicy{ObjectMeta: objectMeta(ns, "default"), Spec: cdpv1alpha1.DeliveryPolicySpec{
		QuietHours: &cdpv1alpha1.QuietHours{Start: "21:00", End: "09:00", DefaultTimeZone: "Mars/Olympus"},
	}}
	create(t, dp)
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonReferenceNotReady)
	update(t, dp, func() {
		dp.Spec.QuietHours.DefaultTimeZone = "Asia/Tokyo"
	})
	eventuallyReady(t, camp, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)

	// A template that reads an attribute no source declares would render it empty in every message.
	update(t, camp, func() {
		camp.Spec.Steps[0].Messages[0].Template.Text = "{{ .Attributes.frist_name }}様"
	})
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonInvalidTemplate, `reads attribute "frist_name", which no DataSource of the resolution declares`)

	update(t, camp, func() {
		camp.Spec.Steps[0].Messages[0].Template.Text = "{{ if .Attributes.vip }}VIP"
	})
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonInvalidTemplate, "spec.steps[0].messages[0].template")

	update(t, camp, func() {
		camp.Spec.Steps[0].Messages[0].Template = cdpv1alpha1.MessageTemplate{Text: "件名のないメール"}
	})
	eventuallyReady(t, camp, metav1.ConditionFalse, cdpv1alpha1.ReasonTemplateIncomplete, "a subject")
}

func TestSteadyStateWritesNothing(t *testing.T) {
	ns := newNamespace(t)
	readyResolution(t, ns, "customers")
	seg := attributeSegment(ns, "tokyo")
	create(t, seg)
	eventuallyReady(t, seg, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)

	watched := []conditionedObject{
		seg,
		&cdpv1alpha1.IdentityResolution{ObjectMeta: objectMeta(ns, "customers")},
		&cdpv1alpha1.DataSource{ObjectMeta: objectMeta(ns, "customers-crm")},
	}
	versions := func() []string {
		var out []string
		for _, o := range watched {
			if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
				t.Fatal(err)
			}
			out = append(out, o.GetResourceVersion())
		}
		return out
	}
	before := versions()
	NewWithT(t).Consistently(versions).WithTimeout(3 * time.Second).WithPolling(250 * time.Millisecond).Should(Equal(before))
}

func TestReadyChangesAreRecordedAsEvents(t *testing.T) {
	ns := newNamespace(t)
	ch := smtpChannel(ns, "email")
	create(t, ch)
	eventuallyReady(t, ch, metav1.ConditionFalse, cdpv1alpha1.ReasonSecretNotFound)
	create(t, secret(ns, "smtp-auth", map[string]string{"username": "u", "password": "p"}))
	eventuallyReady(t, ch, metav1.ConditionTrue, cdpv1alpha1.ReasonReady)

	NewWithT(t).Eventually(func(g Gomega) {
		var events eventsv1.EventList
		g.Expect(k8sClient.List(context.Background(), &events, client.InNamespace(ns))).To(Succeed())
		reasons := map[string]string{}
		for _, e := range events.Items {
			if e.Regarding.Name == "email" && e.Regarding.Kind == "Channel" {
				reasons[e.Reason] = e.Type
			}
		}
		g.Expect(reasons).To(HaveKeyWithValue(cdpv1alpha1.ReasonSecretNotFound, corev1.EventTypeWarning))
		g.Expect(reasons).To(HaveKeyWithValue(cdpv1alpha1.ReasonReady, corev1.EventTypeNormal))
	}).WithTimeout(20 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
}
