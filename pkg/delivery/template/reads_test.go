package template

import (
	"reflect"
	"testing"
)

func TestReadsOfAPart(t *testing.T) {
	tests := []struct {
		name, source string
		want         PartReads
	}{
		{"field", `{{ .Attributes.last_name }}`, PartReads{Attributes: []string{"last_name"}}},
		{"index", `{{ index .Attributes "first_name" }}`, PartReads{Attributes: []string{"first_name"}}},
		{"piped index key", `{{ "first_name" | index .Attributes }}`, PartReads{Attributes: []string{"first_name"}}},
		{"if and else", `{{ if .Attributes.vip }}{{ .Attributes.rank }}{{ else }}{{ .Attributes.points }}{{ end }}`,
			PartReads{Attributes: []string{"points", "rank", "vip"}}},
		{"with moves dot", `{{ with .Attributes }}{{ .nickname }}{{ else }}{{ .Attributes.name }}{{ end }}`,
			PartReads{Attributes: []string{"name", "nickname"}}},
		{"else with", `{{ with .Attributes.nickname }}{{ . }}{{ else with .Attributes.first_name }}{{ . }}{{ end }}`,
			PartReads{Attributes: []string{"first_name", "nickname"}}},
		{"range over a value", `{{ range .Attributes.items }}{{ . }}{{ end }}`, PartReads{Attributes: []string{"items"}}},
		{"pipeline into a helper", `{{ .Attributes.last_name | honorific }}`, PartReads{Attributes: []string{"last_name"}}},
		{"helper arguments", `{{ default "お客" .Attributes.first_name | upper }}{{ localDate "1月2日" .Attributes.expires_at }}{{ yen "円" .Attributes.total }}`,
			PartReads{Attributes: []string{"expires_at", "first_name", "total"}}},
		{"variable", `{{ $a := .Attributes }}{{ $a.city }}{{ $n := $a.name }}{{ $n }}`, PartReads{Attributes: []string{"city", "name"}}},
		{"root variable inside with", `{{ with .Attributes.a }}{{ $.Attributes.zip }}{{ $.Identifiers.Phone }}{{ end }}`,
			PartReads{Attributes: []string{"a", "zip"}, Identifiers: []string{"Phone"}}},
		{"declared in with", `{{ with $x := .Attributes }}{{ $x.a }}{{ end }}`, PartReads{Attributes: []string{"a"}}},
		{"identifiers", `{{ .Identifiers.Email }}{{ index .Identifiers "LineUserID" }}`,
			PartReads{Identifiers: []string{"Email", "LineUserID"}}},
		{"parenthesised", `{{ (.Attributes).points }}{{ (index .Attributes "rank") }}`, PartReads{Attributes: []string{"points", "rank"}}},
		{"method of a value", `{{ .Attributes.joined.Year }}`, PartReads{Attributes: []string{"joined"}}},
		{"called template", `{{ define "greeting" }}{{ .last_name }}{{ end }}{{ template "greeting" .Attributes }}`,
			PartReads{Attributes: []string{"last_name"}}},
		{"template called with data", `{{ define "g" }}{{ .Attributes.a }}{{ end }}{{ template "g" . }}{{ with .Attributes }}{{ template "g" $ }}{{ end }}`,
			PartReads{Attributes: []string{"a"}}},
		{"other fields", `{{ .ProfileID }}{{ .TimeZone }}{{ .Links.unsubscribe }}{{ unsubscribeURL }}{{ track "https://x.example" }}`, PartReads{}},
		{"index with a constant variable", `{{ $k := "x" }}{{ index .Attributes $k }}`, PartReads{Attributes: []string{"x"}}},
		{"index with a variable", `{{ range .Attributes.keys }}{{ index $.Attributes . }}{{ end }}`,
			PartReads{Attributes: []string{"keys"}, Dynamic: []string{"text:1:31: index $.Attributes ."}}},
		{"range over the attributes", `{{ range $k, $v := .Attributes }}{{ $k }}{{ $v }}{{ end }}`,
			PartReads{Dynamic: []string{"text:1:9: range over $k, $v := .Attributes"}}},
		{"attributes handed to a function", `{{ printf "%v" .Attributes }}`,
			PartReads{Dynamic: []string{`text:1:3: printf "%v" .Attributes`}}},
		{"attributes printed", `{{ .Attributes }}`, PartReads{Dynamic: []string{"text:1:3: {{.Attributes}}"}}},
		{"everything handed to a function", "\n{{ json . }}", PartReads{Dynamic: []string{"text:2:3: json ."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(Parts{Text: tt.source})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Reads().Text; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Reads().Text = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReadsByPart(t *testing.T) {
	m, err := Parse(Parts{
		Subject: `{{ honorific .Attributes.last_name }}`,
		Text:    `{{ .Attributes.points }}`,
		HTML:    `<a href="{{ .Links.unsubscribe }}" title="{{ .Attributes.title }}">{{ .Identifiers.Email }}</a>`,
		Payload: `{"p": {{ json .Attributes.points }}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Reads{
		Subject: PartReads{Attributes: []string{"last_name"}},
		Text:    PartReads{Attributes: []string{"points"}},
		HTML:    PartReads{Attributes: []string{"title"}, Identifiers: []string{"Email"}},
		Payload: PartReads{Attributes: []string{"points"}},
	}
	// Rendering rewrites the HTML's trees; what the message reads stays the same.
	if _, err := m.Render(Data{}); err != nil {
		t.Fatal(err)
	}
	got := m.Reads()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Reads() = %#v, want %#v", got, want)
	}
	if all := got.Attributes(); !reflect.DeepEqual(all, []string{"last_name", "points", "title"}) {
		t.Fatalf("Attributes() = %v", all)
	}
}
