package identity

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// formPos restricts where a legal form may stand.
type formPos uint8

const (
	anywhere formPos = iota
	atStart
	atEnd
)

// legalForm is one spelling of a legal form to strip from company names.
type legalForm struct {
	// pat is the spelling after NFKC and lower-casing, as it is compared with the name.
	pat string
	// canon is the canonical spelling returned for every spelling of the form; "" for words
	// that are stripped but are no legal form (御中).
	canon string
	// loose makes '.' and ',' in pat optional and lets ' ' in pat stand for any run of spaces,
	// including none, so that "co., ltd." also matches "Co.,Ltd", "co ltd" and "CO., LTD.".
	// Forms like K.K. stay strict: "KK" and "GK" are also names in their own right.
	loose bool
	pos   formPos
}

// builtinLegalForms are the legal forms stripped from every company name. Abbreviations are
// listed as NFKC leaves them: （株） and ㈱ both become (株). Katakana spellings come from kana-only
// systems and bank transfer names (全銀形式: カ) at the start, (カ at the end).
var builtinLegalForms = []legalForm{
	{pat: "株式会社", canon: "株式会社"},
	{pat: "株式會社", canon: "株式会社"},
	{pat: "(株)", canon: "株式会社"},
	{pat: "カブシキガイシャ", canon: "株式会社"},
	{pat: "カブシキカイシャ", canon: "株式会社"},
	{pat: "(カ)", canon: "株式会社"},
	{pat: "カ)", canon: "株式会社", pos: atStart},
	{pat: "(カ", canon: "株式会社", pos: atEnd},
	{pat: "有限会社", canon: "有限会社"},
	{pat: "有限會社", canon: "有限会社"},
	{pat: "(有)", canon: "有限会社"},
	{pat: "ユウゲンガイシャ", canon: "有限会社"},
	{pat: "ユウゲンカイシャ", canon: "有限会社"},
	{pat: "(ユ)", canon: "有限会社"},
	{pat: "ユ)", canon: "有限会社", pos: atStart},
	{pat: "(ユ", canon: "有限会社", pos: atEnd},
	{pat: "合同会社", canon: "合同会社"},
	{pat: "(同)", canon: "合同会社"},
	{pat: "ゴウドウガイシャ", canon: "合同会社"},
	{pat: "ゴウドウカイシャ", canon: "合同会社"},
	{pat: "(ド)", canon: "合同会社"},
	{pat: "ド)", canon: "合同会社", pos: atStart},
	{pat: "(ド", canon: "合同会社", pos: atEnd},
	{pat: "合資会社", canon: "合資会社"},
	{pat: "(資)", canon: "合資会社"},
	{pat: "ゴウシガイシャ", canon: "合資会社"},
	{pat: "合名会社", canon: "合名会社"},
	{pat: "(名)", canon: "合名会社"},
	{pat: "ゴウメイガイシャ", canon: "合名会社"},
	{pat: "相互会社", canon: "相互会社"},
	{pat: "一般社団法人", canon: "一般社団法人"},
	{pat: "(一社)", canon: "一般社団法人"},
	{pat: "一般財団法人", canon: "一般財団法人"},
	{pat: "(一財)", canon: "一般財団法人"},
	{pat: "公益社団法人", canon: "公益社団法人"},
	{pat: "(公社)", canon: "公益社団法人"},
	{pat: "公益財団法人", canon: "公益財団法人"},
	{pat: "(公財)", canon: "公益財団法人"},
	// 社団法人 and 財団法人 were abolished in 2008 but live on in old records.
	{pat: "社団法人", canon: "社団法人"},
	{pat: "(社)", canon: "社団法人"},
	{pat: "財団法人", canon: "財団法人"},
	{pat: "(財)", canon: "財団法人"},
	{pat: "特定非営利活動法人", canon: "特定非営利活動法人"},
	{pat: "npo法人", canon: "特定非営利活動法人"},
	{pat: "(特非)", canon: "特定非営利活動法人"},
	{pat: "(npo)", canon: "特定非営利活動法人"},
	{pat: "医療法人社団", canon: "医療法人"},
	{pat: "医療法人財団", canon: "医療法人"},
	{pat: "医療法人", canon: "医療法人"},
	{pat: "(医)", canon: "医療法人"},
	{pat: "学校法人", canon: "学校法人"},
	{pat: "(学)", canon: "学校法人"},
	{pat: "社会福祉法人", canon: "社会福祉法人"},
	{pat: "(福)", canon: "社会福祉法人"},
	{pat: "(社福)", canon: "社会福祉法人"},
	{pat: "宗教法人", canon: "宗教法人"},
	{pat: "(宗)", canon: "宗教法人"},
	{pat: "独立行政法人", canon: "独立行政法人"},
	{pat: "地方独立行政法人", canon: "地方独立行政法人"},
	{pat: "国立大学法人", canon: "国立大学法人"},
	{pat: "農事組合法人", canon: "農事組合法人"},
	{pat: "有限責任事業組合", canon: "有限責任事業組合"},
	{pat: "弁護士法人", canon: "弁護士法人"},
	{pat: "税理士法人", canon: "税理士法人"},
	{pat: "司法書士法人", canon: "司法書士法人"},
	{pat: "行政書士法人", canon: "行政書士法人"},
	{pat: "社会保険労務士法人", canon: "社会保険労務士法人"},
	{pat: "特許業務法人", canon: "特許業務法人"},
	{pat: "有限責任監査法人", canon: "有限責任監査法人"},
	{pat: "監査法人", canon: "監査法人"},
	{pat: "(監)", canon: "監査法人"},
	// English forms. K.K., G.K. and Y.K. are the romanised 株式会社, 合同会社 and 有限会社, so
	// "Acme K.K." and "アクメ株式会社" report the same form.
	{pat: "co., ltd.", canon: "Co., Ltd.", loose: true},
	{pat: "pte. ltd.", canon: "Pte. Ltd.", loose: true},
	{pat: "ltd.", canon: "Ltd.", loose: true},
	{pat: "limited", canon: "Ltd.", loose: true},
	{pat: "inc.", canon: "Inc.", loose: true},
	{pat: "incorporated", canon: "Inc.", loose: true},
	{pat: "corp.", canon: "Corp.", loose: true},
	{pat: "corporation", canon: "Corp.", loose: true},
	{pat: "l.l.c.", canon: "LLC", loose: true},
	{pat: "l.l.p.", canon: "LLP", loose: true},
	{pat: "p.l.c.", canon: "PLC", loose: true},
	{pat: "gmbh", canon: "GmbH", loose: true},
	{pat: "co.", canon: "Co."},
	{pat: "k.k.", canon: "株式会社"},
	{pat: "g.k.", canon: "合同会社"},
	{pat: "y.k.", canon: "有限会社"},
	{pat: "kabushiki kaisha", canon: "株式会社", loose: true},
	{pat: "kabushiki gaisha", canon: "株式会社", loose: true},
	{pat: "godo kaisha", canon: "合同会社", loose: true},
	{pat: "godo gaisha", canon: "合同会社", loose: true},
	{pat: "yugen kaisha", canon: "有限会社", loose: true},
	{pat: "yugen gaisha", canon: "有限会社", loose: true},
	// Addressing words written after a company name on envelopes and order forms.
	{pat: "御中", pos: atEnd},
	{pat: "様", pos: atEnd},
}

