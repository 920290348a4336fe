package identity

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPhone(t *testing.T) {
	n := mustNormalizer(t, Options{})
	runCases(t, "Phone", n.Phone, []normCase{
		// Every format in jp-sample.
		{"011-5898-4868", "+811158984868", true},
		{"(045)4318-0921", "+814543180921", true},
		{"(03)1862-7627", "+81318627627", true},
		{"0362857125", "+81362857125", true},
		{"+81-6-9667-3370", "+81696673370", true},
		{"+81-45-2282-7172", "+814522827172", true},
		{"+81318627627", "+81318627627", true},
		{"+811188924674", "+811188924674", true},
		{"03-0276-4565", "+81302764565", true},
		{"04500550267", "+814500550267", true},
		// Fixed lines with area codes of every length, mobile, IP, toll-free, navi dial.
		{"03-1234-5678", "+81312345678", true},
		{"045-123-4567", "+81451234567", true},
		{"0166-12-3456", "+81166123456", true},
		{"01267-1-2345", "+81126712345", true},
		{"090-1234-5678", "+819012345678", true},
		{"080 1234 5678", "+818012345678", true},
		{"070.1234.5678", "+817012345678", true},
		{"050-1234-5678", "+815012345678", true},
		{"0120-123-456", "+81120123456", true},
		{"0120-12-3456", "+81120123456", true},
		{"0800-123-4567", "+818001234567", true},
		{"0570-000-123", "+81570000123", true},
		// Full-width digits and every dash and long-vowel variant.
		{"０３－１２３４－５６７８", "+81312345678", true},
		{"０３ー１２３４ー５６７８", "+81312345678", true},
		{"０３（１２３４）５６７８", "+81312345678", true},
		{"03ｰ1234ｰ5678", "+81312345678", true},
		{"03‐1234‐5678", "+81312345678", true},
		{"03‑1234‑5678", "+81312345678", true},
		{"03‒1234‒5678", "+81312345678", true},
		{"03–1234–5678", "+81312345678", true},
		{"03—1234—5678", "+81312345678", true},
		{"03―1234―5678", "+81312345678", true},
		{"03−1234−5678", "+81312345678", true},
		{"03﹣1234﹣5678", "+81312345678", true},
		{"03．1234．5678", "+81312345678", true},
		{"03\u30001234\u30005678", "+81312345678", true},
		{" 03-1234-5678\t", "+81312345678", true},
		{"\ufeff03-1234-5678", "+81312345678", true},
		{"03(1234)5678", "+81312345678", true},
		{"[03] 1234-5678", "+81312345678", true},
		// With the country code, and the trunk 0 written after it.
		{"+81 3 1234 5678", "+81312345678", true},
		{"+81 (0)3-1234-5678", "+81312345678", true},
		{"+81-03-1234-5678", "+81312345678", true},
		{"＋８１－３－１２３４－５６７８", "+81312345678", true},
		{"(+81) 90-1234-5678", "+819012345678", true},
		{"+81 90 1234 5678", "+819012345678", true},
		// The library's cases: no plus, the international prefix 010, other countries,
		// extensions.
		{"81312345678", "+81312345678", true},
		{"010-1-650-253-0000", "+16502530000", true},
		{"+1 (650) 253-0000", "+16502530000", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"+82-2-312-3456", "+8223123456", true},
		{"03-1234-5678 ext. 123", "+81312345678", true},
		// Not phone numbers: too short, too long, no digits.
		{"", "", false},
		{"\u3000", "", false},
		{"-", "", false},
		{"なし", "", false},
		{"unknown", "", false},
		{"123", "", false},
		{"03-1234", "", false},
		{"+81", "", false},
		{"+81-3", "", false},
		{"+81 1234567", "", false},
		{"+81 123456789012345678", "", false},
		{"03-1234-5678-9012-3456-7890", "", false},
		{"+999 1234 5678", "", false},
	})
}

func TestPhoneOtherRegion(t *testing.T) {
	us := mustNormalizer(t, Options{DefaultRegion: "US"})
	runCases(t, "Phone(US)", us.Phone, []normCase{
		{"(650) 253-0000", "+16502530000", true},
		{"650.253.0000", "+16502530000", true},
		{"+81-3-1234-5678", "+81312345678", true},
		{"+81 (0)3 1234 5678", "+81312345678", true},
		// A local number without its area code has no E.164 form.
		{"253-0000", "", false},
	})
	gb := mustNormalizer(t, Options{DefaultRegion: "gb"})
	runCases(t, "Phone(GB)", gb.Phone, []normCase{
		{"020 7946 0958", "+442079460958", true},
		{"+81 3-1234-5678", "+81312345678", true},
	})
}

