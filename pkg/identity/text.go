package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fold applies NFKC, which maps full-width letters and digits to ASCII, half-width katakana to
// full-width, U+3000 and other compatibility spaces to a space and ㈱ to (株).
func fold(s string) string {
	return foldCase(s, false)
}

// foldCase returns NFKC(s). For a company name (company true) it also lower-cases, and maps the
// circled ideographs ㊑ and ㊒ to (株) and (有): NFKC would fold them to a bare 株 or 有, which
// cannot be told from the character in a name. NFKC costs one to several microseconds and
// three allocations for a short name that is not already normal, and most identifiers are
// either ASCII or Japanese text whose only compatibility characters are full-width letters,
// half-width katakana, U+3000 and ㈱. So the runes of s are classified first: if all of them are
// ASCII or NFKC-stable and none needs lower-casing, s is returned as is; if the only others are
// the compatibility characters foldRune maps, the result is built directly, with one
// allocation; anything else (Latin letters with accents, combining marks, ...) goes to NFKC.
// TestFoldMatchesNFKC checks the direct mapping against NFKC.
func foldCase(s string, company bool) string {
	lower := company
	change := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			change = change || lower && 'A' <= c && c <= 'Z'
			i++
			continue
		}
		r, size := nextRune(s, i)
		i += size
		switch {
		case isNFKCStable(r):
		case foldRune(r) != "" || r == halfWidthVoiced || r == halfWidthSemiVoiced:
			change = true
		default:
			if company {
				s = circledForms.Replace(s)
			}
			f := norm.NFKC.String(s)
			if lower {
				f = strings.ToLower(f)
			}
			return f
		}
	}
	if !change {
		return s
	}
	var buf [128]byte
	b := buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if lower && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, size := nextRune(s, i)
		i += size
		switch m := foldRune(r); {
		case m != "":
			if lower && len(m) == 1 && 'A' <= m[0] && m[0] <= 'Z' {
				b = append(b, m[0]+'a'-'A')
			} else {
				b = append(b, m...)
			}
		case r == halfWidthVoiced || r == halfWidthSemiVoiced:
			b = appendSoundMark(b, r)
		default:
			b = append(b, s[i-size:i]...)
		}
	}
	return string(b)
}

// Half-width katakana write voiced syllables as two characters, ｶﾞ. NFKC maps the marks to the
// combining U+3099 and U+309A and then composes them with the kana before them where Unicode has
// a precomposed character (ガ, パ, ヴ), and leaves them combining where it has none.
const (
	halfWidthVoiced     = '\uFF9E'
	halfWidthSemiVoiced = '\uFF9F'
)

// appendSoundMark appends what NFKC makes of a half-width sound mark after b. Composition only
// ever looks at the rune just before the mark: the only combining marks foldCase lets through
// are these two, of equal combining class, so an earlier mark blocks composition as it does in
// NFC.
func appendSoundMark(b []byte, mark rune) []byte {
	table, combining := &kana.voiced, '\u3099'
	if mark == halfWidthSemiVoiced {
		table, combining = &kana.semiVoiced, '\u309A'
	}
	if prev, size := utf8.DecodeLastRune(b); size == 3 && 0x3040 <= prev && prev < 0x3100 {
		if composed := table[prev-0x3040]; composed != 0 {
			return utf8.AppendRune(b[:len(b)-size], composed)
		}
	}
	return utf8.AppendRune(b, combining)
}

// kana holds the NFKC mappings of half-width katakana and the compositions of kana with sound
// marks, computed from the normalisation tables themselves so that they cannot disagree.
var kana = func() (t struct {
	halfWidth          [0xFF9E - 0xFF61]string // U+FF61 ｡ to U+FF9D ﾝ
	voiced, semiVoiced [0x3100 - 0x3040]rune   // composition of U+3040-U+30FF with a mark, or 0
}) {
	for r := rune(0xFF61); r < 0xFF9E; r++ {
		t.halfWidth[r-0xFF61] = norm.NFKC.String(string(r))
	}
	for r := rune(0x3040); r < 0x3100; r++ {
		for mark, table := range map[rune]*[0x3100 - 0x3040]rune{'\u3099': &t.voiced, '\u309A': &t.semiVoiced} {
			if c := []rune(norm.NFC.String(string(r) + string(mark))); len(c) == 1 {
				table[r-0x3040] = c[0]
			}
		}
	}
	return t
}()

// nextRune decodes the rune at s[i]. It is utf8.DecodeRuneInString with the three-byte
// sequences of kana, kanji and full-width forms decoded inline: the standard decoder handles
// them out of line, and they are most of the runes of Japanese identifiers. Overlong forms,
// surrogates and other invalid sequences go to the standard decoder, like all other lengths.
func nextRune(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	if c&0xF0 == 0xE0 && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
		if r := rune(c&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F); r >= 0x800 && r&0xF800 != 0xD800 {
			return r, 3
		}
	}
	return utf8.DecodeRuneInString(s[i:])
}

