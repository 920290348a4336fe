package store

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSpillSorterSortsAndFindsRows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rows   int
		budget int
	}{
		{"in memory", 1000, 1 << 20},
		{"many runs", 20000, 8 << 10},
		{"empty", 0, 1 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpillSorter(t.TempDir(), tc.budget, maphash.MakeSeed())
			defer s.close()
			r := rand.New(rand.NewPCG(1, 2))
			var keys []string
			for _, i := range r.Perm(tc.rows) {
				key := fmt.Sprintf("k%08d", i*3)
				keys = append(keys, key)
				if err := s.add([]byte(key), bytes.Repeat([]byte{byte(i)}, i%50)); err != nil {
					t.Fatal(err)
				}
				if s.full() {
					if err := s.spill(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.wait(); err != nil {
				t.Fatal(err)
			}
			if tc.rows > 10000 && len(s.runs) < 10 {
				t.Fatalf("%d runs, want many", len(s.runs))
			}
			for i := range 3 * min(tc.rows, 3000) {
				key := fmt.Sprintf("k%08d", i)
				found, err := s.contains([]byte(key))
				if err != nil {
					t.Fatal(err)
				}
				if want := i%3 == 0 && i/3 < tc.rows; found != want {
					t.Fatalf("contains(%s) = %v, want %v", key, found, want)
				}
			}
			m, err := s.merge()
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(keys)
			n := 0
			for {
				key, value, ok, err := m.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				var i int
				_, _ = fmt.Sscanf(string(key), "k%08d", &i)
				i /= 3
				if n >= len(keys) || string(key) != keys[n] || !bytes.Equal(value, bytes.Repeat([]byte{byte(i)}, i%50)) {
					t.Fatalf("row %d = %q %v, want %q", n, key, value, keys[min(n, len(keys)-1)])
				}
				n++
			}
			if n != tc.rows {
				t.Fatalf("merged %d rows, want %d", n, tc.rows)
			}
		})
	}
}

func TestProfileValueRoundTrip(t *testing.T) {
	value := appendProfileValue(nil, 7, []byte(`{"Email":["a@b"]}`), []byte(`{"x":1}`), []byte(`{"crm":["1"]}`))
	args := appendProfileRow(nil, "cus_1", string(value), value, 0)
	want := []any{"cus_1", int64(7), `{"Email":["a@b"]}`, `{"x":1}`, `{"crm":["1"]}`}
	var hash scanBytes
	profiles := newSlotTables(sqliteDialect).profiles
	if len(args) != 6 || !slices.Equal(args[:5], want) || hash.Scan(args[5]) != nil || !profiles.same(value, hash) {
		t.Errorf("appendProfileRow = %q, want %q and the hash", args, want)
	}
	other := appendProfileValue(nil, 8, []byte(`{"Email":["a@b"]}`), []byte(`{"x":1}`), []byte(`{"crm":["1"]}`))
	if profiles.same(other, hash) {
		t.Error("two generations of creation hash alike")
	}
}

func TestRecordRefsRoundTrip(t *testing.T) {
	for _, refs := range [][]RecordRef{
		nil,
		{{"crm", "1"}},
		{{"crm", "1"}, {"crm", "10"}, {"crm", "2"}, {"shop", "\"quoted\""}, {"web", "名寄せ"}},
	} {
		text := encodeRecordRefs(nil, refs)
		got, err := decodeRecordRefs(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if len(refs) == 0 {
			refs = []RecordRef{}
		}
		if !slices.Equal(got, refs) {
			t.Errorf("%s came back as %v, want %v", text, got, refs)
		}
	}
}
