package template

import "testing"

// BenchmarkRender measures rendering one personalised email (subject, text and HTML) for a
// recipient, the per-message cost of a campaign run before any network work.
func BenchmarkRender(b *testing.B) {
	m, err := Parse(Parts{
		Subject: "{{ honorific .Attributes.last_name }}、ポイントの有効期限が近づいています",
		Text:    "{{ honorific .Attributes.last_name }}\n{{ .Attributes.points }}ポイントが{{ localDate \"1月2日\" \"Asia/Tokyo\" .Attributes.expires_at }}に失効します。",
		HTML:    "<p>{{ honorific .Attributes.last_name }}</p><p>{{ .Attributes.points }}ポイント</p><a href=\"{{ .Links.unsubscribe }}\">配信停止</a>",
	})
	if err != nil {
		b.Fatal(err)
	}
	data := Data{
		Attributes: map[string]any{"last_name": "山田", "points": 1200},
		Links:      map[string]string{"unsubscribe": "https://example.co.jp/u/abc"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}
