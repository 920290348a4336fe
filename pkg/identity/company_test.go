package identity

import (
	"testing"
)

type companyCase struct {
	in, name, form string
	ok             bool
}

func runCompanyCases(t *testing.T, n *Normalizer, cases []companyCase) {
	t.Helper()
	for _, c := range cases {
		name, form, ok := n.CompanyName(c.in)
		if name != c.name || form != c.form || ok != c.ok {
			t.Errorf("CompanyName(%q) = %q, %q, %v; want %q, %q, %v", c.in, name, form, ok, c.name, c.form, c.ok)
		}
	}
}

// TestCompanyNameLegalForms puts every spelling of every Japanese legal form before and after
// names written in kanji, full-width and half-width letters and half-width katakana, joined
// with no space, a space, a U+3000 space and stray spaces at the ends.
func TestCompanyNameLegalForms(t *testing.T) {
	n := mustNormalizer(t, Options{})
	forms := []struct{ spelling, canon string }{
		{"株式会社", "株式会社"}, {"(株)", "株式会社"}, {"（株）", "株式会社"}, {"㈱", "株式会社"},
		{"㊑", "株式会社"}, {"株式會社", "株式会社"}, {"カブシキガイシャ", "株式会社"},
		{"ｶﾌﾞｼｷｶﾞｲｼｬ", "株式会社"}, {"ｶﾌﾞｼｷｶｲｼｬ", "株式会社"}, {"(ｶ)", "株式会社"},
		{"有限会社", "有限会社"}, {"(有)", "有限会社"}, {"（有）", "有限会社"}, {"㈲", "有限会社"},
		{"㊒", "有限会社"}, {"ﾕｳｹﾞﾝｶﾞｲｼｬ", "有限会社"},
		{"合同会社", "合同会社"}, {"(同)", "合同会社"}, {"（同）", "合同会社"},
		{"合資会社", "合資会社"}, {"(資)", "合資会社"}, {"㈾", "合資会社"},
		{"合名会社", "合名会社"}, {"(名)", "合名会社"}, {"㈴", "合名会社"},
		{"一般社団法人", "一般社団法人"}, {"(一社)", "一般社団法人"},
		{"一般財団法人", "一般財団法人"}, {"(一財)", "一般財団法人"},
		{"公益社団法人", "公益社団法人"}, {"(公社)", "公益社団法人"},
		{"公益財団法人", "公益財団法人"}, {"(公財)", "公益財団法人"},
		{"社団法人", "社団法人"}, {"㈳", "社団法人"}, {"財団法人", "財団法人"}, {"㈶", "財団法人"},
		{"特定非営利活動法人", "特定非営利活動法人"}, {"NPO法人", "特定非営利活動法人"},
		{"ＮＰＯ法人", "特定非営利活動法人"}, {"npo法人", "特定非営利活動法人"}, {"(特非)", "特定非営利活動法人"},
		{"医療法人", "医療法人"}, {"医療法人社団", "医療法人"}, {"医療法人財団", "医療法人"}, {"(医)", "医療法人"},
		{"学校法人", "学校法人"}, {"㈻", "学校法人"}, {"社会福祉法人", "社会福祉法人"}, {"(福)", "社会福祉法人"},
		{"宗教法人", "宗教法人"}, {"(宗)", "宗教法人"}, {"監査法人", "監査法人"},
	}
	names := []struct{ in, want string }{
		{"大和食品", "大和食品"},
		{"ABC商事", "abc商事"},
		{"ＡＢＣ商事", "abc商事"},
		{"ｱﾙﾌｧ商事", "アルファ商事"},
		{"ベータホールディングス", "ベータホールディングス"},
		{"XYZ Systems", "xyzsystems"},
	}
	var cases []companyCase
	for _, f := range forms {
		for _, nm := range names {
			for _, sep := range []string{"", " ", "\u3000", "  "} {
				// A Latin form glued to a Latin name is no word of its own.
				if sep == "" && isWordByte(nm.in[len(nm.in)-1]) && isWordByte(fold(f.spelling)[0]) {
					continue
				}
				cases = append(cases,
					companyCase{f.spelling + sep + nm.in, nm.want, f.canon, true},
					companyCase{nm.in + sep + f.spelling, nm.want, f.canon, true},
					companyCase{" " + f.spelling + sep + nm.in + "\u3000", nm.want, f.canon, true},
				)
			}
		}
		cases = append(cases, companyCase{f.spelling, "", "", false}, companyCase{" " + f.spelling + "\u3000", "", "", false})
	}
	runCompanyCases(t, n, cases)
}

// TestCompanyNameEnglishForms puts the English legal forms after (and some before) Latin names.
func TestCompanyNameEnglishForms(t *testing.T) {
	n := mustNormalizer(t, Options{})
	forms := []struct{ spelling, canon string }{
		{"Inc.", "Inc."}, {"Inc", "Inc."}, {"INC.", "Inc."}, {"Incorporated", "Inc."},
		{"Co., Ltd.", "Co., Ltd."}, {"Co.,Ltd.", "Co., Ltd."}, {"CO., LTD.", "Co., Ltd."},
		{"Co. Ltd.", "Co., Ltd."}, {"Co Ltd", "Co., Ltd."}, {"Co.,Ltd", "Co., Ltd."}, {"Ｃｏ．，Ｌｔｄ．", "Co., Ltd."},
		{"Ltd.", "Ltd."}, {"Ltd", "Ltd."}, {"Limited", "Ltd."},
		{"Corp.", "Corp."}, {"Corp", "Corp."}, {"Corporation", "Corp."},
		{"LLC", "LLC"}, {"L.L.C.", "LLC"}, {"PLC", "PLC"}, {"GmbH", "GmbH"}, {"Pte. Ltd.", "Pte. Ltd."},
		{"Co.", "Co."}, {"K.K.", "株式会社"}, {"G.K.", "合同会社"}, {"Y.K.", "有限会社"},
		{"Kabushiki Kaisha", "株式会社"}, {"Godo Kaisha", "合同会社"},
	}
	var cases []companyCase
	for _, f := range forms {
		for _, sep := range []string{" ", ", ", "\u3000", " \u3000 "} {
			cases = append(cases, companyCase{"ACME Trading" + sep + f.spelling, "acmetrading", f.canon, true})
		}
		cases = append(cases, companyCase{f.spelling + " ACME", "acme", f.canon, true})
	}
	runCompanyCases(t, n, cases)
}

