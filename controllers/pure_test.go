package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/template"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
)

func TestSetConditions(t *testing.T) {
	spec := &problem{cdpv1alpha1.ReasonInvalidSchedule, "bad cron"}
	missing := &problem{cdpv1alpha1.ReasonSecretNotFound, "no secret"}
	notReady := &problem{cdpv1alpha1.ReasonReferenceNotReady, "not ready"}
	tests := []struct {
		name       string
		a          assessment
		wantReady  metav1.ConditionStatus
		wantReason string
		wantRefs   bool
	}{
		{"all good", assessment{hasReferences: true}, metav1.ConditionTrue, cdpv1alpha1.ReasonReady, true},
		{"no references", assessment{}, metav1.ConditionTrue, cdpv1alpha1.ReasonReady, false},
		{"spec first", assessment{hasReferences: true, spec: spec, missing: missing, notReady: notReady}, metav1.ConditionFalse, spec.Reason, true},
		{"missing before not ready", assessment{hasReferences: true, missing: missing, notReady: notReady}, metav1.ConditionFalse, missing.Reason, true},
		{"not ready", assessment{hasReferences: true, notReady: notReady}, metav1.ConditionFalse, notReady.Reason, true},
	}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conds []metav1.Condition
			setConditions(&conds, 7, now, tt.a)
			ready := meta.FindStatusCondition(conds, cdpv1alpha1.ConditionReady)
			if ready == nil || ready.Status != tt.wantReady || ready.Reason != tt.wantReason || ready.ObservedGeneration != 7 {
				t.Fatalf("Ready = %+v, want %s/%s at generation 7", ready, tt.wantReady, tt.wantReason)
			}
			if got := meta.FindStatusCondition(conds, cdpv1alpha1.ConditionReferencesResolved) != nil; got != tt.wantRefs {
				t.Errorf("ReferencesResolved present = %v, want %v", got, tt.wantRefs)
			}
			if meta.FindStatusCondition(conds, cdpv1alpha1.ConditionSpecValid) == nil {
				t.Error("SpecValid missing")
			}
		})
	}
}

func TestSetConditionsKeepsTransitionTimeWhileStatusHolds(t *testing.T) {
	var conds []metav1.Condition
	first := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	setConditions(&conds, 1, first, assessment{hasReferences: true, missing: &problem{"SecretNotFound", "a"}})
	setConditions(&conds, 2, first.Add(time.Hour), assessment{hasReferences: true, missing: &problem{"SecretKeyNotFound", "b"}})
	ready := meta.FindStatusCondition(conds, cdpv1alpha1.ConditionReady)
	if !ready.LastTransitionTime.Time.Equal(first) || ready.Reason != "SecretKeyNotFound" || ready.ObservedGeneration != 2 {
		t.Fatalf("Ready = %+v, want the first transition time with the new reason", ready)
	}
	setConditions(&conds, 2, first.Add(2*time.Hour), assessment{hasReferences: true})
	if ready := meta.FindStatusCondition(conds, cdpv1alpha1.ConditionReady); !ready.LastTransitionTime.Time.Equal(first.Add(2 * time.Hour)) {
		t.Fatalf("lastTransitionTime = %v after a transition, want %v", ready.LastTransitionTime, first.Add(2*time.Hour))
	}
}

