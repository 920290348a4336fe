package template

import (
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
		{name: "subject", parts: Parts{Subject: "{{ .Attributes.name "}, want: "subject template"},
		{name: "text", parts: Parts{Text: "{{ if }}"}, want: "text template"},
		{name: "html", parts: Parts{HTML: "<p>{{ end }}</p>"}, want: "html template"},
		{name: "payload", parts: Parts{Payload: `{"a": {{ nosuchfunc }} }`}, want: "payload template"},
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

func TestRender(t *testing.T) {
	m, err := Parse(Parts{
		Subject: "{{ honorific .Attributes.last_name }}、お誕生日おめでとうございます",
		Text:    "{{ default \"お客\" .Attributes.first_name }}様 {{ .Attributes.missing }}| {{ localDate \"2006年1月2日\" \"Asia/Tokyo\" .Attributes.joined }}",
		HTML:    "<p>{{ .Attributes.last_name }}</p>",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Render(Data{Attributes: map[string]any{
		"last_name": "<山田>",
		"joined":    time.Date(2026, 3, 31, 16, 0, 0, 0, time.UTC),
	}})
	if err != nil {
		t.Fatal(err)
	}
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

func TestHonorificOfEmptyNameIsEmpty(t *testing.T) {
	m, err := Parse(Parts{Text: "[{{ honorific .Attributes.last_name }}]"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Render(Data{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "[]" {
		t.Fatalf("text = %q, want []", got.Text)
	}
}
