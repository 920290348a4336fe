package identity

import (
	"sync"
	"testing"
)

// The benchmark inputs mix the spellings the Japanese sample data shows, roughly as often as it
// shows them: mostly ASCII e-mail addresses with some upper case; national, parenthesised and
// +81 phone numbers; kanji company names with their legal form spelt out, abbreviated, as ㈱ or
// with full-width letters; a few rarer ones (full-width digits, half-width katakana).
var (
	benchEmails = []string{
		"y.yamada49@corp49.co.jp", "K.abe122@corp122.co.jp", "t.yamada58@corp58.co.jp",
		"M.ABE265@CORP265.CO.JP", "s.kato292@corp292.co.jp", " h.ito140@corp140.co.jp",
		"k.sato7@corp7.co.jp", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ",
	}
	benchPhones = []string{
		"011-5898-4868", "(045)4318-0921", "0362857125", "+81-6-9667-3370", "+811188924674",
		"06-4452-4677", "(03)1862-7627", "+81-45-2282-7172", "090-1234-5678", "０３ー１２３４ー５６７８",
	}
	benchCompanies = []string{
		"有限会社 朝日物産", "(株)光ホールディングス", "株式会社大阪ホールディングス", "合同会社ベータ物産",
		"㈲XYZ建設", "ＸＹＺ建設（有）", "青葉不動産有限会社 ", "みらい通信(同)", "株式会社　ひかり商事",
		"中央産業株式会社", "ABC Trading Co., Ltd.", "ｶﾌﾞｼｷｶﾞｲｼｬﾔﾏﾀﾞｼｮｳｼﾞ",
	}
	benchNames = []string{"藤田 誠", "石川　恵子", "松本結衣", "山田太郎 様", "ﾔﾏﾀﾞ ﾀﾛｳ"}
)

// sink keeps results alive so that the compiler cannot drop the calls.
var (
	sink   string
	sinkMu sync.Mutex
)

func benchNormalizer(b *testing.B) *Normalizer {
	b.Helper()
	n, err := NewNormalizer(Options{})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func BenchmarkEmail(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink, _ = Email(benchEmails[i%len(benchEmails)])
	}
}

func BenchmarkPhone(b *testing.B) {
	n := benchNormalizer(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink, _ = n.Phone(benchPhones[i%len(benchPhones)])
	}
}

// BenchmarkPhoneLibrary is what every number would cost without the fast path.
func BenchmarkPhoneLibrary(b *testing.B) {
	n := benchNormalizer(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink, _ = n.phoneLibrary(cleanPhone(benchPhones[i%len(benchPhones)]))
	}
}

func BenchmarkCompanyName(b *testing.B) {
	n := benchNormalizer(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink, _, _ = n.CompanyName(benchCompanies[i%len(benchCompanies)])
	}
}

// BenchmarkCompanyNameSpellings breaks CompanyName down by kind of spelling.
func BenchmarkCompanyNameSpellings(b *testing.B) {
	n := benchNormalizer(b)
	for _, c := range []struct{ name, in string }{
		{"kanji", "株式会社大阪ホールディングス"},
		{"abbreviated", "(株)光ホールディングス"},
		{"circled", "㈲XYZ建設"},
		{"full-width", "ＸＹＺ建設（有）"},
		{"ascii", "ABC Trading Co., Ltd."},
		{"half-width-kana", "ｶﾌﾞｼｷｶﾞｲｼｬﾔﾏﾀﾞｼｮｳｼﾞ"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink, _, _ = n.CompanyName(c.in)
			}
		})
	}
}

func BenchmarkPersonName(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink, _ = PersonName(benchNames[i%len(benchNames)])
	}
}

// BenchmarkRecord normalises the e-mail address, phone number and company name of one record
// per op on every core at once, as resolution does: ns/op is the wall time per record.
func BenchmarkRecord(b *testing.B) {
	n := benchNormalizer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var email, phone, company string
		for i := 0; pb.Next(); i++ {
			email, _ = Email(benchEmails[i%len(benchEmails)])
			phone, _ = n.Phone(benchPhones[i%len(benchPhones)])
			company, _, _ = n.CompanyName(benchCompanies[i%len(benchCompanies)])
		}
		sinkMu.Lock()
		sink = email + phone + company
		sinkMu.Unlock()
	})
}
