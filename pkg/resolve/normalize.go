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
	workers := runtime.GOMAXPROCS(0)
	per := (len(r.Records) + workers - 1) / workers
	r.ids = &idTable{locs: make([]idLoc, len(r.Records)), chunks: make([][]byte, (len(r.Records)+max(per, 1)-1)/max(per, 1))}
	var wg sync.WaitGroup
	for start := 0; start < len(r.Records); start += per {
		end := min(start+per, len(r.Records))
		chunkIndex := start / per
		wg.Go(func() {
			var ids []normalizedID
			var chunk []byte
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
				slices.SortFunc(ids, compareNormalized)
				var off, size uint32
				chunk, off, size = appendEntries(chunk, ids)
				r.ids.locs[i] = idLoc{uint32(chunkIndex), off, size}
				rec.Identifiers = nil
			}
			r.ids.chunks[chunkIndex] = chunk
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
	for it := r.ids.iter(rec); ; {
		k, v, ok := it.next()
		if !ok {
			return out
		}
		if k == kind {
			out = append(out, v)
		}
	}
}
