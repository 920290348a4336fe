package match_test

import (
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/match"
)

// febrlDir holds the FEBRL test files, outside the repository.
var febrlDir = filepath.Join("..", "..", "..", "shared", "data", "febrl")

// febrl is a FEBRL file: records and, per record, its true entity (the N of rec-N-...).
type febrl struct {
	data   *match.Dataset
	entity []string
	ids    []string
}

// loadFEBRL reads a FEBRL CSV, or skips the test when the shared data is absent.
func loadFEBRL(t testing.TB, name string) *febrl {
	t.Helper()
	f, err := os.Open(filepath.Join(febrlDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("FEBRL data not found at %s: the accuracy tests need ../shared/data/febrl", febrlDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	out := &febrl{data: &match.Dataset{Fields: map[string][]string{}}}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSpace(row[0])
		out.ids = append(out.ids, id)
		out.entity = append(out.entity, strings.Split(id, "-")[1])
		for i, h := range header[1:] {
			h = strings.TrimSpace(h)
			out.data.Fields[h] = append(out.data.Fields[h], strings.TrimSpace(row[i+1]))
		}
	}
	out.data.N = len(out.ids)
	return out
}

// subset keeps the records for which keep is true, in the given order of indexes.
func (f *febrl) subset(idx []int) *febrl {
	out := &febrl{data: &match.Dataset{N: len(idx), Fields: map[string][]string{}}}
	for _, i := range idx {
		out.ids = append(out.ids, f.ids[i])
		out.entity = append(out.entity, f.entity[i])
		for k, v := range f.data.Fields {
			out.data.Fields[k] = append(out.data.Fields[k], v[i])
		}
	}
	return out
}

// scores are pairwise precision, recall and F1 of a clustering against the truth.
type scores struct {
	Precision, Recall, F1 float64
	TP, Predicted, True   int64
}

// pairScores compares predicted clusters with true entities, counting record pairs: a pair
// is predicted when both records are in one cluster, true when they are one entity.
func pairScores[E comparable](cluster []int32, entity []E) scores {
	type cell struct {
		c int32
		e E
	}
	pairs := func(n int64) int64 { return n * (n - 1) / 2 }
	byCluster, byEntity, byBoth := map[int32]int64{}, map[E]int64{}, map[cell]int64{}
	for i, c := range cluster {
		byCluster[c]++
		byEntity[entity[i]]++
		byBoth[cell{c, entity[i]}]++
	}
	var s scores
	for _, n := range byCluster {
		s.Predicted += pairs(n)
	}
	for _, n := range byEntity {
		s.True += pairs(n)
	}
	for _, n := range byBoth {
		s.TP += pairs(n)
	}
	if s.Predicted > 0 {
		s.Precision = float64(s.TP) / float64(s.Predicted)
	}
	if s.True > 0 {
		s.Recall = float64(s.TP) / float64(s.True)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	return s
}
