package match

import (
	"context"
	"math/rand/v2"
)

// The model's u, the probability of each level among non-matching pairs, comes from random
// record pairs: random pairs are almost all non-matches (a match is one pair in thousands to
// billions), so their level frequencies are u directly, with none of the blocking bias of
// candidate pairs, whose non-matches agree on the blocking fields by construction. This is
// Splink's approach; EM sessions start from it and are drawn towards it (em.go). Two
// refinements:
//
//   - exact agreement is counted from the dictionary (pairs sharing a value: Σ c(c-1)/2), so
//     even a billion-pair dataset gets it exactly, not from a sample that would rarely see two
//     records share a social security number;
//   - the few true matches among random pairs are removed afterwards (correctU), once EM has
//     estimated how many there are and how they compare: for a near-unique identifier they
//     are most of the agreeing pairs, and leaving them in would understate its weight.

// uSeed fixes the random pairs, so every run on the same data gives the same model.
const uSeed = 0x6b697a756e61 // "kizuna"

// uShards is the fixed number of independent random streams: fixed, so that the sample does
// not depend on the number of workers.
const uShards = 64

// uEstimate holds u per comparison and level (defined levels then "else"), with what is
// needed to correct it later.
type uEstimate struct {
	u [][]float64
	// floor is the smallest credible u per comparison and level: half an occurrence among
	// the pairs examined.
	floor [][]float64
	// pairs examined: random pairs, or all pairs when there are fewer than Config.RandomPairs.
	pairs int64
	// sample is the examined pairs' comparison vectors, counted: dependence.go reads in it
	// how often non-matches agree on several comparisons together.
	sample []pattern
}

// estimateU counts levels over random pairs (or all pairs, when there are few) and derives u.
func estimateU(ctx context.Context, comps []*comparer, recs *records, n, want, workers int) (*uEstimate, error) {
	all := int64(n) * int64(n-1) / 2
	exhaustive := all <= int64(want)
	shards := make([]map[patKey]int64, uShards)
	err := forEach(ctx, workers, uShards, func() func(int) {
		var s scratch
		return func(shard int) {
			hist := map[patKey]int64{}
			count := func(a, b int) {
				ra, rb := recs.idRow(int32(a)), recs.idRow(int32(b))
				var k patKey
				for c, cp := range comps {
					k.set(c, cp.level(cp.col.cell(ra[c]), cp.col.cell(rb[c]), &s))
				}
				hist[k]++
			}
			if exhaustive {
				for a := shard; a < n; a += uShards {
					for b := a + 1; b < n; b++ {
						count(a, b)
					}
				}
			} else {
				rng := rand.New(rand.NewPCG(uSeed, uint64(shard)))
				k := want / uShards
				if shard < want%uShards {
					k++
				}
				for range k {
					a, b := rng.IntN(n), rng.IntN(n-1)
					if b >= a {
						b++
					}
					count(a, b)
				}
			}
			shards[shard] = hist
		}
	})
	if err != nil {
		return nil, err
	}
	merged := map[patKey]int64{}
	for _, h := range shards {
		for k, v := range h {
			merged[k] += v
		}
	}
	est := &uEstimate{u: make([][]float64, len(comps)), floor: make([][]float64, len(comps)), sample: sortedPatterns(merged)}
	if exhaustive {
		est.pairs = all
	} else {
		est.pairs = int64(want)
	}
	for c, cp := range comps {
		counts := make([]int64, cp.states())
		for _, p := range est.sample {
			counts[p.key.level(c)] += p.count
		}
		est.u[c], est.floor[c] = uFromCounts(cp, counts[:cp.nullLevel])
	}
	return est, nil
}

// uFromCounts turns level counts over non-null pairs into probabilities, with half a pair
// added to every level so that a level never seen gets a small u rather than zero (which
// would make its weight infinite). When the first level is exact agreement its u comes from
// value frequencies instead, and the sample only splits the rest among the other levels.
func uFromCounts(cp *comparer, counts []int64) (u, floor []float64) {
	u = make([]float64, len(counts))
	floor = make([]float64, len(counts))
	var total float64
	for _, v := range counts {
		total += float64(v)
	}
	first := 0
	rest := 1.0
	if cp.Levels[0].Type == LevelExact {
		if agree, pairs := exactAgreement(cp.col); pairs > 0 {
			u[0] = max(agree, 0.5) / pairs
			floor[0] = 0.5 / pairs
			rest = 1 - u[0]
			first = 1
			total -= float64(counts[0])
		}
	}
	smoothed := total + 0.5*float64(len(counts)-first)
	for l := first; l < len(counts); l++ {
		u[l] = rest * (float64(counts[l]) + 0.5) / smoothed
		floor[l] = rest * 0.5 / smoothed
	}
	return u, floor
}

// exactAgreement counts the pairs of records sharing a value, and the pairs of non-null
// records, from the dictionary counts.
func exactAgreement(col *column) (agree, pairs float64) {
	for _, c := range col.counts[1:] {
		agree += float64(c) * float64(c-1) / 2
	}
	nn := float64(col.nonNull)
	return agree, nn * (nn - 1) / 2
}
