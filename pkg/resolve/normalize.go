package resolve

import (
	"runtime"
	"slices"
	"sync"
)

// normalizedID is one normalised identifier value of a record.
type normalizedID struct {
	// kind indexes Result.idTypes.
	kind  uint16
	value string
}

// normalizeAll normalises every identifier of every record once, on every core, so that rules,
// matching and the profiles' identifiers all read the same values without normalising again.
// The records' raw identifiers are dropped afterwards: at ten million records they are the
// largest thing in memory, and nothing needs them.
func (r *Result) normalizeAll() {
	kinds := map[string]uint16{}
	for i := range r.Records {
		for t := range r.Records[i].Identifiers {
			if _, ok := kinds[t]; !ok {
				kinds[t] = uint16(len(r.idTypes))
				r.idTypes = append(r.idTypes, t)
			}
		}
	}
	r.ids = make([][]normalizedID, len(r.Records))
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(r.Records) + workers - 1) / workers
	var wg sync.WaitGroup
	for start := 0; start < len(r.Records); start += chunk {
		end := min(start+chunk, len(r.Records))
		wg.Go(func() {
			var ids []normalizedID
			for i := start; i < end; i++ {
				rec := &r.Records[i]
				ids = ids[:0]
				for t, values := range rec.Identifiers {
					kind := kinds[t]
					for _, v := range values {
						n, ok := r.cfg.Normalizer.Normalize(t, v)
						if ok && !slices.Contains(ids, normalizedID{kind, n}) {
							ids = append(ids, normalizedID{kind, n})
						}
					}
				}
				if len(ids) > 0 {
					slices.SortFunc(ids, compareNormalized)
					r.ids[i] = slices.Clone(ids)
				}
				rec.Identifiers = nil
			}
		})
	}
	wg.Wait()
}

func compareNormalized(a, b normalizedID) int {
	if a.kind != b.kind {
		return int(a.kind) - int(b.kind)
	}
	switch {
	case a.value < b.value:
		return -1
	case a.value > b.value:
		return 1
	}
	return 0
}

// kindOf returns the index of an identifier type, or false when no record has it.
func (r *Result) kindOf(idType string) (uint16, bool) {
	i := slices.Index(r.idTypes, idType)
	return uint16(i), i >= 0
}

// normalizedValues returns a record's distinct normalised values of one identifier type, sorted.
func (r *Result) normalizedValues(idType string, rec int32) []string {
	kind, ok := r.kindOf(idType)
	if !ok {
		return nil
	}
	var out []string
	for _, id := range r.ids[rec] {
		if id.kind == kind {
			out = append(out, id.value)
		}
	}
	return out
}
