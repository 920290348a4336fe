package identity

import (
	"testing"
)

// normCase is one input and the normalised value expected; ok false means rejected.
type normCase struct {
	in   string
	want string
	ok   bool
}

func runCases(t *testing.T, name string, fn func(string) (string, bool), cases []normCase) {
	t.Helper()
	for _, c := range cases {
		got, ok := fn(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("%s(%q) = %q, %v; want %q, %v", name, c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestText(t *testing.T) {
	runCases(t, "Text", Text, []normCase{
		{"member-001", "member-001", true},
		{"Member-001", "member-001", true},
		{"  gold  member\t", "gold member", true},
		{"ＧＯＬＤ　ＭＥＭＢＥＲ", "gold member", true},
		{"ｺﾞｰﾙﾄﾞ会員", "ゴールド会員", true},
		{"a\u200bb", "ab", true},
		{"\ufeffid-1", "id-1", true},
		{"a\x1fb", "ab", true},
		{"a\r\nb", "a b", true},
		{"Ä Ö", "ä ö", true},
		{"", "", false},
		{" \u3000\t", "", false},
		{"\x00", "", false},
	})
}

func TestEmail(t *testing.T) {
	runCases(t, "Email", Email, []normCase{
		// As seen in jp-sample: case differs between sources.
		{"y.yamada49@corp49.co.jp", "y.yamada49@corp49.co.jp", true},
		{"K.abe122@corp122.co.jp", "k.abe122@corp122.co.jp", true},
		{"M.ABE265@CORP265.CO.JP", "m.abe265@corp265.co.jp", true},
		// Stray whitespace, full-width characters, invisible characters.
		{"  taro@example.jp ", "taro@example.jp", true},
		{"\u3000taro@example.jp\u3000", "taro@example.jp", true},
		{"\ttaro@example.jp\n", "taro@example.jp", true},
		{"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp", true},
		{"ＴＡＲＯ@example.jp", "taro@example.jp", true},
		{"\ufefftaro@example.jp", "taro@example.jp", true},
		{"ta\u200bro@example.jp", "taro@example.jp", true},
		{"taro+news@mail.example.co.jp", "taro+news@mail.example.co.jp", true},
		{"taro@例え.jp", "taro@例え.jp", true},
		// Not addresses.
		{"", "", false},
		{"\u3000", "", false},
		{"taro", "", false},
		{"taro@", "", false},
		{"@example.jp", "", false},
		{"taro@example", "", false},
		{"taro@@example.jp", "", false},
		{"taro@hanako@example.jp", "", false},
		{"taro@.example.jp", "", false},
		{"taro@example.jp.", "", false},
		{"taro@example..jp", "", false},
		{"taro yamada@example.jp", "", false},
		{"taro@exa mple.jp", "", false},
		{"taro@example.jp, hanako@example.jp", "", false},
		{"Taro <taro@example.jp>", "", false},
		{"<taro@example.jp>", "", false},
		{"taro\x1f@example.jp", "", false},
		{"taro@example\u3000.jp", "", false},
	})
}

func TestPersonName(t *testing.T) {
	runCases(t, "PersonName", PersonName, []normCase{
		// As seen in jp-sample: a space, an ideographic space or none between the names.
		{"藤田誠", "藤田誠", true},
		{"藤田 誠", "藤田誠", true},
		{"石川　恵子", "石川恵子", true},
		{" 石川　 恵子 ", "石川恵子", true},
		// Honorifics.
		{"山田太郎様", "山田太郎", true},
		{"山田 太郎 様", "山田太郎", true},
		{"山田太郎　様", "山田太郎", true},
		{"山田太郎さま", "山田太郎", true},
		{"山田太郎殿", "山田太郎", true},
		{"山田さん", "山田", true},
		{"山田太郎氏", "山田太郎", true},
		{"様", "", false},
		// Half-width katakana and middle dots between given and family names.
		{"ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ", true},
		{"ヤマダ　タロウ", "ヤマダタロウ", true},
		{"ジョン・スミス", "ジョンスミス", true},
		{"ｼﾞｮﾝ･ｽﾐｽ", "ジョンスミス", true},
		{"ジョン･スミス", "ジョンスミス", true},
		// Latin letters, full-width or not.
		{"Taro Yamada", "taroyamada", true},
		{"ＴＡＲＯ　ＹＡＭＡＤＡ", "taroyamada", true},
		{"taroyamada", "taroyamada", true},
		{"\u200b山田\ufeff太郎", "山田太郎", true},
		{"", "", false},
		{"\u3000 ", "", false},
		{"・", "", false},
	})
}

func TestPostalCode(t *testing.T) {
	runCases(t, "PostalCode", PostalCode, []normCase{
		// As seen in jp-sample.
		{"〒742-8792", "7428792", true},
		{"650-0493", "6500493", true},
		{"4797591", "4797591", true},
		// Width, dash variants, spaces.
		{"〒 742-8792", "7428792", true},
		{"〒７４２－８７９２", "7428792", true},
		{"７４２ー８７９２", "7428792", true},
		{"742ｰ8792", "7428792", true},
		{"742‐8792", "7428792", true},
		{"742−8792", "7428792", true},
		{"742–8792", "7428792", true},
		{"742—8792", "7428792", true},
		{"742﹣8792", "7428792", true},
		{" 742 8792 ", "7428792", true},
		{"\u3000742-8792", "7428792", true},
		{"〶742-8792", "7428792", true},
		// Other countries: upper-cased, without spaces or hyphens.
		{"sw1a 1aa", "SW1A1AA", true},
		{"K1A 0B6", "K1A0B6", true},
		{"12345-6789", "123456789", true},
		{"ｓｗ１ａ　１ａａ", "SW1A1AA", true},
		// Not postal codes.
		{"", "", false},
		{"〒", "", false},
		{"12", "", false},
		{"〒742-8792 東京都", "", false},
		{"742/8792", "", false},
		{"12345678901", "", false},
	})
}

// TestZeroAllocs checks that values already normal cost no allocation: resolution normalises
// every identifier of every record.
func TestZeroAllocs(t *testing.T) {
	n := mustNormalizer(t, Options{})
	for name, fn := range map[string]func(){
		"Email":                func() { Email("y.yamada49@corp49.co.jp") },
		"Email trimmed":        func() { Email(" y.yamada49@corp49.co.jp ") },
		"Phone E.164":          func() { n.Phone("+81312345678") },
		"PersonName":           func() { PersonName("山田太郎") },
		"PersonName honorific": func() { PersonName("山田太郎様") },
		"PostalCode":           func() { PostalCode("4797591") },
		"Text":                 func() { Text("gold member") },
		"CompanyName":          func() { n.CompanyName("株式会社大和食品") },
		"CompanyName suffix":   func() { n.CompanyName("大和食品(株)") },
		"CompanyName ASCII":    func() { n.CompanyName("acme inc.") },
		"LineUserID":           func() { n.Normalize("LineUserID", "U4af4980629abcdef0123456789abcdef") },
	} {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocations, want 0", name, a)
		}
	}
	for name, fn := range map[string]func(){
		"Email upper":     func() { Email("Y.Yamada49@corp49.co.jp") },
		"Phone national":  func() { n.Phone("03-1234-5678") },
		"Phone full":      func() { n.Phone("０３ー１２３４ー５６７８") },
		"PostalCode 〒":    func() { PostalCode("〒742-8792") },
		"CompanyName ㈱":   func() { n.CompanyName("㈱大和食品") },
		"CompanyName ＡＢＣ": func() { n.CompanyName("ＡＢＣ商事株式会社") },
	} {
		if a := testing.AllocsPerRun(100, fn); a > 1 {
			t.Errorf("%s: %v allocations, want at most 1", name, a)
		}
	}
}
