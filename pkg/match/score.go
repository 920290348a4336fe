package match

import (
	"cmp"
	"context"
	"math/bits"
	"slices"
)

// Pair is a linked pair of records, A < B, with its match probability and weight (log2 of the
// match odds).
type Pair struct {
	A, B        int32
	Probability float64
	Weight      float64
}

// scoreLinks is pass two: it walks every chunk's pairs again in the order of pass one and
// reads their weight from their pattern, adding term-frequency adjustments when an exact
// level is reached. Patterns that cannot reach the threshold even with the largest
// adjustment are never looked at again, and a group, or a chunk, with only such patterns is
// skipped whole: matches are a small minority, so scoring mostly scans pattern ids and costs
// a fraction of pass one.
func scoreLinks(ctx context.Context, md *Model, rules []*ruleIndex, comps []*comparer, recs *records, chunks []chunk, vecs []chunkVectors, workers int) ([]Pair, error) {
	nc := len(comps)
	tf := make([][]float64, nc) // by comparison: adjustment by value id
	maxTF := make([]float64, nc)
	for c, cp := range comps {
		if t := md.TF[cp.Field]; md.TermFrequency && t != nil {
			tf[c], maxTF[c] = t.adjust, t.maxAdjustment()
		}
	}
	threshold := md.thresholdWeight()
	out := make([][]Pair, len(chunks))
	err := forEach(ctx, workers, len(chunks), func() func(int) {
		w := newWalker(rules, comps, recs)
		var base []float64
		var tfComps []uint32 // by pattern: comparisons whose level gets an adjustment
		var possible []bool
		return func(i int) {
			cv := &vecs[i]
			base, tfComps, possible = base[:0], tfComps[:0], possible[:0]
			reachable := false
			for _, k := range cv.keys {
				wt, hi, mask := md.PriorWeight+md.dep.adjustment(exactMask(k, comps)), 0.0, uint32(0)
				for c := range nc {
					l := int(k.level(c))
					if l == int(comps[c].nullLevel) {
						continue
					}
					wt += md.Comparisons[c].Levels[l].Weight
					if tf[c] != nil && md.tfApplies(c, l) {
						mask |= 1 << uint(c)
						hi += max(maxTF[c], 0)
					}
				}
				ok := wt+hi >= threshold-1e-9
				base, tfComps, possible = append(base, wt), append(tfComps, mask), append(possible, ok)
				reachable = reachable || ok
			}
			if !reachable {
				return
			}
			var links []Pair
			ch := chunks[i]
			start := int32(0)
			for g := ch.g0; g < ch.g1; g++ {
				ids := cv.ids[start:cv.ends[g-ch.g0]]
				start = cv.ends[g-ch.g0]
				if !slices.ContainsFunc(ids, func(id uint32) bool { return possible[id] }) {
					continue
				}
				k := 0
				w.walkGroup(ch.rule, g, func(a, b int32, ca, _ []cell, _ uint32) {
					id := ids[k]
					k++
					if !possible[id] {
						return
					}
					wt := base[id]
					for mask := tfComps[id]; mask != 0; mask &= mask - 1 {
						c := bits.TrailingZeros32(mask)
						wt += tf[c][ca[c].id]
					}
					if p := probability(wt); p >= md.MatchThreshold {
						links = append(links, Pair{A: a, B: b, Probability: p, Weight: wt})
					}
				})
			}
			out[i] = links
		}
	})
	if err != nil {
		return nil, err
	}
	var all []Pair
	for _, l := range out {
		all = append(all, l...)
	}
	slices.SortFunc(all, func(x, y Pair) int {
		if c := cmp.Compare(x.A, y.A); c != 0 {
			return c
		}
		return cmp.Compare(x.B, y.B)
	})
	return all, nil
}