func TestFindCycle(t *testing.T) {
	tests := []struct {
		name  string
		start string
		edges map[string][]string
		want  []string
	}{
		{"no edges", "a", map[string][]string{}, nil},
		{"chain", "a", map[string][]string{"a": {"b"}, "b": {"c"}}, nil},
		{"self", "a", map[string][]string{"a": {"a"}}, []string{"a", "a"}},
		{"two", "a", map[string][]string{"a": {"b"}, "b": {"a"}}, []string{"a", "b", "a"}},
		{"three", "a", map[string][]string{"a": {"c", "b"}, "b": {"d"}, "c": {"b"}, "d": {"a"}}, []string{"a", "b", "d", "a"}},
		{"cycle elsewhere", "a", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"b"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findCycle(tt.start, tt.edges); !slices.Equal(got, tt.want) {
				t.Fatalf("findCycle = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSegmentReferencedSegmentsWalksEveryLevel(t *testing.T) {
	member := func(name string) cdpv1alpha1.Condition {
		return cdpv1alpha1.Condition{Segment: &cdpv1alpha1.SegmentMembershipCondition{Name: name}}
	}
	seg := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{Rule: cdpv1alpha1.SegmentRule{
		All: []cdpv1alpha1.NestedRule{
			{Condition: member("top")},
			{Any: []cdpv1alpha1.LeafRule{{Condition: member("leaf-any")}, {Negate: true, Condition: member("leaf-negated")}}},
			{Not: &cdpv1alpha1.LeafRule{Condition: member("leaf-not")}},
			{All: []cdpv1alpha1.LeafRule{{Condition: member("top")}}},
		},
	}}}
	want := []string{"leaf-any", "leaf-negated", "leaf-not", "top"}
	if got := segmentReferencedSegments(seg); !slices.Equal(got, want) {
		t.Fatalf("segmentReferencedSegments = %v, want %v", got, want)
	}
}

func TestReferencedNames(t *testing.T) {
	ds := &cdpv1alpha1.DataSource{Spec: cdpv1alpha1.DataSourceSpec{Source: cdpv1alpha1.SourceLocation{
		Postgres: &cdpv1alpha1.PostgresQuery{ConnectionSecretRef: cdpv1alpha1.SecretKeySelector{Name: "pg", Key: "dsn"}},
	}}}
	if got := dataSourceSecrets(ds); !slices.Equal(got, []string{"pg"}) {
		t.Errorf("dataSourceSecrets = %v", got)
	}
	if got := dataSourceConfigMaps(ds); got != nil {
		t.Errorf("dataSourceConfigMaps = %v, want none", got)
	}

	camp := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{
		Audience: cdpv1alpha1.Audience{
			Include: []cdpv1alpha1.LocalObjectReference{{Name: "lapsed"}, {Name: "vip"}},
			Exclude: []cdpv1alpha1.LocalObjectReference{{Name: "complained"}},
		},
		Steps: []cdpv1alpha1.CampaignStep{
			{Name: "first", Messages: []cdpv1alpha1.StepMessage{{ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "line"}}, {ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "email"}}}},
			{Name: "reminder", Messages: []cdpv1alpha1.StepMessage{{ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "email"}}}},
		},
	}}
	if got := campaignSegments(camp); !slices.Equal(got, []string{"complained", "lapsed", "vip"}) {
		t.Errorf("campaignSegments = %v", got)
	}
	if got := campaignChannels(camp); !slices.Equal(got, []string{"email", "line"}) {
		t.Errorf("campaignChannels = %v", got)
	}
	if got := campaignPolicy(camp); got != cdpv1alpha1.DefaultDeliveryPolicyName {
		t.Errorf("campaignPolicy = %q, want the default", got)
	}
	camp.Spec.PolicyRef = &cdpv1alpha1.LocalObjectReference{Name: "strict"}
	if got := campaignPolicy(camp); got != "strict" {
		t.Errorf("campaignPolicy = %q, want strict", got)
	}

	ch := &cdpv1alpha1.Channel{Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelSMS, SMS: &cdpv1alpha1.SMSChannel{
		Provider: "Vonage", CredentialsSecretRef: cdpv1alpha1.LocalObjectReference{Name: "vonage"},
	}}}
	needs := channelSecretKeys(ch)
	if len(needs) != 1 || needs[0].secret != "vonage" || !slices.Equal(needs[0].keys, []string{"apiKey", "apiSecret"}) {
		t.Errorf("channelSecretKeys = %+v", needs)
	}
	if got := channelSecrets(ch); !slices.Equal(got, []string{"vonage"}) {
		t.Errorf("channelSecrets = %v", got)
	}
}

