package policy

import (
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// The caps of the sample policy: 3 marketing messages a week over every channel, and one
// marketing SMS in 30 days.
func samplePolicy(t testing.TB) *Policy {
	return compile(t, &cdpv1alpha1.DeliveryPolicySpec{FrequencyCaps: []cdpv1alpha1.FrequencyCap{
		{Name: "marketing-weekly", MaxMessages: 3, Period: "7d", Purpose: cdpv1alpha1.PurposeMarketing},
		{Name: "sms-monthly", MaxMessages: 1, Period: "30d", ChannelTypes: []cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelSMS}, Purpose: cdpv1alpha1.PurposeMarketing},
		{Name: "receipts-hourly", MaxMessages: 2, Period: "1h", Purpose: cdpv1alpha1.PurposeTransactional},
	}})
}

func TestCapped(t *testing.T) {
	const (
		smtp, sms, line = cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelSMS, cdpv1alpha1.ChannelLINE
		marketing       = cdpv1alpha1.PurposeMarketing
		transactional   = cdpv1alpha1.PurposeTransactional
		week, day       = 7 * 24 * time.Hour, 24 * time.Hour
	)
	now := instant(t, "2026-03-16T10:00:00+09:00")
	sent := func(ct cdpv1alpha1.ChannelType, purpose cdpv1alpha1.Purpose, ago time.Duration) Send {
		return Send{ChannelType: ct, Purpose: purpose, At: now.Add(-ago)}
	}
	tests := []struct {
		name    string
		sends   []Send
		channel cdpv1alpha1.ChannelType
		purpose cdpv1alpha1.Purpose
		want    string
	}{
		{name: "nothing sent", channel: smtp, purpose: marketing, want: ""},
		{name: "two of three this week", sends: []Send{sent(smtp, marketing, day), sent(line, marketing, 2*day)}, channel: smtp, purpose: marketing, want: ""},
		{name: "three this week over several channels", sends: []Send{sent(smtp, marketing, day), sent(line, marketing, 2*day), sent(smtp, marketing, 3*day)}, channel: line, purpose: marketing, want: "marketing-weekly"},
		{name: "a send exactly one period ago no longer counts", sends: []Send{sent(smtp, marketing, day), sent(line, marketing, 2*day), sent(smtp, marketing, week)}, channel: smtp, purpose: marketing, want: ""},
		{name: "a send a nanosecond inside the period counts", sends: []Send{sent(smtp, marketing, day), sent(line, marketing, 2*day), sent(smtp, marketing, week-time.Nanosecond)}, channel: smtp, purpose: marketing, want: "marketing-weekly"},
		{name: "a send at now counts", sends: []Send{sent(smtp, marketing, 0), sent(line, marketing, 0), sent(smtp, marketing, 0)}, channel: smtp, purpose: marketing, want: "marketing-weekly"},
		{name: "a send stamped after now counts", sends: []Send{sent(smtp, marketing, -time.Minute), sent(line, marketing, day), sent(smtp, marketing, day)}, channel: smtp, purpose: marketing, want: "marketing-weekly"},
		{name: "transactional sends do not count against marketing caps", sends: []Send{sent(smtp, transactional, day), sent(smtp, transactional, 2*day), sent(smtp, transactional, 3*day)}, channel: smtp, purpose: marketing, want: ""},
		{name: "a transactional message is not held by marketing caps", sends: []Send{sent(smtp, marketing, day), sent(sms, marketing, 2*day), sent(smtp, marketing, 3*day)}, channel: sms, purpose: transactional, want: ""},
		{name: "a cap of its own purpose holds a transactional message", sends: []Send{sent(smtp, transactional, time.Minute), sent(sms, transactional, 30*time.Minute)}, channel: smtp, purpose: transactional, want: "receipts-hourly"},
		{name: "the SMS cap counts only SMS", sends: []Send{sent(smtp, marketing, 10*day), sent(line, marketing, 20*day)}, channel: sms, purpose: marketing, want: ""},
		{name: "one SMS in 30 days holds the next SMS", sends: []Send{sent(sms, marketing, 29*day)}, channel: sms, purpose: marketing, want: "sms-monthly"},
		{name: "one SMS in 30 days does not hold an email", sends: []Send{sent(sms, marketing, 29*day)}, channel: smtp, purpose: marketing, want: ""},
		{name: "the first cap in order is reported", sends: []Send{sent(sms, marketing, day), sent(sms, marketing, 2*day), sent(sms, marketing, 3*day)}, channel: sms, purpose: marketing, want: "marketing-weekly"},
		{name: "an unset purpose is marketing", sends: []Send{sent(smtp, "", day), sent(smtp, "", 2*day), sent(smtp, marketing, 3*day)}, channel: smtp, purpose: "", want: "marketing-weekly"},
	}
	p := samplePolicy(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Capped(tt.sends, tt.channel, tt.purpose, now); got != tt.want {
				t.Errorf("Capped(%s, %s) = %q, want %q", tt.channel, tt.purpose, got, tt.want)
			}
		})
	}
}

// TestCappedWithAnEmptyChannelList reads "channelTypes: []", as a manifest may write it, like an
// absent list: every channel counts.
func TestCappedWithAnEmptyChannelList(t *testing.T) {
	p := compile(t, &cdpv1alpha1.DeliveryPolicySpec{FrequencyCaps: []cdpv1alpha1.FrequencyCap{
		{Name: "daily", MaxMessages: 1, Period: "1d", ChannelTypes: []cdpv1alpha1.ChannelType{}},
	}})
	now := instant(t, "2026-03-16T10:00:00+09:00")
	sent := []Send{{ChannelType: cdpv1alpha1.ChannelLINE, Purpose: cdpv1alpha1.PurposeMarketing, At: now.Add(-time.Hour)}}
	if got := p.Capped(sent, cdpv1alpha1.ChannelSMTP, cdpv1alpha1.PurposeMarketing, now); got != "daily" {
		t.Errorf("Capped = %q, want daily", got)
	}
}

func TestCapWindowIsTheLongestPeriod(t *testing.T) {
	if got, want := samplePolicy(t).CapWindow(), 30*24*time.Hour; got != want {
		t.Errorf("CapWindow() = %s, want %s", got, want)
	}
	if got := compile(t, nil).CapWindow(); got != 0 {
		t.Errorf("CapWindow() = %s without caps, want 0", got)
	}
	if got := compile(t, nil).Capped([]Send{{ChannelType: cdpv1alpha1.ChannelSMTP, At: time.Now()}}, cdpv1alpha1.ChannelSMTP, cdpv1alpha1.PurposeMarketing, time.Now()); got != "" {
		t.Errorf("the permissive policy capped a message: %q", got)
	}
}
