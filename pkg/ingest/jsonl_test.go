package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func jsonRow(line int64, raw string, fields map[string]any) readOutcome {
	return readOutcome{Line: line, Fields: fields, Raw: raw}
}

func TestJSONLinesReader(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		input  string
		want   []readOutcome
	}{
		{
			name:  "types",
			input: `{"id":"c1","age":42,"score":1.5e3,"big":12345678901234567890,"vip":true,"note":null,"tags":["a",1],"address":{"city":"東京","zip":"100-0001"}}` + "\n",
			want: []readOutcome{jsonRow(1, "", map[string]any{
				"id": "c1", "age": json.Number("42"), "score": json.Number("1.5e3"),
				"big": json.Number("12345678901234567890"), "vip": true, "note": nil,
				"tags":    []any{"a", json.Number("1")},
				"address": map[string]any{"city": "東京", "zip": "100-0001"},
			})},
		},
		{
			name:  "blank lines skipped, CRLF, no newline at the end",
			input: "\n{\"a\":1}\r\n  \t\r\n\n{\"a\":2}",
			want: []readOutcome{
				jsonRow(2, `{"a":1}`, map[string]any{"a": json.Number("1")}),
				jsonRow(5, `{"a":2}`, map[string]any{"a": json.Number("2")}),
			},
		},
		{
			name:  "byte-order mark and surrounding spaces",
			input: "\xef\xbb\xbf {\"a\":\"x\"} \n",
			want:  []readOutcome{jsonRow(1, ` {"a":"x"} `, map[string]any{"a": "x"})},
		},
		{
			name:  "empty object",
			input: "{}\n",
			want:  []readOutcome{jsonRow(1, "{}", map[string]any{})},
		},
		{
			name:  "not objects",
			input: "{\"a\":1}\n[1,2]\n\"text\"\n42\nnull\ntrue\n{\"a\":2}\n",
			want: []readOutcome{
				jsonRow(1, "", map[string]any{"a": json.Number("1")}),
				rowError(2, "not a JSON object", "[1,2]"),
				rowError(3, "not a JSON object", `"text"`),
				rowError(4, "not a JSON object", "42"),
				rowError(5, "not a JSON object", "null"),
				rowError(6, "not a JSON object", "true"),
				jsonRow(7, "", map[string]any{"a": json.Number("2")}),
			},
		},
		{
			name:  "invalid JSON",
			input: "{\"a\":1}\n{\"a\":1,}\n{\"a\":\n{a:1}\n{\"a\":1} {\"b\":2}\n{\"a\":1}x\n{\"a\":01}\n{\"a\":2}\n",
			want: []readOutcome{
				jsonRow(1, "", map[string]any{"a": json.Number("1")}),
				rowError(2, "invalid JSON at byte 8: invalid character '}'", `{"a":1,}`),
				rowError(3, "invalid JSON: the object is not closed at the end of the line", `{"a":`),
				rowError(4, "invalid JSON at byte 2: invalid character 'a'", "{a:1}"),
				rowError(5, "invalid JSON at byte 8: text after the object", `{"a":1} {"b":2}`),
				rowError(6, "invalid JSON at byte 8: text after the object", `{"a":1}x`),
				rowError(7, "invalid JSON", `{"a":01}`),
				jsonRow(8, "", map[string]any{"a": json.Number("2")}),
			},
		},
		{
			name:  "invalid UTF-8",
			input: "{\"a\":\"ok\"}\n{\"a\":\"\xff\"}\n{\"a\":\"ok\"}\n",
			want: []readOutcome{
				jsonRow(1, "", map[string]any{"a": "ok"}),
				rowError(2, "invalid UTF-8", "{\"a\":\"\uFFFD\"}"),
				jsonRow(3, "", map[string]any{"a": "ok"}),
			},
		},
		{
			name:  "over-long line",
			input: "{\"a\":1}\n{\"a\":\"" + strings.Repeat("x", MaxRowBytes) + "\"}\n{\"a\":3}\n",
			want: []readOutcome{
				jsonRow(1, "", map[string]any{"a": json.Number("1")}),
				rowError(2, "line is longer than 1048576 bytes", ""),
				jsonRow(3, "", map[string]any{"a": json.Number("3")}),
			},
		},
		{
			name:   "Shift_JIS",
			format: Format{Encoding: EncodingShiftJIS},
			input:  "{\"name\":\"" + sjisKabushikiGaisha + sjisKakkoKabu + "\"}\n{\"name\":\"" + sjisGaiji + "\"}\n",
			want: []readOutcome{
				jsonRow(1, `{"name":"株式会社㈱"}`, map[string]any{"name": "株式会社㈱"}),
				rowError(2, "not Shift_JIS", ""),
			},
		},
		{
			name:  "empty file",
			input: "",
		},
		{
			name:  "only blank lines",
			input: "\n\n \n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.format.Type = FormatJSONLines
			rr, err := OpenFile(writeTestFile(t, "in.jsonl", []byte(tc.input)), tc.format)
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			defer func() {
				if err := rr.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			checkOutcomes(t, readAll(t, rr), tc.want)
		})
	}
}

// BenchmarkJSONLinesReader reads 50,000 JSON objects of ten short fields per iteration and
// reports rows/s.
func BenchmarkJSONLinesReader(b *testing.B) {
	const rows = 50_000
	var in []byte
	for i := range rows {
		n := strconv.Itoa(i)
		in = append(in, `{"id":`+n+`,"email":"user`+n+`@example.com","first_name":"Aiko","last_name":"Tanaka","phone":"090-1234-5678","city":"Tokyo","postal_code":"100-0001","signed_up":"2024-01-15","plan":"pro","score":42}`+"\n"...)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		rr, err := NewReader(bytes.NewReader(in), Format{Type: FormatJSONLines})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := rr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(b.N)*rows/time.Since(start).Seconds(), "rows/s")
}