func TestMissingTemplateParts(t *testing.T) {
	tests := []struct {
		channel cdpv1alpha1.ChannelType
		tmpl    cdpv1alpha1.MessageTemplate
		want    string
	}{
		{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.MessageTemplate{Subject: "s", HTML: "<p>h</p>"}, ""},
		{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.MessageTemplate{Text: "t"}, "a subject"},
		{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.MessageTemplate{Subject: "s", Payload: "{}"}, "text or html"},
		{cdpv1alpha1.ChannelSMS, cdpv1alpha1.MessageTemplate{Payload: "{}"}, "text"},
		{cdpv1alpha1.ChannelPush, cdpv1alpha1.MessageTemplate{Text: "t"}, ""},
		{cdpv1alpha1.ChannelLINE, cdpv1alpha1.MessageTemplate{Payload: `{"type":"flex"}`}, ""},
		{cdpv1alpha1.ChannelLINE, cdpv1alpha1.MessageTemplate{HTML: "<p/>"}, "text or a Flex message payload"},
		{cdpv1alpha1.ChannelWebhook, cdpv1alpha1.MessageTemplate{Text: "t"}, "a payload"},
	}
	for _, tt := range tests {
		if got := missingTemplateParts(tt.channel, tt.tmpl); got != tt.want {
			t.Errorf("missingTemplateParts(%s, %+v) = %q, want %q", tt.channel, tt.tmpl, got, tt.want)
		}
	}
}

// The parts each channel type needs are checked twice before a run: by missingTemplateParts
// (reason TemplateIncomplete) and by template.Check (InvalidTemplate, and every later check of a
// template). They must agree on every channel type and every set of parts, or a Campaign is
// refused by one for a template the other accepts.
func TestMissingTemplatePartsAgreesWithTemplateCheck(t *testing.T) {
	channels := []cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelWebhook, cdpv1alpha1.ChannelSMS,
		cdpv1alpha1.ChannelLINE, cdpv1alpha1.ChannelPush}
	for _, channel := range channels {
		for set := range 1 << 4 {
			// Each part is fine for every channel that sends it, so that Check's only problem
			// can be a part that is missing.
			var tmpl cdpv1alpha1.MessageTemplate
			if set&1 != 0 {
				tmpl.Subject = "ご案内"
			}
			if set&2 != 0 {
				tmpl.Text = "こんにちは"
			}
			if set&4 != 0 {
				tmpl.HTML = "<p>こんにちは</p>"
			}
			if set&8 != 0 {
				tmpl.Payload = `{"type": "text", "text": "こんにちは"}`
			}
			missing := missingTemplateParts(channel, tmpl)
			report := template.Check(template.Parts{Subject: tmpl.Subject, Text: tmpl.Text, HTML: tmpl.HTML, Payload: tmpl.Payload},
				nil, template.ChannelKind(channel), nil)
			if (missing == "") != (report.Err() == nil) {
				t.Errorf("%s with subject %t, text %t, html %t, payload %t: missingTemplateParts says %q, template.Check says %v",
					channel, tmpl.Subject != "", tmpl.Text != "", tmpl.HTML != "", tmpl.Payload != "", missing, report.Err())
			}
		}
	}
}

func TestValidateDataSource(t *testing.T) {
	ds := &cdpv1alpha1.DataSource{Spec: cdpv1alpha1.DataSourceSpec{
		Attributes: []cdpv1alpha1.AttributeMapping{
			{Name: "joined_at", Type: cdpv1alpha1.AttributeTimestamp, TimeZone: "Asia/Tokyo"},
			{Name: "last_login", Type: cdpv1alpha1.AttributeTimestamp, TimeZone: "Asia/Edo"},
		},
	}}
	p := validateDataSource(ds)
	if p == nil || p.Reason != cdpv1alpha1.ReasonInvalidTimeZone || !strings.Contains(p.Message, "spec.attributes[1].timeZone") {
		t.Fatalf("validateDataSource = %v, want InvalidTimeZone naming spec.attributes[1].timeZone", p)
	}
	ds.Spec.Attributes[1].TimeZone = "UTC"
	ds.Spec.Schedule = &cdpv1alpha1.Schedule{Cron: "@hourly", TimeZone: "Asia/Tokyo"}
	if p := validateDataSource(ds); p != nil {
		t.Fatalf("validateDataSource = %v, want nil", p)
	}
	ds.Spec.Schedule.Cron = "* * * * 8"
	if p := validateDataSource(ds); p == nil || p.Reason != cdpv1alpha1.ReasonInvalidSchedule {
		t.Fatalf("validateDataSource = %v, want InvalidSchedule", p)
	}
}