// formMatcher finds legal forms in a folded, lower-cased company name.
type formMatcher struct {
	// first has a bit for the first rune (modulo 2^16) of every form, so that the scan over a
	// name costs a bit test per rune and looks a rune up only where a form may start.
	first [1 << 16 / 64]uint64
	// byRune lists the forms by first rune, longest first: at one position the longest
	// spelling wins (co., ltd. over co.; 医療法人社団 over 医療法人).
	byRune map[rune][]legalForm
}

func newFormMatcher(forms []legalForm) *formMatcher {
	m := &formMatcher{byRune: make(map[rune][]legalForm)}
	for _, f := range forms {
		r, _ := utf8.DecodeRuneInString(f.pat)
		m.first[uint16(r)/64] |= 1 << (uint16(r) % 64)
		m.byRune[r] = append(m.byRune[r], f)
	}
	for _, fs := range m.byRune {
		slices.SortStableFunc(fs, func(a, b legalForm) int { return len(b.pat) - len(a.pat) })
	}
	return m
}

var defaultForms = newFormMatcher(builtinLegalForms)

// formSpan is a legal form found in a name: the bytes [start, end) and its canonical spelling.
type formSpan struct {
	start, end int
	canon      string
}

// find appends the legal forms in s, left to right, without overlap. A form enclosed in
// parentheses, (株式会社), takes the parentheses with it.
func (m *formMatcher) find(s string, spans []formSpan) []formSpan {
	lo := len(s) - len(strings.TrimLeftFunc(s, isSpace))
	hi := len(s)
	for hi > lo {
		r, size := utf8.DecodeLastRuneInString(s[:hi])
		if !isSpace(r) {
			break
		}
		hi -= size
	}
	prevEnd := 0
	for i := 0; i < len(s); {
		// No form starts inside a Latin word: forms starting with a letter or digit must be
		// words of their own.
		if i > 0 && isWordByte(s[i]) && isWordByte(s[i-1]) {
			i++
			continue
		}
		r, size := nextRune(s, i)
		if m.first[uint16(r)/64]&(1<<(uint16(r)%64)) != 0 {
			if end, f := m.matchAt(s, i, r, lo, hi); f != nil {
				start := i
				if start > prevEnd && s[start-1] == '(' && end < len(s) && s[end] == ')' {
					start--
					end++
				}
				spans = append(spans, formSpan{start: start, end: end, canon: f.canon})
				i, prevEnd = end, end
				continue
			}
		}
		i += size
	}
	return spans
}

