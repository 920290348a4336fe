package identity

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Limits of libphonenumber for Japan (country code 81), which the fast path relies on: every
// national significant number of 8 to 17 digits is a possible number (PhoneMetadata.generalDesc
// possibleLengths), and a number written after the trunk prefix 0 never matches the general
// national-number pattern, so the library strips that 0.
const (
	jpMinNSN = 8
	jpMaxNSN = 17
	// maxPhoneDigits bounds the digits the fast path collects; longer input is left to the
	// library, which rejects it.
	maxPhoneDigits = 24
)

// Phone normalises a phone number to E.164 (+81312345678). A number written without a country
// code is read in the default region. It accepts full-width digits, every dash and long-vowel
// variant, dots, spaces and parentheses: 03-1234-5678, (03)1234-5678, ０３ー１２３４ー５６７８,
// +81-3-1234-5678, +81 (0)3 1234 5678, 0120-123-456. It returns "", false for what cannot be a
// phone number: no digits, or a length libphonenumber does not call possible for the country
// (a local number without its area code included).
// Whether the number is assigned (valid, not merely possible) is not checked: a customer's
// number is what the customer wrote, and sources that agree on it should link.
//
// Numbers in the common Japanese forms are converted directly; everything else goes to
// libphonenumber (github.com/nyaruka/phonenumbers), which costs microseconds and several
// allocations per number. The direct conversion gives exactly the library's result, which
// TestPhoneFastPathMatchesLibrary checks on generated numbers of every Japanese format.
func (n *Normalizer) Phone(s string) (string, bool) {
	e164, ok, _ := n.phone(s)
	return e164, ok
}

// phone is Phone, also reporting whether the fast path decided, for tests.
func (n *Normalizer) phone(s string) (e164 string, ok, fast bool) {
	var digits [maxPhoneDigits]byte
	k := 0
	plus, simple := false, true
	for i := 0; i < len(s); {
		r, size := nextRune(s, i)
		i += size
		switch {
		case '0' <= r && r <= '9' || '０' <= r && r <= '９':
			if k == len(digits) {
				simple = false
				continue
			}
			if r >= '０' {
				r -= '０' - '0'
			}
			digits[k] = byte(r)
			k++
		case r == '+' || r == '＋':
			if plus || k > 0 {
				simple = false
			}
			plus = true
		case isPhoneSeparator(r):
		default:
			simple = false
		}
	}
	if simple {
		var out [3 + jpMaxNSN]byte
		if m, decided := n.phoneFast(&out, digits[:k], plus); decided {
			switch {
			case m == 0:
				return "", false, true
			case string(out[:m]) == s: // the comparison does not allocate
				return s, true, true
			}
			return string(out[:m]), true, true
		}
	}
	e164, ok = n.phoneLibrary(cleanPhone(s))
	return e164, ok, false
}

// isPhoneSeparator reports the characters written between the digits of a phone number.
func isPhoneSeparator(r rune) bool {
	switch r {
	case ' ', '.', '(', ')', '[', ']', '（', '）', '［', '］', '．':
		return true
	}
	return isDash(r) || isSpace(r) || isIgnorable(r)
}

// phoneFast writes the E.164 form of digits (and whether a + preceded them) to out when the
// result is known without the library, and reports its length (0 for a rejected number) and
// whether it decided. It reproduces what libphonenumber's parser does for these inputs:
//
//   - +81 followed by digits not starting with 0: the country code is 81 and the rest is the
//     national significant number (NSN), possible when it has 8 to 17 digits, rejected
//     otherwise;
//   - +81 0 NSN, with an NSN of 8 to 17 digits not starting with 0: the parser strips the
//     trunk prefix 0 that people write after the country code (+81 (0)3 ...);
//   - with JP as the default region, 0 NSN with an NSN of 8 to 17 digits not starting with 0:
//     the trunk prefix is stripped. Numbers starting 010 are excluded: 010 is Japan's
//     international call prefix, and the parser reads what follows as a country code.
//
// Anything else (another country code, 00 or 010 prefixes, a leading 0 after the trunk
// prefix, other default regions) is left to the library.
func (n *Normalizer) phoneFast(out *[3 + jpMaxNSN]byte, d []byte, plus bool) (length int, decided bool) {
	var nsn []byte
	switch {
	case plus:
		if len(d) < 2 || d[0] != '8' || d[1] != '1' {
			return 0, false
		}
		nsn = d[2:]
		if len(nsn) > 0 && nsn[0] == '0' {
			nsn = nsn[1:]
			if len(nsn) < jpMinNSN || len(nsn) > jpMaxNSN || nsn[0] == '0' {
				return 0, false
			}
		}
		if len(nsn) < jpMinNSN || len(nsn) > jpMaxNSN {
			return 0, true
		}
	case n.jp:
		if len(d) < 1+jpMinNSN || len(d) > 1+jpMaxNSN || d[0] != '0' || d[1] == '0' ||
			d[1] == '1' && d[2] == '0' {
			return 0, false
		}
		nsn = d[1:]
	default:
		return 0, false
	}
	copy(out[:], "+81")
	return 3 + copy(out[3:], nsn), true
}

// cleanPhone prepares a number for libphonenumber: NFKC and the removal of the separators
// Phone accepts, some of which (ｰ, ﹣, ⸺) the library does not know.
func cleanPhone(s string) string {
	f := fold(s)
	if strings.IndexFunc(f, isPhoneSeparator) < 0 {
		return f
	}
	return strings.Map(func(r rune) rune {
		if isPhoneSeparator(r) {
			return -1
		}
		return r
	}, f)
}

// phoneLibrary parses a cleaned number with libphonenumber in the default region.
func (n *Normalizer) phoneLibrary(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	num, err := phonenumbers.Parse(s, n.region)
	// IsPossibleNumber would also accept IS_POSSIBLE_LOCAL_ONLY, a number written without its
	// area code (a 7-digit US number), whose E.164 form would be wrong.
	if err != nil || phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}
