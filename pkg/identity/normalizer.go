package identity

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// Options configure a Normalizer, as an IdentityResolution's spec.normalization declares them.
type Options struct {
	// DefaultRegion is the ISO 3166-1 alpha-2 region used to read phone numbers written
	// without a country code; "" means JP.
	DefaultRegion string
	// ExtraLegalForms are further legal forms to strip from company names, in addition to the
	// built-in ones. They match like the built-in English forms: case-insensitively, as whole
	// words where they start or end with a letter or digit, with '.' and ',' optional and any
	// spacing between words.
	ExtraLegalForms []string
}

// Normalizer normalises identifiers by type. It holds only immutable configuration, so it is
// safe for concurrent use.
type Normalizer struct {
	// region is the default phone region, upper-case.
	region string
	// jp enables the fast path for national Japanese numbers (0 followed by the NSN).
	jp    bool
	forms *formMatcher
}

// NewNormalizer returns a Normalizer for the options. It fails for a region libphonenumber does
// not know and for an extra legal form without letters or digits.
func NewNormalizer(o Options) (*Normalizer, error) {
	region := strings.ToUpper(strings.TrimSpace(o.DefaultRegion))
	if region == "" {
		region = "JP"
	}
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil, fmt.Errorf("identity: unknown phone region %q: want an ISO 3166-1 alpha-2 code such as JP", o.DefaultRegion)
	}
	n := &Normalizer{region: region, jp: region == "JP", forms: defaultForms}
	if len(o.ExtraLegalForms) > 0 {
		forms := slices.Grow(slices.Clone(builtinLegalForms), len(o.ExtraLegalForms))
		for _, x := range o.ExtraLegalForms {
			canon := strings.TrimFunc(fold(x), isSpaceOrIgnorable)
			// A form of punctuation alone ("." or "&") would be stripped from every name.
			if !strings.ContainsFunc(canon, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
				return nil, fmt.Errorf("identity: extra legal form %q has no letters or digits", x)
			}
			forms = append(forms, legalForm{pat: strings.ToLower(canon), canon: canon, loose: true})
		}
		n.forms = newFormMatcher(forms)
	}
	return n, nil
}

// Identifier types as records and the API spell them (api/v1alpha1.IdentifierType); custom
// identifiers are written customPrefix + name.
const (
	typeEmail        = "Email"
	typePhone        = "Phone"
	typeCustomerID   = "CustomerID"
	typeCompanyName  = "CompanyName"
	typePersonName   = "PersonName"
	typePostalCode   = "PostalCode"
	typeLineUserID   = "LineUserID"
	typeDeviceToken  = "DeviceToken"
	customTypePrefix = "Custom:"
)

// Normalize returns the normalised value of an identifier of type idType and true, or "", false
// when the value is empty or not a valid value of that type. Custom identifiers
// ("Custom:member_no") and unknown types are normalised as Text. For CompanyName it returns the
// name without its legal form.
func (n *Normalizer) Normalize(idType, value string) (string, bool) {
	switch idType {
	case typeEmail:
		return Email(value)
	case typePhone:
		return n.Phone(value)
	case typeCompanyName:
		name, _, ok := n.CompanyName(value)
		return name, ok
	case typePersonName:
		return PersonName(value)
	case typePostalCode:
		return PostalCode(value)
	case typeCustomerID:
		return opaqueID(value)
	case typeLineUserID:
		return lineUserID(value)
	case typeDeviceToken:
		return deviceToken(value)
	}
	// Custom identifiers and types this version does not know.
	return Text(value)
}

// opaqueID normalises an identifier another system issued (a CRM's customer ID): NFKC, trimmed,
// invisible characters dropped. Case is kept: such IDs may be case-sensitive (Salesforce's
// 15-character IDs are), and two customers must not share one.
func opaqueID(s string) (string, bool) {
	f := strings.TrimFunc(fold(s), isSpaceOrIgnorable)
	if strings.IndexFunc(f, isIgnorable) >= 0 {
		f = strings.Map(func(r rune) rune {
			if isIgnorable(r) {
				return -1
			}
			return r
		}, f)
	}
	return f, f != ""
}

// lineUserID normalises a LINE user ID, which the Messaging API writes as U followed by 32
// lower-case hexadecimal digits. It accepts other cases, as spreadsheets and OCR produce them,
// and rejects anything else: a LINE display name in the ID column must not link customers.
func lineUserID(s string) (string, bool) {
	f := strings.TrimFunc(fold(s), isSpaceOrIgnorable)
	if len(f) != 33 || f[0] != 'U' && f[0] != 'u' {
		return "", false
	}
	var buf [33]byte
	buf[0] = 'U'
	for i := 1; i < len(f); i++ {
		c := f[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		buf[i] = c
	}
	if string(buf[:]) == f { // the comparison does not allocate
		return f, true
	}
	return string(buf[:]), true
}

// deviceToken normalises a push-notification token. APNs tokens are hexadecimal, and old iOS
// code logged them as "<740f4707 bebcf74f ...>": a hex token loses brackets and spaces and is
// lower-cased. Other tokens (FCM) are opaque and case-sensitive, and a space inside one means it
// is not a token.
func deviceToken(s string) (string, bool) {
	f, ok := opaqueID(s)
	if !ok {
		return "", false
	}
	if hex, ok := hexToken(f); ok {
		return hex, true
	}
	if strings.IndexFunc(f, unicode.IsSpace) >= 0 {
		return "", false
	}
	return f, true
}

// hexToken returns s as lower-case hex without brackets and spaces, if that is all it holds.
func hexToken(s string) (string, bool) {
	clean, digits := true, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			digits++
		case 'A' <= c && c <= 'F':
			digits++
			clean = false
		case c == '<' || c == '>' || c == ' ' || c == '\t':
			clean = false
		default:
			return "", false
		}
	}
	if digits == 0 {
		return "", false
	}
	if clean {
		return s, true
	}
	b := make([]byte, 0, digits)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'F':
			b = append(b, c+'a'-'A')
		case c == '<' || c == '>' || c == ' ' || c == '\t':
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}
