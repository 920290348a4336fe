package policy

import (
	"slices"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Send is a message a profile already received, from any campaign, as the ledger records it.
type Send struct {
	ChannelType cdpv1alpha1.ChannelType
	Purpose     cdpv1alpha1.Purpose
	At          time.Time
}

type frequencyCap struct {
	name   string
	max    int
	period time.Duration
	// channels the cap counts; none counts every channel together.
	channels []cdpv1alpha1.ChannelType
	purpose  cdpv1alpha1.Purpose
}

func (c *frequencyCap) counts(channelType cdpv1alpha1.ChannelType, purpose cdpv1alpha1.Purpose) bool {
	return c.purpose == effectivePurpose(purpose) && (len(c.channels) == 0 || slices.Contains(c.channels, channelType))
}

// Capped returns the name of the first cap, in the policy's order, that a new message on the
// channel type and of the purpose would exceed, or "" when every cap leaves room. A cap counts
// the sends of its purpose and channel types whose time lies within its period before now: a send
// exactly one period ago no longer counts, and a send stamped after now (another worker's clock
// running ahead) does, so that clock skew never lets an extra message through.
func (p *Policy) Capped(sends []Send, channelType cdpv1alpha1.ChannelType, purpose cdpv1alpha1.Purpose, now time.Time) (capName string) {
	for i := range p.caps {
		c := &p.caps[i]
		if !c.counts(channelType, purpose) {
			continue
		}
		since := now.Add(-c.period)
		n := 0
		for _, s := range sends {
			if s.At.After(since) && c.counts(s.ChannelType, s.Purpose) {
				n++
			}
		}
		if n >= c.max {
			return c.name
		}
	}
	return ""
}

// CapWindow is the longest period of the policy's caps: the caller reads a profile's sends this
// far back from now, and older ones change no decision. It is zero when the policy has no caps.
func (p *Policy) CapWindow() time.Duration {
	return p.capWindow
}
