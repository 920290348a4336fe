// Package synth generates made-up customer data for examples, tests and benchmarks, with the
// ground truth of which records are one customer. Everything is deterministic by seed.
package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
)

// JPContact is one record of a Japanese B2B contact in one system.
type JPContact struct {
	System, ID                                          string
	Company, Name, Email, Phone, PostalCode, Prefecture string
	// Entity is the ground truth: records with the same Entity are one person.
	Entity string
}

// JPSystems are the systems a JPContacts data set spreads its records over.
var JPSystems = []string{"crm", "ma", "meishi", "ec"}

var (
	companyStems = []string{"朝日", "大和", "青葉", "みらい", "さくら", "光", "太陽", "中央", "協和", "三和", "ABC", "XYZ", "ONE", "グローバル", "東邦", "北斗"}
	companyKinds = []string{"物産", "商事", "工業", "食品", "建設", "通信", "製作所", "ホールディングス", "システムズ", "不動産"}
	legalForms   = []struct{ full, short []string }{
		{[]string{"株式会社"}, []string{"㈱", "(株)", "（株）"}},
		{[]string{"有限会社"}, []string{"㈲", "(有)", "（有）"}},
		{[]string{"合同会社"}, []string{"(同)", "（同）"}},
	}
	familyNames = []string{"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水"}
	givenNames  = []string{"太郎", "花子", "健太", "結衣", "大輔", "さくら", "直樹", "恵子", "陽向", "颯太", "美咲", "翔", "悠斗", "愛", "誠", "由美"}
	romaji      = map[string]string{"佐藤": "sato", "鈴木": "suzuki", "高橋": "takahashi", "田中": "tanaka", "伊藤": "ito", "渡辺": "watanabe", "山本": "yamamoto", "中村": "nakamura", "小林": "kobayashi", "加藤": "kato", "吉田": "yoshida", "山田": "yamada", "佐々木": "sasaki", "山口": "yamaguchi", "松本": "matsumoto", "井上": "inoue", "木村": "kimura", "林": "hayashi", "斎藤": "saito", "清水": "shimizu"}
	prefectures = []string{"東京都", "大阪府", "神奈川県", "愛知県", "福岡県", "北海道"}
	areaCodes   = []string{"3", "6", "45", "52", "92", "11"}
)

// JPContacts generates the records of n people spread over JPSystems, each person in one to four
// systems and spelled differently in each: legal forms before or after the company name and
// abbreviated (㈱, (株)), full-width letters and digits, spaces including U+3000 in names, phone
// numbers in five formats, postal codes with and without 〒 and hyphen, e-mail case. A few
// colleagues give their company's reception number, shared by more people than a resolution
// should link on.
func JPContacts(seed uint64, n int) []JPContact {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type company struct {
		name, legal, short string
		before             bool
		postal, pref       string
		area               string
		reception          phoneNumber
	}
	companies := make([]company, n/4+1)
	for i := range companies {
		lf := legalForms[rng.IntN(len(legalForms))]
		area := rng.IntN(len(areaCodes))
		companies[i] = company{
			name:      companyStems[rng.IntN(len(companyStems))] + companyKinds[rng.IntN(len(companyKinds))],
			legal:     lf.full[0],
			short:     lf.short[rng.IntN(len(lf.short))],
			before:    rng.IntN(2) == 0,
			postal:    fmt.Sprintf("%03d%04d", 100+rng.IntN(900), rng.IntN(10000)),
			pref:      prefectures[area],
			area:      areaCodes[area],
			reception: localNumber(rng, areaCodes[area]),
		}
	}
	var out []JPContact
	counters := map[string]int{}
	for e := range n {
		c := companies[rng.IntN(len(companies))]
		family, given := familyNames[rng.IntN(len(familyNames))], givenNames[rng.IntN(len(givenNames))]
		local := fmt.Sprintf("%c.%s%d", "tkysmhan"[rng.IntN(8)], romaji[family], e)
		email := local + fmt.Sprintf("@corp%d.co.jp", rng.IntN(len(companies)))
		phone := localNumber(rng, c.area)
		if rng.IntN(40) == 0 {
			phone = c.reception
		}
		entity := fmt.Sprintf("E%05d", e)
		systems := rng.Perm(len(JPSystems))[:1+rng.IntN(len(JPSystems))]
		for _, s := range systems {
			system := JPSystems[s]
			counters[system]++
			r := JPContact{System: system, ID: fmt.Sprintf("%s-%06d", system, counters[system]), Entity: entity, Prefecture: c.pref}
			r.Company = spellCompany(rng, c.name, c.legal, c.short, c.before)
			r.Name = spellName(rng, family, given)
			if rng.IntN(6) > 0 {
				r.Email = spellEmail(rng, email)
			}
			if rng.IntN(5) > 0 {
				r.Phone = spellPhone(rng, phone)
			}
			r.PostalCode = spellPostal(rng, c.postal)
			// Without an email or a phone, the company and name still link the record.
			out = append(out, r)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// phoneNumber is a Japanese fixed-line number: an area code without its leading 0 and the
// subscriber number, together nine digits.
type phoneNumber struct{ area, subscriber string }

func localNumber(rng *rand.Rand, area string) phoneNumber {
	digits := 9 - len(area)
	return phoneNumber{area, fmt.Sprintf("%0*d", digits, rng.IntN(pow10(digits)))}
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

func spellCompany(rng *rand.Rand, name, legal, short string, before bool) string {
	if rng.IntN(5) == 0 {
		name = toFullWidth(name)
	}
	form := legal
	if rng.IntN(3) == 0 {
		form = short
	}
	s := name + form
	if before {
		s = form + name
		if rng.IntN(3) == 0 {
			s = form + " " + name
		}
	}
	if rng.IntN(8) == 0 {
		s += " "
	}
	return s
}

func spellName(rng *rand.Rand, family, given string) string {
	return family + []string{"", " ", "　"}[rng.IntN(3)] + given
}

func spellEmail(rng *rand.Rand, email string) string {
	switch rng.IntN(6) {
	case 0:
		return strings.ToUpper(email)
	case 1:
		return strings.ToUpper(email[:1]) + email[1:]
	case 2:
		return " " + email
	}
	return email
}

// spellPhone writes a number in one of the forms Japanese systems use.
func spellPhone(rng *rand.Rand, p phoneNumber) string {
	area, nsn := p.area, p.area+p.subscriber
	mid, last := p.subscriber[:len(p.subscriber)-4], p.subscriber[len(p.subscriber)-4:]
	switch rng.IntN(6) {
	case 0:
		return "0" + area + "-" + mid + "-" + last
	case 1:
		return "(0" + area + ")" + mid + "-" + last
	case 2:
		return "+81-" + area + "-" + mid + "-" + last
	case 3:
		return "+81" + nsn
	case 4:
		return toFullWidth("0" + area + "-" + mid + "-" + last)
	}
	return "0" + nsn
}

func spellPostal(rng *rand.Rand, code string) string {
	switch rng.IntN(3) {
	case 0:
		return "〒" + code[:3] + "-" + code[3:]
	case 1:
		return code[:3] + "-" + code[3:]
	}
	return code
}

// toFullWidth turns ASCII letters, digits and hyphens into their full-width forms.
func toFullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-':
			return 'ー' // what an IME often produces in a phone number
		case r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			return r + 0xFEE0
		}
		return r
	}, s)
}