func TestEvaluationDue(t *testing.T) {
	last := time.Date(2026, 11, 23, 9, 0, 10, 500_000_000, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: last.Add(d).Truncate(time.Second)} }
	evaluated := func(generation int64) *cdpv1alpha1.Segment {
		s := &cdpv1alpha1.Segment{}
		s.Name, s.Generation = "buyers", generation
		s.Spec.Rule.Segment = &cdpv1alpha1.SegmentMembershipCondition{Name: "kanto"}
		s.Status.LastEvaluationTime = &metav1.Time{Time: last.Truncate(time.Second)}
		s.Status.EvaluatedResolutionGeneration = 3
		s.Status.Conditions = []metav1.Condition{{Type: cdpv1alpha1.ConditionEvaluated, Status: metav1.ConditionTrue, ObservedGeneration: 2}}
		return s
	}
	idr := func(published int64) *cdpv1alpha1.IdentityResolution {
		r := &cdpv1alpha1.IdentityResolution{}
		r.Status.PublishedGeneration = published
		return r
	}
	events := func(synced *metav1.Time) []cdpv1alpha1.DataSource {
		ds := cdpv1alpha1.DataSource{}
		ds.Spec.Type = cdpv1alpha1.DataSourceEvents
		ds.Status.LastSuccessfulSyncTime = synced
		return []cdpv1alpha1.DataSource{ds}
	}
	kanto := func(evaluatedAt *metav1.Time) []cdpv1alpha1.Segment {
		s := cdpv1alpha1.Segment{}
		s.Name = "kanto"
		s.Status.LastEvaluationTime = evaluatedAt
		return []cdpv1alpha1.Segment{s}
	}
	hourly, err := schedule.Parse("0 * * * *", "Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	never := evaluated(2)
	never.Status.LastEvaluationTime = nil
	for _, tc := range []struct {
		name     string
		seg      *cdpv1alpha1.Segment
		idr      *cdpv1alpha1.IdentityResolution
		sources  []cdpv1alpha1.DataSource
		segments []cdpv1alpha1.Segment
		now      time.Time
		want     string
	}{
		{"nothing changed", evaluated(2), idr(3), events(at(-time.Minute)), kanto(at(-time.Minute)), last.Add(time.Minute), ""},
		{"never evaluated", never, idr(3), nil, nil, last, "never evaluated"},
		{"spec changed", evaluated(5), idr(3), nil, nil, last, "the spec changed, or the last evaluation failed"},
		{"new generation", evaluated(2), idr(4), nil, nil, last, "the resolution published new profiles"},
		{"events synced after", evaluated(2), idr(3), events(at(2 * time.Second)), nil, last.Add(3 * time.Second), reasonNewEvents},
		// In the same second as the evaluation: the sync may have committed after it started.
		{"events synced in the same second", evaluated(2), idr(3), events(at(0)), nil, last.Add(3 * time.Second), reasonNewEvents},
		{"events synced the second before", evaluated(2), idr(3), events(at(-time.Second)), nil, last.Add(3 * time.Second), ""},
		{"referenced segment evaluated after", evaluated(2), idr(3), nil, kanto(at(time.Minute)), last.Add(2 * time.Minute), reasonReferenceChanged},
		{"referenced segment evaluated in the same second", evaluated(2), idr(3), nil, kanto(at(0)), last.Add(3 * time.Second), reasonReferenceChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := evaluationDue(tc.seg, tc.idr, tc.sources, tc.segments, nil, tc.now); got != tc.want {
				t.Errorf("evaluationDue = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("schedule", func(t *testing.T) {
		seg := evaluated(2)
		if got := evaluationDue(seg, idr(3), nil, nil, hourly, last.Add(30*time.Minute)); got != "" {
			t.Errorf("before the hour: %q, want nothing due", got)
		}
		if got := evaluationDue(seg, idr(3), nil, nil, hourly, last.Add(time.Hour)); got != "a scheduled time came" {
			t.Errorf("after the hour: %q, want the schedule", got)
		}
	})
}
