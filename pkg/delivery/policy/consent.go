package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/width"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Consent is a recipient's answer recorded by Kizuna itself, through the unsubscribe endpoint: it
// always wins over a profile attribute copied from a source system.
type Consent struct {
	ChannelType cdpv1alpha1.ChannelType
	Purpose     cdpv1alpha1.Purpose
	Granted     bool
	At          time.Time
}

type consentRule struct {
	optIn bool
	// attribute holds the consent in the profile; empty when only recorded consent counts.
	attribute string
}

// ConsentAllows says whether a message on the channel type and of the purpose may go to a
// recipient, with a reason fit for a suppression report. The recipient's latest recorded consent
// for that channel type and purpose decides first (a refusal wins a tie). Otherwise the policy's
// requirement decides from its attribute: OptIn needs a yes, OptOut sends unless a no. A pair
// without a requirement is allowed unless the recipient refused it: an unsubscribe is honoured
// even when the policy asks for no consent. Requirements and records apply to their own purpose
// only, so a Marketing opt-out never blocks a Transactional receipt.
//
// The attribute is read as a Boolean the way the ingest mapping reads one: true or false, the
// numbers 1 or 0, or the words true/false, t/f, yes/no, y/n, on/off, はい/いいえ, 有/無 (any case,
// full-width too). Any other value blocks the message, whatever the mode: an answer that cannot
// be read is not consent, and may well be a refusal the mapping did not foresee.
func (p *Policy) ConsentAllows(channelType cdpv1alpha1.ChannelType, purpose cdpv1alpha1.Purpose, attributes map[string]any, recorded []Consent) (allowed bool, reason string) {
	purpose = effectivePurpose(purpose)
	pair := string(channelType) + " " + string(purpose) + " messages"
	if latest, ok := latestConsent(recorded, channelType, purpose); ok {
		if latest.Granted {
			return true, fmt.Sprintf("the recipient agreed to %s", pair)
		}
		return false, fmt.Sprintf("the recipient refused %s", pair)
	}
	rule, required := p.consent[channelPurpose{channelType, purpose}]
	if !required {
		return true, fmt.Sprintf("the policy requires no consent for %s", pair)
	}
	if rule.attribute == "" {
		if rule.optIn {
			return false, fmt.Sprintf("%s need an opt-in, and the recipient has recorded none", pair)
		}
		return true, fmt.Sprintf("the recipient has not refused %s", pair)
	}
	value := attributes[rule.attribute]
	if text, isText := value.(string); value == nil || isText && strings.TrimSpace(text) == "" {
		if rule.optIn {
			return false, fmt.Sprintf("%s need an opt-in, and attribute %s is not set", pair, rule.attribute)
		}
		return true, fmt.Sprintf("attribute %s is not set, and %s need no opt-in", rule.attribute, pair)
	}
	yes, ok := readBoolean(value)
	if !ok {
		return false, fmt.Sprintf("attribute %s holds neither a yes nor a no: map it as a Boolean (true/false, yes/no or 1/0)", rule.attribute)
	}
	if yes {
		return true, fmt.Sprintf("attribute %s says yes to %s", rule.attribute, pair)
	}
	return false, fmt.Sprintf("attribute %s says no to %s", rule.attribute, pair)
}

// latestConsent returns the newest record for the pair; of two records at the same time, the
// refusal.
func latestConsent(recorded []Consent, channelType cdpv1alpha1.ChannelType, purpose cdpv1alpha1.Purpose) (Consent, bool) {
	var latest Consent
	found := false
	for _, c := range recorded {
		if c.ChannelType != channelType || effectivePurpose(c.Purpose) != purpose {
			continue
		}
		if !found || c.At.After(latest.At) || (c.At.Equal(latest.At) && !c.Granted) {
			latest, found = c, true
		}
	}
	return latest, found
}

// readBoolean reads a consent attribute; ok is false for a value that is neither a yes nor a no.
func readBoolean(v any) (yes, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case float64:
		return x == 1, x == 0 || x == 1
	case int:
		return x == 1, x == 0 || x == 1
	case int64:
		return x == 1, x == 0 || x == 1
	case json.Number:
		s := x.String()
		return s == "1", s == "0" || s == "1"
	case string:
		switch strings.ToLower(strings.TrimSpace(narrow(x))) {
		case "true", "t", "yes", "y", "1", "on", "はい", "有":
			return true, true
		case "false", "f", "no", "n", "0", "off", "いいえ", "無":
			return false, true
		}
	}
	return false, false
}

// narrow folds full-width letters and digits (ＹＥＳ, １) to ASCII, without copying ASCII text.
func narrow(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return width.Narrow.String(s)
		}
	}
	return s
}