// isSpace is unicode.IsSpace without the table search for kana and kanji: U+3000 is the last
// white-space character.
func isSpace(r rune) bool {
	if r > 0x3000 {
		return false
	}
	return unicode.IsSpace(r)
}

// lowerRune is unicode.ToLower without the table search for kana and kanji, which have no case.
func lowerRune(r rune) rune {
	switch {
	case r < utf8.RuneSelf:
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	case 0x3000 <= r && r < 0xA000:
		return r
	}
	return unicode.ToLower(r)
}

// isNFKCStable reports runes NFKC leaves alone whatever surrounds them: kana, CJK ideographs
// and Japanese punctuation. None of them is cased, combines with a neighbour (the voiced sound
// marks U+3099-U+309C are not included) or has a compatibility decomposition.
func isNFKCStable(r rune) bool {
	switch {
	case 0x4E00 <= r && r <= 0x9FFF, // CJK unified ideographs
		0x3400 <= r && r <= 0x4DBF, // extension A
		0x3041 <= r && r <= 0x3096, // hiragana
		0x30A1 <= r && r <= 0x30FE, // katakana, ・, ー, ヽ, ヾ
		0x3001 <= r && r <= 0x3007, // 、。〃〄々〆〇
		0x3008 <= r && r <= 0x3011, // 〈〉《》「」『』【】
		r == 0x3012 || r == 0x301C: // 〒 〜
		return true
	}
	return false
}

// foldRune returns NFKC of the compatibility characters common in Japanese identifiers that map
// one by one, "" for others.
func foldRune(r rune) string {
	switch {
	case 0xFF01 <= r && r <= 0xFF5E: // full-width ASCII
		return fullWidthASCII[r-0xFF01 : r-0xFF01+1]
	case 0xFF61 <= r && r <= 0xFF9D: // half-width katakana and punctuation
		return kana.halfWidth[r-0xFF61]
	case r == 0x3000 || r == 0x00A0: // ideographic and no-break space
		return " "
	case r == '㈱':
		return "(株)"
	case r == '㈲':
		return "(有)"
	}
	return ""
}

// fullWidthASCII holds the ASCII characters U+FF01-U+FF5E stand for, so that foldRune can
// return a one-character string without allocating.
const fullWidthASCII = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// isIgnorable reports characters that carry nothing in an identifier and are dropped wherever
// they stand: control characters other than whitespace (a normalised value must never contain
// the U+001F that resolution joins values with) and invisible format characters that copy and
// paste, OCR and byte-order marks at the start of CSV files leave behind.
func isIgnorable(r rune) bool {
	switch r {
	case '\u00AD', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
		return true
	}
	return unicode.IsControl(r) && !isSpace(r)
}

// isDash reports the hyphen, dash, minus and long-vowel characters people and OCR put between
// the digits of phone numbers and postal codes. NFKC folds only some of them (－ ﹣ ｰ ‑).
func isDash(r rune) bool {
	switch r {
	case '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2043', '\u2212',
		'\u2E3A', '\u2E3B', '\u30FC', '\uFE58', '\uFE63', '\uFF0D', '\uFF70':
		return true
	}
	return false
}

// isSpaceOrIgnorable is what is trimmed from both ends of a value.
func isSpaceOrIgnorable(r rune) bool {
	return isSpace(r) || isIgnorable(r)
}

// Text normalises free text and identifiers without rules of their own (custom identifiers): it
// applies NFKC, drops control and invisible characters, trims, collapses each run of whitespace
// to one space and lower-cases. It returns "", false when nothing is left.
func Text(s string) (string, bool) {
	f := fold(s)
	if isCleanText(f) {
		return f, f != ""
	}
	var b strings.Builder
	b.Grow(len(f))
	space := false
	for i := 0; i < len(f); {
		r, size := nextRune(f, i)
		i += size
		switch {
		case isIgnorable(r):
		case isSpace(r):
			space = b.Len() > 0
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(lowerRune(r))
		}
	}
	if b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}

// isCleanText reports whether Text would return s unchanged, so that the common case costs a
// scan and no allocation.
func isCleanText(s string) bool {
	prevSpace := true // a leading space is not clean
	for i := 0; i < len(s); {
		r, size := nextRune(s, i)
		i += size
		switch {
		case r == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
			continue
		case isSpace(r) || isIgnorable(r) || lowerRune(r) != r:
			return false
		}
		prevSpace = false
	}
	return s == "" || !prevSpace
}

// emailDelimiter marks the ASCII characters that cannot stand unquoted in an address: white
// space and controls, and the delimiters of address lists and display names.
var emailDelimiter = func() (t [utf8.RuneSelf]bool) {
	for c := range t[:' '+1] {
		t[c] = true
	}
	t[0x7F] = true
	for _, c := range `"(),:;<>[\]` {
		t[c] = true
	}
	return t
}()

