package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEncodeValuesRoundTrip(t *testing.T) {
	jst := time.FixedZone("JST", 9*60*60)
	at := time.Date(2024, 4, 1, 9, 30, 0, 120, jst)
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"string", "山田 ﾀﾛｳ", "山田 ﾀﾛｳ"},
		{"empty string", "", ""},
		{"float", 12.5, 12.5},
		{"huge float", 1e300, 1e300},
		{"tiny float", 1e-9, 1e-9},
		{"negative zero", math.Copysign(0, -1), 0.0},
		{"int", 42, 42.0},
		{"int64", int64(1) << 52, float64(int64(1) << 52)},
		{"uint8", uint8(7), 7.0},
		{"float32", float32(0.5), 0.5},
		{"bool", true, true},
		{"nil", nil, nil},
		{"time in another zone", at, at.UTC()},
		{"a string that looks like a time", "2024-04-01T00:00:00Z", "2024-04-01T00:00:00Z"},
		{"nested", map[string]any{"a": []any{1.0, "x", at}}, map[string]any{"a": []any{1.0, "x", at.UTC()}}},
		{"an object with more than the tag", map[string]any{"$time": "2024-04-01T00:00:00Z", "x": 1.0},
			map[string]any{"$time": "2024-04-01T00:00:00Z", "x": 1.0}},
		{"a slice of strings", []string{"a", "b"}, []any{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf, err := encodeValues(nil, map[string]any{"v": tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(buf) {
				t.Fatalf("invalid JSON: %s", buf)
			}
			got, err := decodeValues(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !equalValues(got["v"], tc.want) {
				t.Errorf("%#v came back as %#v (JSON %s), want %#v", tc.in, got["v"], buf, tc.want)
			}
		})
	}
}

// equalValues compares decoded values, times with Equal and their zone.
func equalValues(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		bt, ok := b.(time.Time)
		return ok && a.Equal(bt) && a.Location() == bt.Location()
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			if !equalValues(v, bm[k]) {
				return false
			}
		}
		return true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !equalValues(a[i], bs[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func TestEncodingIsCanonical(t *testing.T) {
	// Map iteration order varies from run to run: equal maps must still give equal text.
	values := map[string]any{}
	ids := map[string][]string{}
	for _, k := range strings.Fields("z y x w v u t s r q p o n m l k j i h g f e d c b a") {
		values[k] = k
		ids[k] = []string{k, "2"}
	}
	first, err := encodeValues(nil, values)
	if err != nil {
		t.Fatal(err)
	}
	firstIDs, err := encodeIdentifiers(nil, ids)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := encodeValues(nil, values)
		againIDs, _ := encodeIdentifiers(nil, ids)
		if !bytes.Equal(first, again) || !bytes.Equal(firstIDs, againIDs) {
			t.Fatalf("encoding changed between calls:\n%s\n%s", first, again)
		}
	}
	if !strings.HasPrefix(string(first), `{"a":"a","b":"b",`) {
		t.Errorf("keys not sorted: %s", first)
	}
	// The text of a time sorts as the time does.
	early, _ := encodeValues(nil, map[string]any{"t": time.Date(2024, 1, 1, 0, 0, 5, 0, time.UTC)})
	late, _ := encodeValues(nil, map[string]any{"t": time.Date(2024, 1, 1, 0, 0, 5, 500_000_000, time.UTC)})
	if bytes.Compare(early, late) >= 0 {
		t.Errorf("%s sorts after %s", early, late)
	}
}

func TestEncodeRefusesWhatJSONOrPostgreSQLCannotHold(t *testing.T) {
	for name, v := range map[string]any{
		"NaN": math.NaN(), "+Inf": math.Inf(1), "NUL in a string": "a\x00b",
		"NaN nested": map[string]any{"x": []any{math.NaN()}}, "a channel": make(chan int),
	} {
		if _, err := encodeValues(nil, map[string]any{"v": v}); !errors.Is(err, ErrInvalidRow) {
			t.Errorf("%s: err = %v, want ErrInvalidRow", name, err)
		}
	}
	if _, err := encodeValues(nil, map[string]any{"a\x00": 1}); !errors.Is(err, ErrInvalidRow) {
		t.Errorf("NUL in a key: err = %v, want ErrInvalidRow", err)
	}
	if _, err := encodeIdentifiers(nil, map[string][]string{"Email": {"\x00"}}); !errors.Is(err, ErrInvalidRow) {
		t.Errorf("NUL in an identifier: err = %v, want ErrInvalidRow", err)
	}
}

// appendJSONString must read back as encoding/json's own quoting does, for any input.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "tab\tnew\nline\r", "\x01\x1f\x7f",
		"名寄せ ㈱ 　", "bad \xff\xfe utf8", "\u2028\u2029", "<html>&amp;", "emoji 🍣", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var mine, theirs string
		if err := json.Unmarshal(got, &mine); err != nil {
			t.Fatalf("%q quoted as %s, which is not JSON: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		if err := json.Unmarshal(want, &theirs); err != nil {
			t.Fatal(err)
		}
		if mine != theirs || !utf8.ValidString(mine) {
			t.Errorf("%q reads back as %q, encoding/json's as %q", s, mine, theirs)
		}
	})
}

func TestAppendJSONFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.1, 1.5, 123456789, 1e20, 1e21, 1e-6, 1e-7, 123.456e-10, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		got, err := appendJSONFloat(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(f)
		if string(got) != string(want) {
			t.Errorf("%v: %s, encoding/json writes %s", f, got, want)
		}
	}
}

func TestContentHash(t *testing.T) {
	base := contentHash([]byte(`{"Email":["a"]}`), []byte(`{"x":1}`))
	if base != contentHash([]byte(`{"Email":["a"]}`), []byte(`{"x":1}`)) {
		t.Error("the hash of equal content differs")
	}
	for _, other := range [][2]string{
		{`{"Email":["b"]}`, `{"x":1}`},
		{`{"Email":["a"]}`, `{"x":2}`},
		// The separator keeps bytes from moving between identifiers and attributes unseen.
		{`{"Email":["a"]}{`, `"x":1}`},
	} {
		if contentHash([]byte(other[0]), []byte(other[1])) == base {
			t.Errorf("%s %s hashes like the base content", other[0], other[1])
		}
	}
}

func TestDiagnosticText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"あいう", 7, "あい"}, // three bytes each: never split a character
		{"あいう", 6, "あい"},
		{"a\x00b", 10, "a\uFFFDb"},
		{"bad\xffbyte", 20, "bad\uFFFDbyte"},
	}
	for _, tc := range tests {
		if got := diagnosticText(tc.in, tc.max); got != tc.want || len(got) > tc.max {
			t.Errorf("diagnosticText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	for _, bad := range []string{"", strings.Repeat("x", maxKeyBytes+1), "a\x00", "\xff"} {
		if err := checkKey("key", bad); !errors.Is(err, ErrInvalidRow) {
			t.Errorf("checkKey(%.20q) = %v, want ErrInvalidRow", bad, err)
		}
	}
	for _, good := range []string{"a", strings.Repeat("é", maxKeyBytes/2), "名寄せ-001"} {
		if err := checkKey("key", good); err != nil {
			t.Errorf("checkKey(%.20q) = %v", good, err)
		}
	}
}

// BenchmarkEncodeRecord measures the encoding a sync does for each record before the database
// sees it: the maps to JSON, and the content hash.
func BenchmarkEncodeRecord(b *testing.B) {
	ids := map[string][]string{"Email": {"customer12345@example.co.jp"}, "Phone": {"+819012345678"}}
	attrs := map[string]any{
		"firstName": "太郎", "lastName": "山田", "city": "Tokyo", "plan": "gold",
		"age": 42.0, "lifetimeValue": 12345.5, "vip": true, "signedUpAt": time.Date(2023, 5, 1, 10, 0, 0, 0, time.UTC),
	}
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = encodeIdentifiers(buf[:0], ids)
		if err != nil {
			b.Fatal(err)
		}
		split := len(buf)
		if buf, err = encodeValues(buf, attrs); err != nil {
			b.Fatal(err)
		}
		_ = contentHash(buf[:split], buf[split:])
	}
}

func TestAppendUTCTimeMatchesTheLayout(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2024, 4, 1, 9, 30, 5, 120, time.FixedZone("JST", 9*60*60)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Unix(0, 0),
	} {
		if got, want := string(appendUTCTime(nil, tm)), tm.UTC().Format(jsonTimeLayout); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
