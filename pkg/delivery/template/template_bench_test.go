package template

import (
	"testing"
	"time"
)

// BenchmarkRender measures rendering one personalised email (subject, text and HTML, with a
// tracked link and the unsubscribe link) for a recipient, the per-message cost of a campaign
// run before any network work.
func BenchmarkRender(b *testing.B) {
	m, err := Parse(Parts{
		Subject: "{{ honorific .Attributes.last_name }}、ポイントの有効期限が近づいています",
		Text: "{{ honorific .Attributes.last_name }}\n\nいつもご利用ありがとうございます。\n" +
			"{{ .Attributes.points }}ポイント({{ yen .Attributes.points }}相当)が{{ localDate \"1月2日\" .Attributes.expires_at }}に失効します。\n" +
			"ショップ: {{ track \"https://shop.example.co.jp/points\" }}\n配信停止: {{ unsubscribeURL }}\n",
		HTML: `<!DOCTYPE html><html><body style="font-family: sans-serif">
<p>{{ honorific .Attributes.last_name }}</p>
<p>いつもご利用ありがとうございます。</p>
<p><strong>{{ .Attributes.points }}ポイント</strong>({{ yen .Attributes.points }}相当)が
{{ localDate "2006年1月2日" .Attributes.expires_at }}に失効します。</p>
{{ if .Attributes.rank }}<p>会員ランク: {{ .Attributes.rank }}</p>{{ end }}
<p><a href="{{ track "https://shop.example.co.jp/points?utm_source=mail" }}">ポイントを使う</a></p>
<p style="font-size: small"><a href="{{ unsubscribeURL }}">配信停止</a></p>
</body></html>`,
	})
	if err != nil {
		b.Fatal(err)
	}
	data := Data{
		Attributes: map[string]any{
			"last_name": "山田", "points": 1200.0, "rank": "ゴールド",
			"expires_at": time.Date(2026, 4, 30, 15, 0, 0, 0, time.UTC),
		},
		TimeZone:    "Asia/Tokyo",
		Links:       map[string]string{"unsubscribe": "https://kizuna.example.co.jp/u/AQIDBAV1"},
		LinkBuilder: prefixBuilder("https://kizuna.example.co.jp/c/"),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}
