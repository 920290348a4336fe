package store

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// slowDecode is what decodeIdentifiers and decodeValues did before the scanner: the reference.
func slowDecodeValues(t *testing.T, data []byte) map[string]any {
	t.Helper()
	values := map[string]any{}
	if err := json.Unmarshal(data, &values); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	for k, v := range values {
		values[k] = untagTimes(v)
	}
	return values
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"", "a", "山田　太郎", "taro@example.co.jp", `quote " inside`, "back\\slash", "tab\there", "ｶﾌﾞｼｷｶﾞｲｼｬ", "\u2028", "bad\xffutf8"}
	scalars := []any{1.5, math.Copysign(0, -1), 1e21, 123456789012345, math.SmallestNonzeroFloat64, true, false, nil,
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), []any{"x", 1.0}, map[string]any{"nested": "object"}}
	for i := range 2000 {
		ids := map[string][]string{}
		values := map[string]any{}
		for range rng.IntN(4) {
			var vs []string
			for range rng.IntN(3) {
				vs = append(vs, texts[rng.IntN(len(texts))])
			}
			ids[[]string{"Email", "Phone", "Custom:会員番号"}[rng.IntN(3)]] = vs
		}
		for range rng.IntN(5) {
			key := fmt.Sprintf("attr_%d", rng.IntN(10))
			if rng.IntN(2) == 0 {
				values[key] = texts[rng.IntN(len(texts))]
			} else {
				values[key] = scalars[rng.IntN(len(scalars))]
			}
		}
		idJSON, err := encodeIdentifiers(nil, ids)
		if err != nil {
			t.Fatal(err)
		}
		valJSON, err := encodeValues(nil, values)
		if err != nil {
			continue // values the store refuses
		}
		// PostgreSQL's jsonb writes the same documents with spaces after ':' and ','.
		docs := [][2][]byte{{idJSON, valJSON}}
		if i%2 == 0 {
			spaced := func(b []byte) []byte {
				return []byte(strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(string(b)))
			}
			docs = append(docs, [2][]byte{spaced(idJSON), spaced(valJSON)})
		}
		for _, d := range docs {
			gotIDs, err := decodeIdentifiers(d[0])
			if err != nil {
				t.Fatal(err)
			}
			wantIDs := map[string][]string{}
			if err := json.Unmarshal(d[0], &wantIDs); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotIDs, wantIDs) {
				t.Fatalf("identifiers %s: got %#v, want %#v", d[0], gotIDs, wantIDs)
			}
			gotValues, err := decodeValues(d[1])
			if err != nil {
				t.Fatal(err)
			}
			if want := slowDecodeValues(t, d[1]); !reflect.DeepEqual(gotValues, want) {
				t.Fatalf("values %s: got %#v, want %#v", d[1], gotValues, want)
			}
		}
	}
}

func TestScannerRefusesWhatItDoesNotRead(t *testing.T) {
	for _, doc := range []string{`null`, `[]`, `{"a":["x"]} trailing`, `{"a":"esc\"aped"}`, `{"a":{"b":1}}`, `{"a":[1]}`, `{"a":1e}`, `{"a":tru}`} {
		_, idOK := scanIdentifiers([]byte(doc))
		_, valOK := scanValues([]byte(doc))
		if idOK || valOK {
			t.Errorf("%s: the scanner read it (identifiers %v, values %v); encoding/json must", doc, idOK, valOK)
		}
	}
}

func BenchmarkDecodeRecordJSON(b *testing.B) {
	ids := []byte(`{"CustomerID":["C000012345"],"Email":["user12345@example7.jp"],"Phone":["090-1234-5678"]}`)
	values := []byte(`{"birth_date":{"$time":"1980-01-02T00:00:00.000000000Z"},"name":"山田太郎","spend":12345,"vip":true}`)
	for b.Loop() {
		if _, err := decodeIdentifiers(ids); err != nil {
			b.Fatal(err)
		}
		if _, err := decodeValues(values); err != nil {
			b.Fatal(err)
		}
	}
}