// Email normalises an e-mail address: it trims whitespace (U+3000 included), applies NFKC
// (ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ) and lower-cases the whole address. Strictly the local part is
// case-sensitive, but no provider treats it so and sources disagree on case, so equal addresses
// must compare equal. It returns "", false for what is not an address: not exactly one @, an
// empty local part, a domain without a dot or with an empty label, whitespace or delimiters
// inside (two addresses in one field, "Name <addr>"). Dots in the local part are not checked:
// Japanese mobile carriers long issued addresses such as taro..yamada.@docomo.ne.jp.
func Email(s string) (string, bool) {
	f := strings.TrimFunc(fold(s), isSpaceOrIgnorable)
	at, dots := -1, 0
	lower, drop := false, false
	for i := 0; i < len(f); {
		if c := f[i]; c < utf8.RuneSelf {
			switch {
			case c == '@':
				if at >= 0 {
					return "", false
				}
				at = i
			case c == '.':
				if at >= 0 {
					if i == at+1 || f[i-1] == '.' {
						return "", false // an empty domain label
					}
					dots++
				}
			case emailDelimiter[c]:
				return "", false
			case 'A' <= c && c <= 'Z':
				lower = true
			}
			i++
			continue
		}
		r, size := nextRune(f, i)
		switch {
		case isSpace(r):
			return "", false
		case isIgnorable(r):
			if unicode.IsControl(r) {
				return "", false
			}
			drop = true
		default:
			lower = lower || lowerRune(r) != r
		}
		i += size
	}
	if at <= 0 || dots == 0 || f[len(f)-1] == '.' {
		return "", false
	}
	if drop {
		f = strings.Map(func(r rune) rune {
			if isIgnorable(r) {
				return -1
			}
			return r
		}, f)
	}
	if lower {
		f = strings.ToLower(f)
	}
	return f, true
}

// honorifics are the titles written after a person's name on envelopes, forms and business
// cards. Each is tried at the end of the name only: none of them ends a Japanese name.
var honorifics = []string{"様", "さま", "サマ", "殿", "どの", "さん", "サン", "氏"}

// isNameDot reports the middle dots written between given and family names of foreign names in
// katakana (ジョン・スミス); NFKC has already folded the half-width ･ to ・.
func isNameDot(r rune) bool {
	return r == '・' || r == '･' || r == '·'
}

// PersonName normalises a person's name: NFKC (half-width katakana, full-width letters),
// removal of all whitespace (U+3000 included) and of the middle dots between given and family
// names, removal of an honorific at the end (様, 殿, さん, ...) and lower-casing, so that
// 山田　太郎, 山田太郎 様 and ﾔﾏﾀﾞ ﾀﾛｳ compare equal to their other spellings. Spaces are removed
// rather than collapsed because sources disagree on whether to put one between family and
// given name. It returns "", false when nothing is left.
func PersonName(s string) (string, bool) {
	f := fold(s)
	out := f
	if !isCleanName(f) {
		var b strings.Builder
		b.Grow(len(f))
		for i := 0; i < len(f); {
			r, size := nextRune(f, i)
			i += size
			if !isSpace(r) && !isIgnorable(r) && !isNameDot(r) {
				b.WriteRune(lowerRune(r))
			}
		}
		out = b.String()
	}
	for stripped := true; stripped; {
		stripped = false
		for _, h := range honorifics {
			if strings.HasSuffix(out, h) {
				out = out[:len(out)-len(h)]
				stripped = true
			}
		}
	}
	return out, out != ""
}

// isCleanName reports whether PersonName needs nothing but honorific stripping.
func isCleanName(s string) bool {
	for i := 0; i < len(s); {
		r, size := nextRune(s, i)
		i += size
		if isSpace(r) || isIgnorable(r) || isNameDot(r) || lowerRune(r) != r {
			return false
		}
	}
	return true
}

// maxPostalCode is the longest postal code in use (Iran's has 10 digits).
const maxPostalCode = 10

// PostalCode normalises a postal code: it drops the postal mark 〒, whitespace and every dash
// variant, folds full-width digits and letters and upper-cases letters, so 〒123-4567,
// １２３－４５６７ and 1234567 all become the Japanese 7-digit form "1234567", and SW1A 1AA
// becomes "SW1A1AA". It returns "", false when what is left is not 3 to 10 letters and digits
// (an address pasted into the field, a stray note).
func PostalCode(s string) (string, bool) {
	if len(s) == 7 && isDigits(s) {
		return s, true
	}
	var buf [maxPostalCode]byte
	n := 0
	for _, r := range fold(s) {
		switch {
		case '0' <= r && r <= '9', 'A' <= r && r <= 'Z':
		case 'a' <= r && r <= 'z':
			r -= 'a' - 'A'
		case r == '〒' || r == '〠' || isDash(r) || unicode.IsSpace(r) || isIgnorable(r):
			continue
		default:
			return "", false
		}
		if n == len(buf) {
			return "", false
		}
		buf[n] = byte(r)
		n++
	}
	if n < 3 {
		return "", false
	}
	if string(buf[:n]) == s { // the comparison does not allocate
		return s, true
	}
	return string(buf[:n]), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
