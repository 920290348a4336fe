package template

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseNamesThePartThatFails(t *testing.T) {
	tests := []struct {
		name  string
		parts Parts
		want  string
	}{
		{name: "subject", parts: Parts{Subject: "{{ .Attributes.name "}, want: "subject template does not parse: subject:1:"},
		{name: "text", parts: Parts{Text: "{{ if }}"}, want: "text template does not parse: text:1:"},
		{name: "html", parts: Parts{HTML: "<p>{{ end }}</p>"}, want: "html template does not parse: html:1:"},
		{name: "payload", parts: Parts{Payload: `{"a": {{ nosuchfunc }} }`}, want: `payload template does not parse: payload:1: function "nosuchfunc" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.parts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func render(t *testing.T, p Parts, d Data) Rendered {
	t.Helper()
	m, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRender(t *testing.T) {
	got := render(t, Parts{
		Subject: "{{ honorific .Attributes.last_name }}、お誕生日おめでとうございます",
		Text:    "{{ default \"お客\" .Attributes.first_name }}様 {{ .Attributes.missing }}| {{ localDate \"2006年1月2日\" \"Asia/Tokyo\" .Attributes.joined }}",
		HTML:    "<p>{{ .Attributes.last_name }}</p>",
	}, Data{Attributes: map[string]any{
		"last_name": "<山田>",
		"joined":    time.Date(2026, 3, 31, 16, 0, 0, 0, time.UTC),
	}})
	if want := "<山田>様、お誕生日おめでとうございます"; got.Subject != want {
		t.Errorf("subject = %q, want %q", got.Subject, want)
	}
	if want := "お客様 | 2026年4月1日"; got.Text != want {
		t.Errorf("text = %q, want %q", got.Text, want)
	}
	if want := "<p>&lt;山田&gt;</p>"; got.HTML != want {
		t.Errorf("html = %q, want %q", got.HTML, want)
	}
}

// Every way of reading a value that a recipient lacks renders nothing, in every part.
func TestMissingValuesRenderEmpty(t *testing.T) {
	reads := []string{
		`{{ .Attributes.missing }}`,
		`{{ index .Attributes "missing" }}`,
		`{{ .Identifiers.Email }}`,
		`{{ .Links.unsubscribe }}`,
		`{{ unsubscribeURL }}`,
		`{{ $v := .Attributes.missing }}{{ $v }}`,
		`{{ or .Attributes.missing .Attributes.other }}`,
		`{{ with .Attributes }}{{ .missing }}{{ end }}`,
		`{{ .Attributes.missing | honorific }}`,
		`{{ yen .Attributes.missing }}`,
		`{{ localDate "1月2日" .Attributes.missing }}`,
	}
	for _, read := range reads {
		t.Run(read, func(t *testing.T) {
			source := "[" + read + "]"
			got := render(t, Parts{Subject: source, Text: source, HTML: source, Payload: `"` + source + `"`}, Data{})
			for part, out := range map[string]string{"subject": got.Subject, "text": got.Text, "html": got.HTML, "payload": got.Payload} {
				want := "[]"
				if part == "payload" {
					want = `"[]"`
				}
				if out != want {
					t.Errorf("%s = %q, want %q", part, out, want)
				}
			}
		})
	}
}

func TestTextPartsAreNotEscaped(t *testing.T) {
	value := `<b>"山田" & 'co'</b>`
	got := render(t, Parts{Subject: "{{ .Attributes.v }}", Text: "{{ .Attributes.v }}"},
		Data{Attributes: map[string]any{"v": value}})
	if got.Subject != value || got.Text != value {
		t.Fatalf("subject %q, text %q, want both %q", got.Subject, got.Text, value)
	}
}

func TestHTMLEscapesByContext(t *testing.T) {
	got := render(t, Parts{
		HTML: `<a href="{{ .Attributes.url }}" title="{{ .Attributes.v }}">{{ .Attributes.v }}</a><script>var v = {{ .Attributes.v }};</script>`,
	}, Data{Attributes: map[string]any{"v": `"><script>alert(1)</script>`, "url": "javascript:alert(1)"}})
	for _, leak := range []string{`"><script>alert(1)`, `href="javascript:`} {
		if strings.Contains(got.HTML, leak) {
			t.Errorf("html %q contains %q", got.HTML, leak)
		}
	}
	if !strings.Contains(got.HTML, `var v = "\"\u003e\u003cscript\u003ealert(1)\u003c/script\u003e";`) {
		t.Errorf("html %q does not quote the value as a JavaScript string", got.HTML)
	}
}

// A profile value with quotes, backslashes, newlines and control characters stays one JSON
// string; json prints whole values.
func TestPayloadEscapesValuesAsJSON(t *testing.T) {
	name := "山田 \"太郎\"\n\\ \t\x01\u2028</script>"
	tags := []any{"vip", "早期"}
	got := render(t, Parts{Payload: `{"name": "{{ .Attributes.name }}", "greeting": "{{ honorific .Attributes.name }}",
		"points": {{ json .Attributes.points }}, "tags": {{ json .Attributes.tags }}, "none": {{ json .Attributes.missing }},
		"count": {{ .Attributes.points }}, "url": "{{ unsubscribeURL }}"}`},
		Data{
			Attributes: map[string]any{"name": name, "points": 1200.0, "tags": tags},
			Links:      map[string]string{"unsubscribe": "https://kizuna.example/u/x?a=1&b=2"},
		})
	var decoded map[string]any
	if err := json.Unmarshal([]byte(got.Payload), &decoded); err != nil {
		t.Fatalf("payload %q is not JSON: %v", got.Payload, err)
	}
	want := map[string]any{
		"name": name, "greeting": name + "様", "points": 1200.0, "tags": tags, "none": nil, "count": 1200.0,
		"url": "https://kizuna.example/u/x?a=1&b=2",
	}
	for k, v := range want {
		if !jsonEqual(decoded[k], v) {
			t.Errorf("%s = %#v, want %#v (payload %s)", k, decoded[k], v, got.Payload)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestHonorificOfEmptyNameIsEmpty(t *testing.T) {
	got := render(t, Parts{Text: "[{{ honorific .Attributes.last_name }}][{{ honorific \"  \" }}]"}, Data{})
	if got.Text != "[][]" {
		t.Fatalf("text = %q, want [][]", got.Text)
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		value any
		want  string
	}{
		{nil, "お客"},
		{"", "お客"},
		{"花子", "花子"},
		{0.0, "0"},
		{false, "false"},
	}
	for _, tt := range tests {
		got := render(t, Parts{Text: `{{ default "お客" .Attributes.first_name }}`},
			Data{Attributes: map[string]any{"first_name": tt.value}})
		if got.Text != tt.want {
			t.Errorf("default of %#v = %q, want %q", tt.value, got.Text, tt.want)
		}
	}
}

func TestLocalDate(t *testing.T) {
	lastOrder := time.Date(2026, 3, 31, 16, 30, 0, 0, time.UTC)
	tests := []struct {
		name, source, zone string
		want               string
	}{
		{"recipient's zone", `{{ localDate "2006年1月2日 15:04" .Attributes.last_order_at }}`, "Asia/Tokyo", "2026年4月1日 01:30"},
		{"another recipient's zone", `{{ localDate "2006年1月2日 15:04" .Attributes.last_order_at }}`, "America/Los_Angeles", "2026年3月31日 09:30"},
		{"no zone is UTC", `{{ localDate "2006年1月2日 15:04" .Attributes.last_order_at }}`, "", "2026年3月31日 16:30"},
		{"piped", `{{ .Attributes.last_order_at | localDate "1月2日" }}`, "Asia/Tokyo", "4月1日"},
		{"zone of its own", `{{ localDate "1月2日" "America/New_York" .Attributes.last_order_at }}`, "Asia/Tokyo", "3月31日"},
		{"the recipient's zone by name", `{{ localDate "1月2日" .TimeZone .Attributes.last_order_at }}`, "Asia/Tokyo", "4月1日"},
		{"not a time", `[{{ localDate "1月2日" .Attributes.name }}]`, "Asia/Tokyo", "[]"},
		{"called by name as an argument", `{{ printf "%s" (localDate "1月2日" .Attributes.last_order_at) }}`, "Asia/Tokyo", "4月1日"},
		// Inside a template called with another value, $ is that value: the zone is UTC.
		{"in a called template", `{{ define "d" }}{{ localDate "15:04" . }}{{ end }}{{ template "d" .Attributes.last_order_at }}`, "Asia/Tokyo", "16:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, Parts{Text: tt.source, HTML: tt.source}, Data{
				TimeZone:   tt.zone,
				Attributes: map[string]any{"last_order_at": lastOrder, "name": "山田"},
			})
			if got.Text != tt.want || got.HTML != tt.want {
				t.Fatalf("text %q, html %q, want %q", got.Text, got.HTML, tt.want)
			}
		})
	}
}

func TestLocalDateErrors(t *testing.T) {
	tests := []struct {
		name, source, zone, want string
	}{
		{"unknown recipient zone", `{{ localDate "1月2日" .Attributes.t }}`, "Asia/Atlantis", `localDate: time zone "Asia/Atlantis"`},
		{"unknown zone argument", `{{ localDate "1月2日" "Mars/Olympus" .Attributes.t }}`, "", `localDate: time zone "Mars/Olympus"`},
		{"zone not a string", `{{ localDate "1月2日" 9 .Attributes.t }}`, "", "the zone must be a string"},
		{"too many arguments", `{{ localDate "1月2日" "UTC" "UTC" .Attributes.t }}`, "", "localDate takes a layout, an optional zone and a time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(Parts{Text: tt.source})
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Render(Data{TimeZone: tt.zone, Attributes: map[string]any{"t": time.Now()}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestYen(t *testing.T) {
	tests := []struct {
		args []any
		want string
	}{
		{[]any{1234.0}, "¥1,234"},
		{[]any{"円", 1234.0}, "1,234円"},
		{[]any{"¥", 1234567}, "¥1,234,567"},
		{[]any{0}, "¥0"},
		{[]any{999}, "¥999"},
		{[]any{1000}, "¥1,000"},
		{[]any{100000}, "¥100,000"},
		{[]any{1234.5}, "¥1,235"},
		{[]any{1234.4}, "¥1,234"},
		{[]any{-1500.0}, "-¥1,500"},
		{[]any{"円", -1500.0}, "-1,500円"},
		{[]any{-0.4}, "¥0"},
		{[]any{uint8(200)}, "¥200"},
		{[]any{json.Number("98000")}, "¥98,000"},
		{[]any{" 2980 "}, "¥2,980"},
		{[]any{"abc"}, ""},
		{[]any{nil}, ""},
		{[]any{true}, ""},
	}
	for _, tt := range tests {
		got, err := yen(tt.args...)
		if err != nil || got != tt.want {
			t.Errorf("yen(%#v) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
	for _, args := range [][]any{{}, {"$", 1}, {"円", 1, 2}} {
		if _, err := yen(args...); err == nil {
			t.Errorf("yen(%#v) did not fail", args)
		}
	}
}

func TestYenInATemplate(t *testing.T) {
	got := render(t, Parts{Text: `{{ yen .Attributes.total }} / {{ .Attributes.total | yen "円" }}`},
		Data{Attributes: map[string]any{"total": 12800.0}})
	if want := "¥12,800 / 12,800円"; got.Text != want {
		t.Fatalf("text = %q, want %q", got.Text, want)
	}
}

// prefixBuilder makes a click link by prepending itself to the target, and an open pixel at
// itself followed by open.gif.
type prefixBuilder string

func (p prefixBuilder) ClickURL(target string) string { return string(p) + target }
func (p prefixBuilder) OpenURL() string               { return string(p) + "open.gif" }

// pixelBuilder makes an open pixel at the URL it is.
type pixelBuilder string

func (p pixelBuilder) ClickURL(target string) string { return target }
func (p pixelBuilder) OpenURL() string               { return string(p) }

func TestLinks(t *testing.T) {
	source := `{{ unsubscribeURL }} {{ track "https://shop.example.co.jp/sale?a=1" }} {{ track "mailto:support@example.co.jp" }} {{ printf "%s" unsubscribeURL }}`
	links := map[string]string{"unsubscribe": "https://kizuna.example/u/tok"}
	tests := []struct {
		name    string
		builder LinkBuilder
		want    string
	}{
		{"with a link builder", prefixBuilder("https://kizuna.example/c/"),
			"https://kizuna.example/u/tok https://kizuna.example/c/https://shop.example.co.jp/sale?a=1 mailto:support@example.co.jp https://kizuna.example/u/tok"},
		{"without", nil,
			"https://kizuna.example/u/tok https://shop.example.co.jp/sale?a=1 mailto:support@example.co.jp https://kizuna.example/u/tok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, Parts{Text: source}, Data{Links: links, LinkBuilder: tt.builder})
			if got.Text != tt.want {
				t.Fatalf("text = %q, want %q", got.Text, tt.want)
			}
		})
	}
}

func TestOpenPixel(t *testing.T) {
	const style = `style="border:0;margin:0;padding:0;width:1px;height:1px;opacity:0"`
	tests := []struct {
		name    string
		html    string
		builder LinkBuilder
		want    string
	}{
		{"with a link builder", `<p>本文</p>{{ openPixel }}`, pixelBuilder("https://kizuna.example/shop/o/AQID.gif"),
			`<p>本文</p><img src="https://kizuna.example/shop/o/AQID.gif" width="1" height="1" alt="" ` + style + `>`},
		{"without links", `<p>本文</p>{{ openPixel }}`, nil, `<p>本文</p>`},
		{"a URL that needs escaping", `{{ openPixel }}`, pixelBuilder(`https://kizuna.example/o/a&b"<c>'.gif`),
			`<img src="https://kizuna.example/o/a&amp;b&#34;&lt;c&gt;&#39;.gif" width="1" height="1" alt="" ` + style + `>`},
		// In an attribute, html/template prints the text of HTML without its tags: nothing.
		{"in an attribute", `<p title="{{ openPixel }}">x</p>`, pixelBuilder("https://kizuna.example/o/AQID.gif"), `<p title="">x</p>`},
		{"in a defined template", `{{ define "footer" }}{{ openPixel }}{{ end }}<p>x</p>{{ template "footer" . }}`,
			pixelBuilder("https://kizuna.example/o/AQID.gif"),
			`<p>x</p><img src="https://kizuna.example/o/AQID.gif" width="1" height="1" alt="" ` + style + `>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, Parts{HTML: tt.html}, Data{LinkBuilder: tt.builder})
			if got.HTML != tt.want {
				t.Fatalf("html = %q, want %q", got.HTML, tt.want)
			}
		})
	}
}

func TestOpenPixelRefusesAURLThatIsNotWeb(t *testing.T) {
	m, err := Parse(Parts{HTML: `{{ openPixel }}`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Render(Data{LinkBuilder: pixelBuilder("javascript:alert(1)")})
	if err == nil || !strings.Contains(err.Error(), `openPixel: the open-tracking URL "javascript:alert(1)" is not an http or https URL`) {
		t.Fatalf("Render() = %v, want the URL refused", err)
	}
}

func TestTrackInHTMLKeepsTheURLIntact(t *testing.T) {
	got := render(t, Parts{HTML: `<a href="{{ track "https://shop.example.co.jp/sale?a=1&b=2" }}">セール</a>`},
		Data{LinkBuilder: prefixBuilder("https://kizuna.example/c/")})
	if want := `<a href="https://kizuna.example/c/https://shop.example.co.jp/sale?a=1&amp;b=2">セール</a>`; got.HTML != want {
		t.Fatalf("html = %q, want %q", got.HTML, want)
	}
}

func TestEscapeJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"山田", "山田"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"\x00\x1f", `\u0000\u001f`},
		{"\u2028\u2029", `\u2028\u2029`},
		{"a\xffb", `a\ufffdb`},
		{"<&>", "<&>"},
	}
	for _, tt := range tests {
		got := escapeJSONString(tt.in)
		if got != tt.want {
			t.Errorf("escapeJSONString(%q) = %q, want %q", tt.in, got, tt.want)
		}
		var decoded string
		if err := json.Unmarshal([]byte(`"`+got+`"`), &decoded); err != nil {
			t.Errorf("escapeJSONString(%q) = %q is not the inside of a JSON string: %v", tt.in, got, err)
		}
	}
}

func TestMissing(t *testing.T) {
	d := Data{Attributes: map[string]any{
		"last_name": "山田", "first_name": "", "nickname": "  ", "points": 0.0, "vip": false, "gone": nil,
	}}
	tests := []struct {
		required []string
		want     []string
	}{
		{nil, nil},
		{[]string{"last_name", "points", "vip"}, nil},
		{[]string{"first_name", "last_name", "nickname", "gone", "zip"}, []string{"first_name", "nickname", "gone", "zip"}},
	}
	for _, tt := range tests {
		if got := Missing(tt.required, d); !slices.Equal(got, tt.want) {
			t.Errorf("Missing(%v) = %v, want %v", tt.required, got, tt.want)
		}
	}
}

// Messages are shared by the workers that send a campaign.
func TestRenderConcurrently(t *testing.T) {
	m, err := Parse(Parts{Text: "{{ .Attributes.n }}", HTML: "<p>{{ .Attributes.n }}</p>"})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			r, err := m.Render(Data{Attributes: map[string]any{"n": i}})
			if err == nil && r.HTML != "<p>"+r.Text+"</p>" {
				err = fmt.Errorf("text %q and html %q differ", r.Text, r.HTML)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
