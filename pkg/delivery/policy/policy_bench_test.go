package policy

import (
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// BenchmarkNextAllowed measures the quiet-hours decision for one recipient: at an allowed
// instant, and on a Friday night that waits for Monday 09:00 in New York.
func BenchmarkNextAllowed(b *testing.B) {
	p := quietPolicy(b, "21:00", "09:00", weekdaysOnly)
	newYork := zone(b, "America/New_York")
	for _, bc := range []struct{ name, at string }{
		{"allowed", "2026-03-16T11:00:00-04:00"},
		{"over a weekend", "2026-03-20T22:00:00-04:00"},
	} {
		at := instant(b, bc.at)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.NextAllowed(at, cdpv1alpha1.PurposeMarketing, newYork)
			}
		})
	}
}

// BenchmarkLocation measures reading a recipient's zone from the cache.
func BenchmarkLocation(b *testing.B) {
	p := compile(b, nil)
	attributes := map[string]any{"timezone": "America/New_York"}
	b.ReportAllocs()
	for b.Loop() {
		p.Location(attributes)
	}
}

// BenchmarkCapped measures the sample policy's caps over a profile that received 30 messages in
// the last 30 days, the most the cap window makes the caller read for an active customer.
func BenchmarkCapped(b *testing.B) {
	p := samplePolicy(b)
	now := instant(b, "2026-03-16T10:00:00+09:00")
	channels := []cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelLINE, cdpv1alpha1.ChannelPush}
	sends := make([]Send, 30)
	for i := range sends {
		sends[i] = Send{ChannelType: channels[i%len(channels)], Purpose: cdpv1alpha1.PurposeMarketing, At: now.Add(-time.Duration(i) * 24 * time.Hour)}
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Capped(sends, cdpv1alpha1.ChannelSMS, cdpv1alpha1.PurposeMarketing, now)
	}
}

// BenchmarkConsentAllows measures an email opt-in read from a profile attribute, with one
// recorded answer for another channel.
func BenchmarkConsentAllows(b *testing.B) {
	p := compile(b, &cdpv1alpha1.DeliveryPolicySpec{Consent: []cdpv1alpha1.ConsentRequirement{
		{ChannelType: cdpv1alpha1.ChannelSMTP, Purpose: cdpv1alpha1.PurposeMarketing, Mode: cdpv1alpha1.ConsentOptIn, Attribute: "email_opt_in"},
	}})
	attributes := map[string]any{"email_opt_in": "yes", "timezone": "Asia/Tokyo"}
	recorded := []Consent{{ChannelType: cdpv1alpha1.ChannelSMS, Purpose: cdpv1alpha1.PurposeMarketing, At: instant(b, "2026-01-01T00:00:00Z")}}
	b.ReportAllocs()
	for b.Loop() {
		p.ConsentAllows(cdpv1alpha1.ChannelSMTP, cdpv1alpha1.PurposeMarketing, attributes, recorded)
	}
}

// BenchmarkAssign measures one experiment assignment, a SHA-256 of a short input.
func BenchmarkAssign(b *testing.B) {
	exp := winBack(10)
	ids := profileIDs(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Assign("win-back", ids[i%len(ids)], exp)
		i++
	}
}

func BenchmarkShard(b *testing.B) {
	ids := profileIDs(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Shard(ids[i%len(ids)], 16)
		i++
	}
}
