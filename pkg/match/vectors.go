package match

import "context"

// chunkVectors is pass one's output for a chunk: the distinct patterns with their counts,
// and each generated pair's local pattern id, in generation order, so scoring can walk the
// pairs again without recomputing a single similarity.
type chunkVectors struct {
	keys   []patKey
	counts []int64
	ids    []uint32
	// ends gives, per group of the chunk, the end of its pairs in ids: scoring skips the
	// groups without a pair that can reach the threshold without even gathering them.
	ends []int32
}

// computeVectors runs pass one over all chunks in parallel.
func computeVectors(ctx context.Context, rules []*ruleIndex, comps []*comparer, recs *records, chunks []chunk, workers int) ([]chunkVectors, error) {
	out := make([]chunkVectors, len(chunks))
	err := forEach(ctx, workers, len(chunks), func() func(i int) {
		w := newWalker(rules, comps, recs)
		var local patMap
		return func(i int) {
			local.reset()
			cv := &out[i]
			ch := chunks[i]
			cv.ids = make([]uint32, 0, chunkBound(rules[ch.rule], ch))
			cv.ends = make([]int32, 0, ch.g1-ch.g0)
			for g := ch.g0; g < ch.g1; g++ {
				free := w.free[ch.rule]
				w.walkGroup(ch.rule, g, func(_, _ int32, ca, cb []cell, agree uint32) {
					k := patKey{rules: agree}
					for c, cp := range comps {
						if free&(1<<uint(c)) != 0 {
							k.set(c, cp.level(ca[c], cb[c], &w.s))
						} else {
							k.set(c, w.fixed[c])
						}
					}
					id, added := local.get(k, uint32(len(cv.keys)))
					if added {
						cv.keys = append(cv.keys, k)
						cv.counts = append(cv.counts, 0)
					}
					cv.counts[id]++
					cv.ids = append(cv.ids, id)
				})
				cv.ends = append(cv.ends, int32(len(cv.ids)))
			}
		}
	})
	return out, err
}
