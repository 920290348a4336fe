package policy

import (
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestCompileNamesTheWrongField checks that each invalid spec is refused with the path of the
// field at fault, as a condition message must show it.
func TestCompileNamesTheWrongField(t *testing.T) {
	weekly := cdpv1alpha1.FrequencyCap{Name: "weekly", MaxMessages: 3, Period: "7d"}
	quiet := func(edit func(q *cdpv1alpha1.QuietHours)) *cdpv1alpha1.DeliveryPolicySpec {
		q := &cdpv1alpha1.QuietHours{Start: "21:00", End: "09:00"}
		edit(q)
		return &cdpv1alpha1.DeliveryPolicySpec{QuietHours: q}
	}
	capWith := func(edit func(c *cdpv1alpha1.FrequencyCap)) *cdpv1alpha1.DeliveryPolicySpec {
		c := weekly
		edit(&c)
		return &cdpv1alpha1.DeliveryPolicySpec{FrequencyCaps: []cdpv1alpha1.FrequencyCap{weekly, c}}
	}
	smtpOptIn := cdpv1alpha1.ConsentRequirement{ChannelType: cdpv1alpha1.ChannelSMTP, Purpose: cdpv1alpha1.PurposeMarketing, Mode: cdpv1alpha1.ConsentOptIn}
	consentWith := func(edit func(r *cdpv1alpha1.ConsentRequirement)) *cdpv1alpha1.DeliveryPolicySpec {
		r := smtpOptIn
		edit(&r)
		return &cdpv1alpha1.DeliveryPolicySpec{Consent: []cdpv1alpha1.ConsentRequirement{r}}
	}
	tests := []struct {
		name string
		spec *cdpv1alpha1.DeliveryPolicySpec
		want string
	}{
		{name: "hour 24", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.Start = "24:00" }), want: `spec.quietHours.start: "24:00" is not a time of day`},
		{name: "minute 60", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.End = "09:60" }), want: `spec.quietHours.end: "09:60" is not a time of day`},
		{name: "no leading zero", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.End = "9:00" }), want: `spec.quietHours.end: "9:00" is not a time of day`},
		{name: "a sign", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.End = "+9:00" }), want: `spec.quietHours.end: "+9:00"`},
		{name: "empty", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.Start = "" }), want: `spec.quietHours.start: "" is not a time of day`},
		{name: "an empty window", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.End = "21:00" }), want: "spec.quietHours.start and end are both 21:00"},
		{name: "a day in Japanese", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.AllowedDays = []cdpv1alpha1.Weekday{"Monday", "月曜日"} }), want: `spec.quietHours.allowedDays[1] is "月曜日"`},
		{name: "a lower-case day", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.AllowedDays = []cdpv1alpha1.Weekday{"monday"} }), want: `spec.quietHours.allowedDays[0] is "monday"`},
		{name: "an unknown zone", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.DefaultTimeZone = "Mars/Olympus" }), want: `spec.quietHours.defaultTimeZone: time zone "Mars/Olympus" is not a known IANA zone name`},
		{name: "the machine's zone", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.DefaultTimeZone = "Local" }), want: `spec.quietHours.defaultTimeZone: time zone "Local"`},
		{name: "a quiet purpose", spec: quiet(func(q *cdpv1alpha1.QuietHours) { q.Purposes = []cdpv1alpha1.Purpose{"Promotional"} }), want: `spec.quietHours.purposes[0] is "Promotional"`},
		{name: "a cap without a name", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) { c.Name = "" }), want: "spec.frequencyCaps[1].name is empty"},
		{name: "two caps of one name", spec: capWith(func(*cdpv1alpha1.FrequencyCap) {}), want: `spec.frequencyCaps[1].name "weekly" repeats spec.frequencyCaps[0].name`},
		{name: "no messages", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) { c.Name, c.MaxMessages = "none", 0 }), want: "spec.frequencyCaps[1].maxMessages is 0"},
		{name: "a period in seconds", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) { c.Name, c.Period = "fast", "30s" }), want: `spec.frequencyCaps[1].period: "30s" is not a duration`},
		{name: "a period of 0", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) { c.Name, c.Period = "zero", "0d" }), want: `spec.frequencyCaps[1].period: "0d" is not a duration`},
		{name: "a period beyond 200 years", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) { c.Name, c.Period = "forever", "999999w" }), want: `spec.frequencyCaps[1].period: "999999w" is longer than 200 years`},
		{name: "a channel type in lower case", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) {
			c.Name, c.ChannelTypes = "sms", []cdpv1alpha1.ChannelType{"SMS", "email"}
		}), want: `spec.frequencyCaps[1].channelTypes[1] is "email"`},
		{name: "a cap purpose", spec: capWith(func(c *cdpv1alpha1.FrequencyCap) { c.Name, c.Purpose = "odd", "Newsletter" }), want: `spec.frequencyCaps[1].purpose: "Newsletter" is not a purpose`},
		{name: "a consent channel", spec: consentWith(func(r *cdpv1alpha1.ConsentRequirement) { r.ChannelType = "Email" }), want: `spec.consent[0].channelType is "Email"`},
		{name: "a consent without purpose", spec: consentWith(func(r *cdpv1alpha1.ConsentRequirement) { r.Purpose = "" }), want: `spec.consent[0].purpose is ""`},
		{name: "a consent mode", spec: consentWith(func(r *cdpv1alpha1.ConsentRequirement) { r.Mode = "Implied" }), want: `spec.consent[0].mode is "Implied"`},
		{name: "two requirements for one pair", spec: &cdpv1alpha1.DeliveryPolicySpec{Consent: []cdpv1alpha1.ConsentRequirement{
			smtpOptIn, {ChannelType: cdpv1alpha1.ChannelSMS, Purpose: cdpv1alpha1.PurposeMarketing, Mode: cdpv1alpha1.ConsentOptIn}, smtpOptIn,
		}}, want: "spec.consent[2] repeats the channelType SMTP and purpose Marketing of spec.consent[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.spec)
			if err == nil {
				t.Fatalf("Compile accepted the spec: %+v", p)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileAppliesTheAPIDefaults(t *testing.T) {
	p := compile(t, &cdpv1alpha1.DeliveryPolicySpec{
		FrequencyCaps: []cdpv1alpha1.FrequencyCap{{Name: "daily", MaxMessages: 1, Period: "24h"}},
		QuietHours:    &cdpv1alpha1.QuietHours{Start: "21:00", End: "09:00"},
	})
	if got := p.Location(nil).String(); got != "Asia/Tokyo" {
		t.Errorf("default zone = %s, want Asia/Tokyo", got)
	}
	if got := p.Location(map[string]any{"timezone": "Europe/Paris"}).String(); got != "Europe/Paris" {
		t.Errorf("the zone attribute was not read from timezone: Location = %s", got)
	}
	night := instant(t, "2026-03-16T23:00:00+09:00")
	if got := p.NextAllowed(night, cdpv1alpha1.PurposeTransactional, nil); !got.Equal(night) {
		t.Errorf("quiet hours without purposes held a transactional message until %s: they apply to Marketing only", got)
	}
	if got := p.NextAllowed(night, cdpv1alpha1.PurposeMarketing, nil); got.Equal(night) {
		t.Error("quiet hours without purposes let a marketing message through at 23:00")
	}
	sent := []Send{{ChannelType: cdpv1alpha1.ChannelSMTP, Purpose: cdpv1alpha1.PurposeMarketing, At: night.Add(-time.Hour)}}
	if got := p.Capped(sent, cdpv1alpha1.ChannelSMTP, cdpv1alpha1.PurposeMarketing, night); got != "daily" {
		t.Errorf("a cap without a purpose did not count marketing messages: Capped = %q", got)
	}
}
