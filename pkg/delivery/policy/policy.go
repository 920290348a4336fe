// Package policy decides, for one recipient and one message, what a DeliveryPolicy and a
// Campaign's experiment allow: whether consent permits the message, whether a frequency cap holds
// it back, when quiet hours let it go out, and which variant of an experiment the recipient sees.
//
// Every decision is a pure function of its arguments: the package reads no store and no clock, so
// the campaign worker passes the current time, the profile's attributes, its recent sends and its
// recorded consent, and gets the same answer for the same inputs in every process.
package policy

import (
	"fmt"
	"slices"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
)

// The API's defaults, applied here too so that a spec read from a manifest without admission
// (the local commands) means what the cluster would make of it.
const (
	defaultTimeZoneAttribute = "timezone"
	defaultTimeZone          = "Asia/Tokyo"
)

// Policy is a compiled DeliveryPolicy. It is immutable after Compile except for its cache of time
// zones, and safe for concurrent use.
type Policy struct {
	caps      []frequencyCap
	capWindow time.Duration

	// quiet is nil when the policy has no quiet hours.
	quiet *quietHours

	consent map[channelPurpose]consentRule

	zoneAttribute string
	defaultZone   *time.Location
	zones         zoneCache
}

type channelPurpose struct {
	channel cdpv1alpha1.ChannelType
	purpose cdpv1alpha1.Purpose
}

// Compile validates a DeliveryPolicy's spec and prepares it for per-recipient decisions. A nil
// spec is the permissive policy: no caps, no quiet hours, no consent requirement. An error names
// the field that is wrong and says how to write it.
func Compile(spec *cdpv1alpha1.DeliveryPolicySpec) (*Policy, error) {
	p := &Policy{consent: map[channelPurpose]consentRule{}, zoneAttribute: defaultTimeZoneAttribute}
	defaultZoneName := defaultTimeZone
	if spec == nil {
		spec = &cdpv1alpha1.DeliveryPolicySpec{}
	}
	if err := p.compileCaps(spec.FrequencyCaps); err != nil {
		return nil, err
	}
	if qh := spec.QuietHours; qh != nil {
		q, err := compileQuietHours(qh)
		if err != nil {
			return nil, err
		}
		p.quiet = q
		if qh.TimeZoneAttribute != "" {
			p.zoneAttribute = string(qh.TimeZoneAttribute)
		}
		if qh.DefaultTimeZone != "" {
			defaultZoneName = qh.DefaultTimeZone
		}
	}
	zone, err := schedule.LoadLocation(defaultZoneName)
	if err != nil {
		return nil, fmt.Errorf("spec.quietHours.defaultTimeZone: %w", err)
	}
	p.defaultZone = zone
	if err := p.compileConsent(spec.Consent); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) compileCaps(caps []cdpv1alpha1.FrequencyCap) error {
	seen := map[string]int{}
	for i, c := range caps {
		field := fmt.Sprintf("spec.frequencyCaps[%d]", i)
		if c.Name == "" {
			return fmt.Errorf("%s.name is empty: name the cap, e.g. marketing-weekly, so that held messages say which cap held them", field)
		}
		if j, dup := seen[c.Name]; dup {
			return fmt.Errorf("%s.name %q repeats spec.frequencyCaps[%d].name: give each cap its own name", field, c.Name, j)
		}
		seen[c.Name] = i
		if c.MaxMessages < 1 {
			return fmt.Errorf("%s.maxMessages is %d: allow at least 1 message per period", field, c.MaxMessages)
		}
		period, err := c.Period.Parse()
		if err != nil {
			return fmt.Errorf("%s.period: %w", field, err)
		}
		for k, ct := range c.ChannelTypes {
			if !validChannelType(ct) {
				return fmt.Errorf("%s.channelTypes[%d] is %q: write one of SMTP, Webhook, SMS, LINE or Push", field, k, ct)
			}
		}
		purpose, err := purposeOrDefault(c.Purpose)
		if err != nil {
			return fmt.Errorf("%s.purpose: %w", field, err)
		}
		p.caps = append(p.caps, frequencyCap{
			name:     c.Name,
			max:      int(c.MaxMessages),
			period:   period,
			channels: slices.Clone(c.ChannelTypes),
			purpose:  purpose,
		})
		p.capWindow = max(p.capWindow, period)
	}
	return nil
}

func (p *Policy) compileConsent(requirements []cdpv1alpha1.ConsentRequirement) error {
	seen := map[channelPurpose]int{}
	for i, r := range requirements {
		field := fmt.Sprintf("spec.consent[%d]", i)
		if !validChannelType(r.ChannelType) {
			return fmt.Errorf("%s.channelType is %q: write one of SMTP, Webhook, SMS, LINE or Push", field, r.ChannelType)
		}
		if !validPurpose(r.Purpose) {
			return fmt.Errorf("%s.purpose is %q: write Marketing or Transactional", field, r.Purpose)
		}
		if r.Mode != cdpv1alpha1.ConsentOptIn && r.Mode != cdpv1alpha1.ConsentOptOut {
			return fmt.Errorf("%s.mode is %q: write OptIn or OptOut", field, r.Mode)
		}
		key := channelPurpose{r.ChannelType, r.Purpose}
		if j, dup := seen[key]; dup {
			return fmt.Errorf("%s repeats the channelType %s and purpose %s of spec.consent[%d]: keep one requirement per pair", field, r.ChannelType, r.Purpose, j)
		}
		seen[key] = i
		p.consent[key] = consentRule{optIn: r.Mode == cdpv1alpha1.ConsentOptIn, attribute: string(r.Attribute)}
	}
	return nil
}

func validChannelType(ct cdpv1alpha1.ChannelType) bool {
	switch ct {
	case cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelWebhook, cdpv1alpha1.ChannelSMS, cdpv1alpha1.ChannelLINE, cdpv1alpha1.ChannelPush:
		return true
	}
	return false
}

func validPurpose(p cdpv1alpha1.Purpose) bool {
	return p == cdpv1alpha1.PurposeMarketing || p == cdpv1alpha1.PurposeTransactional
}

// purposeOrDefault applies the API's default purpose, Marketing, to an empty one.
func purposeOrDefault(p cdpv1alpha1.Purpose) (cdpv1alpha1.Purpose, error) {
	if p == "" {
		return cdpv1alpha1.PurposeMarketing, nil
	}
	if !validPurpose(p) {
		return "", fmt.Errorf("%q is not a purpose: write Marketing or Transactional", p)
	}
	return p, nil
}

// effectivePurpose reads a purpose passed to a decision: an empty one is Marketing, the default
// of Campaign.spec.purpose, so that a message whose purpose was never set is never treated more
// leniently than a marketing message.
func effectivePurpose(p cdpv1alpha1.Purpose) cdpv1alpha1.Purpose {
	if p == "" {
		return cdpv1alpha1.PurposeMarketing
	}
	return p
}
