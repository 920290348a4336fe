package policy

import (
	"encoding/json"
	"strings"
	"testing"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

func TestConsentAllows(t *testing.T) {
	const (
		smtp, sms, line, push = cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelSMS, cdpv1alpha1.ChannelLINE, cdpv1alpha1.ChannelPush
		webhook               = cdpv1alpha1.ChannelWebhook
		marketing             = cdpv1alpha1.PurposeMarketing
		transactional         = cdpv1alpha1.PurposeTransactional
	)
	// The sample policy, and an SMS opt-in without an attribute: only a recorded yes counts.
	p := compile(t, &cdpv1alpha1.DeliveryPolicySpec{Consent: []cdpv1alpha1.ConsentRequirement{
		{ChannelType: smtp, Purpose: marketing, Mode: cdpv1alpha1.ConsentOptIn, Attribute: "email_opt_in"},
		{ChannelType: sms, Purpose: marketing, Mode: cdpv1alpha1.ConsentOptIn},
		{ChannelType: line, Purpose: marketing, Mode: cdpv1alpha1.ConsentOptOut},
		{ChannelType: push, Purpose: marketing, Mode: cdpv1alpha1.ConsentOptOut, Attribute: "push_allowed"},
	}})
	record := func(ct cdpv1alpha1.ChannelType, purpose cdpv1alpha1.Purpose, granted bool, at string) Consent {
		return Consent{ChannelType: ct, Purpose: purpose, Granted: granted, At: instant(t, at)}
	}
	tests := []struct {
		name       string
		channel    cdpv1alpha1.ChannelType
		purpose    cdpv1alpha1.Purpose
		attributes map[string]any
		recorded   []Consent
		want       bool
		reason     string
	}{
		// OptIn with an attribute.
		{name: "opt-in: yes", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": true}, want: true, reason: "attribute email_opt_in says yes"},
		{name: "opt-in: no", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": false}, want: false, reason: "attribute email_opt_in says no"},
		{name: "opt-in: not set", channel: smtp, purpose: marketing, want: false, reason: "need an opt-in, and attribute email_opt_in is not set"},
		{name: "opt-in: empty", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": ""}, want: false, reason: "email_opt_in is not set"},
		{name: "opt-in: blank", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": "  "}, want: false, reason: "email_opt_in is not set"},
		{name: "opt-in: nil", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": nil}, want: false, reason: "email_opt_in is not set"},
		{name: "opt-in: unreadable", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": "maybe"}, want: false, reason: "email_opt_in holds neither a yes nor a no"},
		{name: "opt-in: a recorded yes wins over the attribute's no", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": false},
			recorded: []Consent{record(smtp, marketing, true, "2026-01-01T00:00:00Z")}, want: true, reason: "the recipient agreed to SMTP Marketing messages"},
		{name: "opt-in: a recorded no wins over the attribute's yes", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": true},
			recorded: []Consent{record(smtp, marketing, false, "2026-01-01T00:00:00Z")}, want: false, reason: "the recipient refused SMTP Marketing messages"},
		{name: "opt-in: the latest record wins", channel: smtp, purpose: marketing, recorded: []Consent{
			record(smtp, marketing, false, "2026-01-01T00:00:00Z"), record(smtp, marketing, true, "2026-02-01T00:00:00Z"), record(smtp, marketing, false, "2025-12-01T00:00:00Z"),
		}, want: true, reason: "agreed"},
		{name: "opt-in: a refusal wins a tie", channel: smtp, purpose: marketing, recorded: []Consent{
			record(smtp, marketing, true, "2026-01-01T00:00:00Z"), record(smtp, marketing, false, "2026-01-01T00:00:00Z"), record(smtp, marketing, true, "2026-01-01T00:00:00Z"),
		}, want: false, reason: "refused"},
		{name: "opt-in: records of other pairs are not consent", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": false}, recorded: []Consent{
			record(sms, marketing, true, "2026-01-01T00:00:00Z"), record(smtp, transactional, true, "2026-01-01T00:00:00Z"),
		}, want: false, reason: "says no"},

		// OptIn without an attribute: only recorded consent.
		{name: "opt-in without attribute: nothing recorded", channel: sms, purpose: marketing, attributes: map[string]any{"sms_opt_in": true}, want: false, reason: "SMS Marketing messages need an opt-in, and the recipient has recorded none"},
		{name: "opt-in without attribute: recorded yes", channel: sms, purpose: marketing, recorded: []Consent{record(sms, marketing, true, "2026-01-01T00:00:00Z")}, want: true, reason: "agreed"},

		// OptOut.
		{name: "opt-out: nothing recorded", channel: line, purpose: marketing, want: true, reason: "the recipient has not refused LINE Marketing messages"},
		{name: "opt-out: recorded no", channel: line, purpose: marketing, recorded: []Consent{record(line, marketing, false, "2026-01-01T00:00:00Z")}, want: false, reason: "refused"},
		{name: "opt-out: attribute not set", channel: push, purpose: marketing, want: true, reason: "push_allowed is not set"},
		{name: "opt-out: attribute no", channel: push, purpose: marketing, attributes: map[string]any{"push_allowed": "no"}, want: false, reason: "says no"},
		{name: "opt-out: attribute yes", channel: push, purpose: marketing, attributes: map[string]any{"push_allowed": 1.0}, want: true, reason: "says yes"},
		{name: "opt-out: unreadable attribute", channel: push, purpose: marketing, attributes: map[string]any{"push_allowed": 2.0}, want: false, reason: "neither a yes nor a no"},
		{name: "opt-out: a recorded yes wins over the attribute's no", channel: push, purpose: marketing, attributes: map[string]any{"push_allowed": false},
			recorded: []Consent{record(push, marketing, true, "2026-01-01T00:00:00Z")}, want: true, reason: "agreed"},

		// Pairs without a requirement.
		{name: "no requirement", channel: webhook, purpose: marketing, want: true, reason: "the policy requires no consent for Webhook Marketing messages"},
		{name: "no requirement, but the recipient unsubscribed", channel: webhook, purpose: marketing, recorded: []Consent{record(webhook, marketing, false, "2026-01-01T00:00:00Z")}, want: false, reason: "refused"},
		{name: "transactional email under a marketing opt-in", channel: smtp, purpose: transactional, attributes: map[string]any{"email_opt_in": false}, want: true, reason: "requires no consent for SMTP Transactional"},
		{name: "transactional email after a marketing unsubscribe", channel: smtp, purpose: transactional, recorded: []Consent{record(smtp, marketing, false, "2026-01-01T00:00:00Z")}, want: true, reason: "requires no consent"},
		{name: "an unset purpose is marketing", channel: smtp, purpose: "", attributes: map[string]any{"email_opt_in": false}, want: false, reason: "SMTP Marketing"},
		{name: "a record without purpose is marketing", channel: smtp, purpose: marketing, attributes: map[string]any{"email_opt_in": true},
			recorded: []Consent{record(smtp, "", false, "2026-01-01T00:00:00Z")}, want: false, reason: "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := p.ConsentAllows(tt.channel, tt.purpose, tt.attributes, tt.recorded)
			if got != tt.want || !strings.Contains(reason, tt.reason) {
				t.Errorf("ConsentAllows = %v, %q; want %v and a reason containing %q", got, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestReadBoolean(t *testing.T) {
	tests := []struct {
		in      any
		yes, ok bool
	}{
		{true, true, true}, {false, false, true},
		{1.0, true, true}, {0.0, false, true}, {0.5, false, false}, {-1.0, false, false},
		{1, true, true}, {0, false, true}, {2, false, false},
		{int64(1), true, true}, {int64(0), false, true},
		{json.Number("1"), true, true}, {json.Number("0"), false, true}, {json.Number("1.0"), false, false},
		{"true", true, true}, {"TRUE", true, true}, {" Yes ", true, true}, {"y", true, true}, {"t", true, true}, {"on", true, true}, {"1", true, true},
		{"はい", true, true}, {"有", true, true}, {"ＹＥＳ", true, true}, {"１", true, true},
		{"false", false, true}, {"No", false, true}, {"n", false, true}, {"f", false, true}, {"off", false, true}, {"0", false, true},
		{"いいえ", false, true}, {"無", false, true}, {"ｆａｌｓｅ", false, true},
		{"maybe", false, false}, {"2", false, false}, {"yes please", false, false},
		{[]string{"yes"}, false, false}, {map[string]any{}, false, false},
	}
	for _, tt := range tests {
		yes, ok := readBoolean(tt.in)
		if yes != tt.yes || ok != tt.ok {
			t.Errorf("readBoolean(%#v) = %v, %v; want %v, %v", tt.in, yes, ok, tt.yes, tt.ok)
		}
	}
}