func TestCompanyName(t *testing.T) {
	n := mustNormalizer(t, Options{})
	runCompanyCases(t, n, []companyCase{
		// As seen in jp-sample.
		{"有限会社 朝日物産", "朝日物産", "有限会社", true},
		{"(株)光ホールディングス", "光ホールディングス", "株式会社", true},
		{"合同会社　東邦電機", "東邦電機", "合同会社", true},
		{"㈲XYZ建設", "xyz建設", "有限会社", true},
		{"ＸＹＺ建設（有）", "xyz建設", "有限会社", true},
		{"青葉不動産有限会社 ", "青葉不動産", "有限会社", true},
		{"大和建設株式会社　", "大和建設", "株式会社", true},
		{"みらい通信(同)", "みらい通信", "合同会社", true},
		// No legal form.
		{"大和食品", "大和食品", "", true},
		{"ＡＢＣ", "abc", "", true},
		// Forms are whole words: no "inc" in Incubator, no "co." in Disco. or Co-op.
		{"Incubator", "incubator", "", true},
		{"Incubator Inc.", "incubator", "Inc.", true},
		{"Disco.", "disco.", "", true},
		{"Co-op Mart", "co-opmart", "", true},
		{"Cocoa Co.", "cocoa", "Co.", true},
		{"Gmbhx", "gmbhx", "", true},
		{"KK Lab", "kklab", "", true},
		// Dangling punctuation goes with the form; inner punctuation stays.
		{"Acme, Inc.", "acme", "Inc.", true},
		{"Mitsui & Co., Ltd.", "mitsui", "Co., Ltd.", true},
		{"Mitsui & Co.", "mitsui", "Co.", true},
		{"P&G株式会社", "p&g", "株式会社", true},
		{"A.B.C. Inc.", "a.b.c.", "Inc.", true},
		// Forms in the middle, in parentheses, twice; the first decides the legal form.
		{"ABC株式会社東京支店", "abc東京支店", "株式会社", true},
		{"ABC (株式会社)", "abc", "株式会社", true},
		{"ABC（株式会社）", "abc", "株式会社", true},
		{"株式会社ABC ABC Co., Ltd.", "abcabc", "株式会社", true},
		// Longest spelling wins.
		{"一般社団法人日本ABC協会", "日本abc協会", "一般社団法人", true},
		{"医療法人社団 青葉会", "青葉会", "医療法人", true},
		{"有限責任監査法人トーマツ", "トーマツ", "有限責任監査法人", true},
		// 全銀 (bank transfer) abbreviations only where they stand in that format.
		{"ｶ)ﾔﾏﾀﾞｼｮｳｼﾞ", "ヤマダショウジ", "株式会社", true},
		{"ﾔﾏﾀﾞｼｮｳｼﾞ(ｶ", "ヤマダショウジ", "株式会社", true},
		{"ﾄﾞ)ｱｵﾊﾞ", "アオバ", "合同会社", true},
		{"ﾏﾙｶ)ﾃﾝ", "マルカ)テン", "", true},
		// Addressing words.
		{"株式会社ＡＢＣ　御中", "abc", "株式会社", true},
		{"ABC商事株式会社様", "abc商事", "株式会社", true},
		// Names that only look like forms stay.
		{"株式投資研究所", "株式投資研究所", "", true},
		{"有限堂", "有限堂", "", true},
		// Nothing left.
		{"", "", "", false},
		{"\u3000 ", "", "", false},
		{"株式会社　", "", "", false},
		{"(株)(有)", "", "", false},
		{"Inc.", "", "", false},
		{", Inc.", "", "", false},
		{"御中", "", "", false},
	})
}

func TestCompanyNameExtraLegalForms(t *testing.T) {
	n := mustNormalizer(t, Options{ExtraLegalForms: []string{"Sdn. Bhd.", " 協同組合 ", "S.A.", "ＡＧ"}})
	runCompanyCases(t, n, []companyCase{
		{"ABC Sdn. Bhd.", "abc", "Sdn. Bhd.", true},
		{"ABC SDN BHD", "abc", "Sdn. Bhd.", true},
		{"東京農業協同組合", "東京農業", "協同組合", true},
		{"Acme S.A.", "acme", "S.A.", true},
		{"Acme SA", "acme", "S.A.", true},
		{"Samsung", "samsung", "", true},
		{"Siemens AG", "siemens", "AG", true},
		{"Agfa", "agfa", "", true},
		// Built-in forms still apply.
		{"㈱ABC", "abc", "株式会社", true},
		{"ABC Co., Ltd.", "abc", "Co., Ltd.", true},
	})
	// Without the option, 協同組合 is part of the name.
	runCompanyCases(t, mustNormalizer(t, Options{}), []companyCase{
		{"東京農業協同組合", "東京農業協同組合", "", true},
	})
}