// phoneSeparators are the characters generated numbers put between digits. libraryKnown marks
// the ones libphonenumber itself accepts, for the comparison with raw input.
var phoneSeparators = []struct {
	s            string
	libraryKnown bool
}{
	{"-", true}, {" ", true}, {".", true}, {"\u3000", true}, {"‐", true}, {"−", true},
	{"ー", true}, {"－", true}, {"–", true}, {"—", true}, {"―", true},
	{"ｰ", false}, {"﹣", false}, {"‒", true}, {"‑", true},
}

// TestPhoneFastPathMatchesLibrary checks that the fast path gives exactly what libphonenumber
// gives, on generated numbers of every Japanese format: national numbers with every prefix the
// fast path must and must not take (0 NSN, 00, 010, 0 0...), with and without +81, with the
// trunk 0 after +81, of every length from nothing to too long, in default regions JP and
// others, written with every separator and in full-width digits.
func TestPhoneFastPathMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 3))
	normalizers := map[string]*Normalizer{
		"JP": mustNormalizer(t, Options{}),
		"US": mustNormalizer(t, Options{DefaultRegion: "US"}),
		"GB": mustNormalizer(t, Options{DefaultRegion: "GB"}),
	}
	// Leading digits of the national significant number: area codes of each length, mobile,
	// IP phone, pager, toll-free, navi dial, premium, the digits of Japan's and other country
	// codes, the international prefix, and zeros.
	prefixes := []string{
		"", "1", "10", "100", "11", "120", "123", "166", "2", "20", "3", "4", "45", "5", "50",
		"52", "570", "6", "60", "7", "70", "8", "80", "800", "81", "9", "90", "92", "990",
		"0", "00", "01", "010", "0037", "0002", "81 0",
	}
	perLength := 6
	if testing.Short() {
		perLength = 1
	}
	var checks, fast, rawChecks int
	check := func(region, in string, rawComparable bool) {
		n := normalizers[region]
		got, ok, viaFast := n.phone(in)
		want, wantOK := n.phoneLibrary(cleanPhone(in))
		checks++
		if viaFast {
			fast++
		}
		if got != want || ok != wantOK {
			t.Errorf("%s: Phone(%q) = %q, %v (fast path %v); libphonenumber gives %q, %v", region, in, got, ok, viaFast, want, wantOK)
		}
		if rawComparable {
			rawChecks++
			if raw, rawOK := n.phoneLibrary(in); raw != got || rawOK != ok {
				t.Errorf("%s: Phone(%q) = %q, %v; libphonenumber on the raw input gives %q, %v", region, in, got, ok, raw, rawOK)
			}
		}
	}
	for _, p := range prefixes {
		p = strings.ReplaceAll(p, " ", "")
		for length := len(p); length <= 20; length++ {
			for range perLength {
				nsn := p + randomDigits(rng, length-len(p))
				for _, digits := range []string{"0" + nsn, "+81" + nsn, "+810" + nsn, nsn, "+" + nsn} {
					sep := phoneSeparators[rng.IntN(len(phoneSeparators))]
					in := withSeparators(rng, digits, sep.s)
					for region := range normalizers {
						// Elsewhere than JP the fast path only reads +81 numbers.
						if region != "JP" && !strings.HasPrefix(digits, "+") {
							continue
						}
						check(region, digits, true)
						check(region, in, sep.libraryKnown)
						check(region, toFullWidth(in), false)
					}
				}
			}
		}
	}
	// Arbitrary strings over the alphabet the fast path handles, and a few characters it
	// leaves to the library.
	alphabet := []string{"0", "0", "1", "2", "3", "8", "8", "1", "9", "+", "-", " ", "(", ")", "ｰ", "０", "８", "x", "#"}
	for range 10000 {
		var b strings.Builder
		for range rng.IntN(22) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		check("JP", b.String(), false)
	}
	t.Logf("%d comparisons (%d with the raw input), %d decided by the fast path", checks, rawChecks, fast)
	if fast < checks/4 {
		t.Errorf("only %d of %d numbers took the fast path", fast, checks)
	}
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// withSeparators writes sep after random digits of s, and sometimes parentheses around the
// first group, as in (03)1234-5678.
func withSeparators(rng *rand.Rand, s, sep string) string {
	var b strings.Builder
	paren := rng.IntN(4) == 0 && len(s) > 4 && s[0] == '0'
	if paren {
		b.WriteByte('(')
	}
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if paren && i == 2 {
			b.WriteByte(')')
			paren = false
			continue
		}
		if i < len(s)-1 && s[i] != '+' && rng.IntN(4) == 0 {
			b.WriteString(sep)
		}
	}
	return b.String()
}

// toFullWidth writes ASCII digits, + and - full-width, as Japanese input methods do.
func toFullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case '0' <= r && r <= '9', r == '+', r == '-', r == '(', r == ')':
			return r + 0xFEE0
		}
		return r
	}, s)
}
