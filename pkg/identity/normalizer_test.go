package identity

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNewNormalizer(t *testing.T) {
	for _, o := range []Options{
		{},
		{DefaultRegion: "JP"},
		{DefaultRegion: "jp"},
		{DefaultRegion: "US"},
		{ExtraLegalForms: []string{"Sdn. Bhd."}},
	} {
		if _, err := NewNormalizer(o); err != nil {
			t.Errorf("NewNormalizer(%+v): %v", o, err)
		}
	}
	for _, o := range []Options{
		{DefaultRegion: "XX"},
		{DefaultRegion: "Japan"},
		{DefaultRegion: "001"},
		{ExtraLegalForms: []string{"Sdn. Bhd.", "\u3000"}},
		{ExtraLegalForms: []string{""}},
		{ExtraLegalForms: []string{"."}},
		{ExtraLegalForms: []string{" & "}},
	} {
		if _, err := NewNormalizer(o); err == nil {
			t.Errorf("NewNormalizer(%+v) succeeded, want an error", o)
		}
	}
}

func TestNormalize(t *testing.T) {
	n := mustNormalizer(t, Options{})
	const line = "U4af4980629abcdef0123456789abcdef"
	for _, c := range []struct {
		idType, in, want string
		ok               bool
	}{
		{"Email", " Taro@Example.JP ", "taro@example.jp", true},
		{"Email", "taro", "", false},
		{"Phone", "(03)1234-5678", "+81312345678", true},
		{"Phone", "123", "", false},
		{"CompanyName", "㈱ＡＢＣ商事", "abc商事", true},
		{"CompanyName", "株式会社", "", false},
		{"PersonName", "山田　太郎 様", "山田太郎", true},
		{"PostalCode", "〒123-4567", "1234567", true},
		// Customer IDs keep their case: other systems' IDs may be case-sensitive.
		{"CustomerID", " C-00123 ", "C-00123", true},
		{"CustomerID", "ｃ－００１２３", "c-00123", true},
		{"CustomerID", "AbC\u200b123", "AbC123", true},
		{"CustomerID", "\u3000", "", false},
		{"LineUserID", line, line, true},
		{"LineUserID", " " + line + "\u3000", line, true},
		{"LineUserID", "u4AF4980629ABCDEF0123456789ABCDEF", line, true},
		{"LineUserID", "Ｕ４ａｆ4980629abcdef0123456789abcdef", line, true},
		{"LineUserID", line[:32], "", false},
		{"LineUserID", line + "0", "", false},
		{"LineUserID", "U4af4980629abcdef0123456789abcdeg", "", false},
		{"LineUserID", "@yamada_taro", "", false},
		{"DeviceToken", "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad", "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad", true},
		{"DeviceToken", "<740F4707 BEBCF74F 9B7C25D4 8E335894 5F6AA01D A5DDB387 462C7EAF 61BB78AD>", "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad", true},
		{"DeviceToken", " dGVzdA:APA91bH-Xy_Z ", "dGVzdA:APA91bH-Xy_Z", true},
		{"DeviceToken", "dGVzdA:APA91b H-Xy_Z", "", false},
		{"DeviceToken", "", "", false},
		// Custom and unknown types are text.
		{"Custom:member_no", " M-0012\u3000 ", "m-0012", true},
		{"Custom:member_no", "", "", false},
		{"Fax", "ＦＡＸ　03", "fax 03", true},
	} {
		got, ok := n.Normalize(c.idType, c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q, %v", c.idType, c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestNoControlCharacters checks the promise resolution relies on: no normalised value holds a
// control character, in particular not the U+001F that joins values into keys.
func TestNoControlCharacters(t *testing.T) {
	n := mustNormalizer(t, Options{})
	inputs := []string{
		"a\x1fb@example.jp", "ta\x00ro@example.jp", "\x1f03-1234-5678", "03-1234\x1f-5678",
		"ABC\x1f株式会社", "山田\x1f太郎", "123\x1f4567", "member\x1f001", "\x7fC-1\x1f",
		"U4af4980629abcdef0123456789abcde\x1f", "tok\x1fen",
	}
	for _, idType := range []string{"Email", "Phone", "CompanyName", "PersonName", "PostalCode", "CustomerID", "LineUserID", "DeviceToken", "Custom:x"} {
		for _, in := range inputs {
			if got, ok := n.Normalize(idType, in); ok && strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7F || 0x80 <= r && r < 0xA0 }) {
				t.Errorf("Normalize(%q, %q) = %q holds a control character", idType, in, got)
			}
		}
	}
}

// TestFoldMatchesNFKC checks the direct mapping of foldCase against NFKC: rune by rune over
// every rune it claims, and on random strings mixing them with ASCII and with runes it leaves to
// NFKC (half-width katakana and voiced sound marks, which compose with their neighbours).
func TestFoldMatchesNFKC(t *testing.T) {
	var claimed []rune
	for r := rune(0x80); r <= 0xFFFF; r++ {
		stable, mapped := isNFKCStable(r), foldRune(r)
		switch {
		case stable && mapped != "":
			t.Errorf("%U is both stable and mapped", r)
		case stable:
			if got := norm.NFKC.String(string(r)); got != string(r) || !norm.NFKC.IsNormalString(string(r)) {
				t.Errorf("%U is not NFKC-stable: NFKC gives %q", r, got)
			}
			if strings.ToLower(string(r)) != string(r) || strings.ToUpper(string(r)) != string(r) {
				t.Errorf("%U is cased", r)
			}
			if norm.NFKC.PropertiesString(string(r)).CCC() != 0 {
				t.Errorf("%U combines", r)
			}
		case mapped != "":
			if got := norm.NFKC.String(string(r)); got != mapped {
				t.Errorf("foldRune(%U) = %q, NFKC gives %q", r, mapped, got)
			}
		default:
			continue
		}
		claimed = append(claimed, r)
	}
	// Every kana, full- and half-width, and other runes, followed by half-width sound marks,
	// which compose with some of them.
	var bases []rune
	for r := rune(0x3040); r < 0x3100; r++ {
		bases = append(bases, r)
	}
	for r := rune(0xFF61); r < 0xFFA0; r++ {
		bases = append(bases, r)
	}
	bases = append(bases, 'A', '(', '\u3000', '㈱', 'Ａ')
	for _, base := range bases {
		for _, marks := range []string{"ﾞ", "ﾟ", "ﾞﾞ", "ﾟﾞ", "ﾞﾟ", "ﾞｶﾞ"} {
			s := "ｱ" + string(base) + marks
			if got, want := foldCase(s, false), norm.NFKC.String(s); got != want {
				t.Errorf("fold(%q) = %q, NFKC gives %q", s, got, want)
			}
		}
	}
	others := []rune("ｶｷｸｳﾜｦﾊﾟﾋﾟﾞﾟﾞﾟ\u3099\u309a゛゜ｧｯｰ･ÀéÄ①㊑㍻ﬁǅ가\u0301 ")
	rng := rand.New(rand.NewPCG(1, 1))
	for range 50000 {
		var b strings.Builder
		for range rng.IntN(12) {
			switch rng.IntN(5) {
			case 0:
				b.WriteByte(byte(' ' + rng.IntN(95)))
			case 1:
				b.WriteRune(others[rng.IntN(len(others))])
			default:
				b.WriteRune(claimed[rng.IntN(len(claimed))])
			}
		}
		s := b.String()
		want := norm.NFKC.String(s)
		if got := foldCase(s, false); got != want {
			t.Fatalf("fold(%q) = %q, NFKC gives %q", s, got, want)
		}
		want = strings.ToLower(norm.NFKC.String(circledForms.Replace(s)))
		if got := foldCase(s, true); got != want {
			t.Fatalf("foldCase(%q, true) = %q, want %q", s, got, want)
		}
	}
}

// TestNextRune compares nextRune with utf8.DecodeRuneInString on every three-byte sequence with
// a lead byte E0-EF and continuation bytes valid or not, whole and cut short.
func TestNextRune(t *testing.T) {
	for c0 := 0xE0; c0 <= 0xEF; c0++ {
		for c1 := 0x70; c1 <= 0xCF; c1++ {
			for c2 := 0x70; c2 <= 0xCF; c2++ {
				seq := string([]byte{byte(c0), byte(c1), byte(c2)})
				for _, c := range []struct {
					s string
					i int
				}{{seq, 0}, {"a" + seq[:2], 1}, {"ab" + seq[:1], 2}} {
					r, size := nextRune(c.s, c.i)
					wr, wsize := utf8.DecodeRuneInString(c.s[c.i:])
					if r != wr || size != wsize {
						t.Fatalf("nextRune(%q, %d) = %U, %d; want %U, %d", c.s, c.i, r, size, wr, wsize)
					}
				}
			}
		}
	}
}

// TestConcurrentUse runs one Normalizer from many goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	n := mustNormalizer(t, Options{ExtraLegalForms: []string{"Sdn. Bhd."}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				phone := []string{"03-1234-5678", "+1 650 253 0000", "010-44-20-7946-0958"}[(g+i)%3]
				if _, ok := n.Phone(phone); !ok {
					t.Errorf("Phone(%q) rejected", phone)
				}
				if name, _, _ := n.CompanyName("㈱ＡＢＣ Sdn Bhd"); name != "abc" {
					t.Errorf("CompanyName = %q", name)
				}
			}
		})
	}
	wg.Wait()
}