// matchAt returns the longest form that starts at s[i] and may stand there.
func (m *formMatcher) matchAt(s string, i int, r rune, lo, hi int) (int, *legalForm) {
	fs := m.byRune[r]
	for k := range fs {
		f := &fs[k]
		if f.pos == atStart && i != lo {
			continue
		}
		var end int
		if f.loose {
			var ok bool
			if end, ok = matchLoose(s, i, f.pat); !ok {
				continue
			}
		} else {
			if !strings.HasPrefix(s[i:], f.pat) {
				continue
			}
			end = i + len(f.pat)
		}
		if f.pos == atEnd && end != hi {
			continue
		}
		// A Latin form must be a word of its own: "inc" is no form in "Incubator", nor "co."
		// in "Disco.".
		if isWordByte(s[i]) && i > 0 && isWordByte(s[i-1]) ||
			isWordByte(s[end-1]) && end < len(s) && isWordByte(s[end]) {
			continue
		}
		return end, f
	}
	return 0, nil
}

// matchLoose matches a loose pattern at s[i] and returns the end of the match.
func matchLoose(s string, i int, pat string) (int, bool) {
	if i >= len(s) || s[i] != pat[0] {
		return 0, false
	}
	j := i + 1
	for k := 1; k < len(pat); k++ {
		switch c := pat[k]; c {
		case ' ':
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
		case '.', ',':
			if j < len(s) && s[j] == c {
				j++
			}
		default:
			if j >= len(s) || s[j] != c {
				return 0, false
			}
			j++
		}
	}
	return j, true
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isNameSeparator reports punctuation left dangling at either end of a name once a form is
// removed: "Acme, Inc." leaves "acme,", "Mitsui & Co." leaves "mitsui &".
func isNameSeparator(r rune) bool {
	return r == ',' || r == '、' || r == '&'
}

// circledForms maps the circled legal forms to the parenthesised ones before NFKC.
var circledForms = strings.NewReplacer("㊑", "(株)", "㊒", "(有)")

// CompanyName normalises a company name and splits off its legal form. It applies NFKC (full-
// and half-width letters, digits and katakana; ㈱ and ㈲ become (株) and (有)), removes legal
// forms wherever they stand (株式会社, (株), ㈱, 有限会社, 合同会社, 一般社団法人, ... Inc.,
// Co., Ltd., Corp., LLC, K.K., and the ExtraLegalForms of the options), removes all whitespace
// (U+3000 included: sources disagree on a space between the form and the name) and lower-cases
// Latin letters. The legal form comes back separately in its canonical spelling (株式会社 for
// (株), ㈱ and K.K.; "" when the name has none), so that a caller may still tell 株式会社ABC from
// 有限会社ABC. It returns ok=false when nothing but legal forms and spaces is left.
func (n *Normalizer) CompanyName(s string) (name, legalForm string, ok bool) {
	low := foldCase(s, true)
	var buf [4]formSpan
	spans := n.forms.find(low, buf[:0])
	for _, sp := range spans {
		if sp.canon != "" {
			legalForm = sp.canon
			break
		}
	}
	name = nameWithout(low, spans)
	if name == "" {
		return "", "", false
	}
	return name, legalForm, true
}

// nameWithout returns s without the spans, whitespace, invisible characters and separators left
// at either end. When what is left is one contiguous piece of s, it is returned as a substring
// and nothing is allocated.
func nameWithout(s string, spans []formSpan) string {
	lo, hi := -1, -1
	gap, contiguous := false, true
	forEachKept(s, spans, func(i int, r rune, size int) {
		switch {
		case r < 0:
			gap = lo >= 0
		case isNameSeparator(r):
		default:
			if lo < 0 {
				lo = i
			} else if gap {
				contiguous = false
			}
			hi = i + size
		}
	})
	if lo < 0 {
		return ""
	}
	if contiguous {
		return s[lo:hi]
	}
	var b strings.Builder
	b.Grow(hi - lo)
	forEachKept(s[:hi], spans, func(i int, r rune, _ int) {
		if r >= 0 && i >= lo {
			b.WriteRune(r)
		}
	})
	return b.String()
}

// forEachKept calls fn for every rune of s, with r = -1 for a rune that is dropped: inside a
// span, whitespace or invisible.
func forEachKept(s string, spans []formSpan, fn func(i int, r rune, size int)) {
	sp := 0
	for i := 0; i < len(s); {
		if sp < len(spans) && i >= spans[sp].start {
			fn(i, -1, spans[sp].end-i)
			i = spans[sp].end
			sp++
			continue
		}
		r, size := nextRune(s, i)
		if isSpace(r) || isIgnorable(r) {
			fn(i, -1, size)
		} else {
			fn(i, r, size)
		}
		i += size
	}
}
