package match

import "slices"

// chunk is a run of consecutive groups of one rule: the unit of parallel work. Chunks are
// planned from group sizes alone, so the work split, and every result, is the same whatever
// the number of workers.
type chunk struct {
	rule   int
	g0, g1 int // groups [g0, g1)
}

// chunkPairs is the number of pairs (before removing those of earlier rules) a chunk aims
// at: large enough that per-chunk overhead vanishes, small enough to balance workers.
const chunkPairs = 1 << 18

func planChunks(rules []*ruleIndex) []chunk {
	var chunks []chunk
	for r, ri := range rules {
		g0, pairs := 0, int64(0)
		for g := range len(ri.starts) - 1 {
			s := int64(ri.starts[g+1] - ri.starts[g])
			pairs += s * (s - 1) / 2
			if pairs >= chunkPairs {
				chunks = append(chunks, chunk{rule: r, g0: g0, g1: g + 1})
				g0, pairs = g+1, 0
			}
		}
		if g0 < len(ri.starts)-1 {
			chunks = append(chunks, chunk{rule: r, g0: g0, g1: len(ri.starts) - 1})
		}
	}
	return chunks
}

// chunkBound is the number of pairs in a chunk's groups, before removing those of earlier rules.
func chunkBound(ri *ruleIndex, ch chunk) int64 {
	var pairs int64
	for g := ch.g0; g < ch.g1; g++ {
		s := int64(ri.starts[g+1] - ri.starts[g])
		pairs += s * (s - 1) / 2
	}
	return pairs
}

// walker enumerates a chunk's pairs. For each group it first gathers its members' rule keys
// and comparison cells into contiguous buffers, so the pair loop, which is quadratic in the
// group size, reads cache-resident rows instead of scattered columns and values.
//
// The comparisons of the rule's own fields are the same for every pair of a group (the
// members share the values): the walker computes their levels once per group, in fixed,
// and gathers only the ids of those values.
type walker struct {
	rules []*ruleIndex
	comps []*comparer
	recs  *records
	free  []uint32 // per rule: comparisons not on its fields, as from sessionFree
	keys  []uint32 // per member: len(rules) rule keys
	cells []cell   // per member: len(comps) cells
	fixed []uint8  // per comparison: its level in the current group, when the rule fixes it
	s     scratch
}

func newWalker(rules []*ruleIndex, comps []*comparer, recs *records) *walker {
	return &walker{rules: rules, comps: comps, recs: recs, free: sessionFree(rules, comps), fixed: make([]uint8, len(comps))}
}

// walkGroup calls fn for every pair of a rule's group that no earlier rule generated, with
// the pair's records, cells and the set of rules whose key it agrees on.
func (w *walker) walkGroup(rule, g int, fn func(a, b int32, ca, cb []cell, rules uint32)) {
	ri := w.rules[rule]
	nr, nc := len(w.rules), len(w.comps)
	earlier := uint32(1)<<uint(rule) - 1
	members := ri.order[ri.starts[g]:ri.starts[g+1]]
	w.keys = slices.Grow(w.keys[:0], len(members)*nr)[:len(members)*nr]
	w.cells = slices.Grow(w.cells[:0], len(members)*nc)[:len(members)*nc]
	free := w.free[rule]
	for x, rec := range members {
		keys, cells := w.keys[x*nr:(x+1)*nr], w.cells[x*nc:(x+1)*nc]
		for r, k := range w.recs.keyRow(rec) {
			keys[r] = k // a loop: copy's call costs more than these few words
		}
		for c, id := range w.recs.idRow(rec) {
			if free&(1<<uint(c)) != 0 {
				cells[c] = w.comps[c].col.cell(id)
			} else {
				cells[c] = cell{id: id}
			}
		}
	}
	for c, cp := range w.comps {
		if free&(1<<uint(c)) == 0 {
			x := cp.col.cell(w.cells[c].id)
			w.fixed[c] = cp.level(x, x, &w.s)
		}
	}
	for x := range members {
		ka, ca := w.keys[x*nr:(x+1)*nr], w.cells[x*nc:(x+1)*nc]
		for y := x + 1; y < len(members); y++ {
			kb := w.keys[y*nr : (y+1)*nr]
			var agree uint32
			for r, k := range ka {
				if k != 0 && k == kb[r] {
					agree |= 1 << uint(r)
				}
			}
			if agree&earlier != 0 {
				continue // an earlier rule generated this pair
			}
			fn(members[x], members[y], ca, w.cells[y*nc:(y+1)*nc], agree)
		}
	}
}
