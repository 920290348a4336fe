package match

import (
	"maps"
	"math"
	"math/bits"
	"slices"
)

// Dependence between comparisons among non-matches.
//
// Fellegi-Sunter multiplies the comparisons' likelihood ratios as if they were independent
// given the match status. Fields that describe one thing break that: suburb, postcode and
// state name one place, so two strangers from the same suburb agree on all three, and the
// model counts one coincidence three times: 25 bits of evidence where there are 11, enough to
// link strangers who merely share an address. (FEBRL draws these fields independently, so it
// does not show; real addresses, and Japanese ones with prefecture, city and postal code, do.)
//
// The random pairs that estimate u also show how often non-matching records agree exactly on
// several comparisons together. Comparisons whose joint agreement is clearly more frequent
// than the product of their rates form a dependence group, and when a pair agrees exactly on
// two or more comparisons of a group, its weight gets log2(Π u / u_joint), where u_joint is
// the measured rate of that joint agreement: the agreements then weigh what they jointly
// prove. Adjustments only ever take evidence away, and need enough pairs to be measured.

const (
	// depMinPairs is how many examined pairs must agree together for a joint rate to count
	// as measured.
	depMinPairs = 30
	// depMinLift is how many times more often than independent agreement two comparisons
	// must agree together to be grouped.
	depMinLift = 2.0
	// depMaxGroup caps a group, whose adjustments cover all its subsets.
	depMaxGroup = 8
)

// DependenceGroup is a set of comparisons that agree together more often than independent
// comparisons would among non-matching pairs.
type DependenceGroup struct {
	Comparisons []string
	// Adjustments lists, for each subset of two or more of the group's comparisons, the weight
	// added when exactly that subset agrees exactly.
	Adjustments []DependenceAdjustment
}

// DependenceAdjustment is the weight added when some comparisons agree exactly together.
type DependenceAdjustment struct {
	Comparisons []string
	Weight      float64
}

// dependence is the groups in the form scoring reads.
type dependence struct {
	groups []depGroup
}

type depGroup struct {
	mask   uint32             // the group's comparisons
	adjust map[uint32]float64 // by the subset of mask agreeing exactly, two or more
}

// adjustment is the weight added to a pair agreeing exactly on the comparisons in exact.
func (d *dependence) adjustment(exact uint32) float64 {
	if d == nil {
		return 0
	}
	w := 0.0
	for _, g := range d.groups {
		if s := exact & g.mask; bits.OnesCount32(s) >= 2 {
			w += g.adjust[s]
		}
	}
	return w
}

// exactMask says which comparisons of a pattern agree exactly: their first level, when it is
// exact agreement.
func exactMask(k patKey, comps []*comparer) uint32 {
	var m uint32
	for c, cp := range comps {
		if cp.Levels[0].Type == LevelExact && k.level(c) == 0 {
			m |= 1 << uint(c)
		}
	}
	return m
}

// findDependence measures joint exact agreement among the random pairs' non-matches, groups
// the comparisons that agree together too often, and sets each group's adjustments. Each
// random pair counts as a non-match by its probability of not matching under the fitted
// model (m, u, lambda, dependence aside): the true matches among random pairs agree on many
// fields at once, and on a small dataset they would otherwise pass for dependence.
func findDependence(raw *uEstimate, comps []*comparer, m, u [][]float64, lambda float64) *dependence {
	type vec struct {
		exact, present uint32
		weight         float64 // expected non-matches
	}
	var exactFirst uint32
	for c, cp := range comps {
		if cp.Levels[0].Type == LevelExact {
			exactFirst |= 1 << uint(c)
		}
	}
	prior := priorLog2(lambda)
	vecs := make([]vec, 0, len(raw.sample))
	for _, p := range raw.sample {
		v := vec{exact: exactMask(p.key, comps)}
		w := prior
		for c, cp := range comps {
			if l := p.key.level(c); l != cp.nullLevel {
				v.present |= 1 << uint(c)
				w += math.Log2(m[c][l] / u[c][l])
			}
		}
		v.present &= exactFirst
		v.weight = float64(p.count) * (1 - probability(w))
		if bits.OnesCount32(v.present) >= 2 {
			vecs = append(vecs, v)
		}
	}
	// rate is how often non-matches with values for every comparison of s agree exactly on
	// all of them, and whether enough agreed for the rate to be measured.
	rate := func(s uint32) (float64, bool) {
		var agree, present float64
		for _, v := range vecs {
			if v.present&s == s {
				present += v.weight
				if v.exact&s == s {
					agree += v.weight
				}
			}
		}
		if present == 0 {
			return 0, false
		}
		return max(agree, 0.5) / present, agree >= depMinPairs
	}
	independent := func(s uint32) float64 {
		p := 1.0
		for c := range eachBit(s) {
			r, _ := rate(1 << uint(c))
			p *= r
		}
		return p
	}
	// Group the comparisons linked by pairwise dependence (union-find on a few dozen).
	parent := make([]int, len(comps))
	for c := range parent {
		parent[c] = c
	}
	root := func(c int) int {
		for parent[c] != c {
			c = parent[c]
		}
		return c
	}
	for i := range comps {
		for j := i + 1; j < len(comps); j++ {
			s := uint32(1)<<uint(i) | uint32(1)<<uint(j)
			if s&exactFirst != s {
				continue
			}
			if r, ok := rate(s); ok && r >= depMinLift*independent(s) {
				parent[root(j)] = root(i)
			}
		}
	}
	members := map[int]uint32{}
	for c := range comps {
		if r := root(c); bits.OnesCount32(members[r]) < depMaxGroup {
			members[r] |= 1 << uint(c)
		}
	}
	d := &dependence{}
	for _, r := range slices.Sorted(maps.Keys(members)) {
		if bits.OnesCount32(members[r]) < 2 {
			continue
		}
		g := depGroup{mask: members[r], adjust: map[uint32]float64{}}
		// Subsets by size, so a subset too rare to measure can borrow from its own subsets.
		subsets := subsetsOf(g.mask)
		slices.SortStableFunc(subsets, func(a, b uint32) int { return bits.OnesCount32(a) - bits.OnesCount32(b) })
		for _, s := range subsets {
			if bits.OnesCount32(s) < 2 {
				continue
			}
			if r, ok := rate(s); ok {
				g.adjust[s] = min(0, math.Log2(independent(s)/r))
				continue
			}
			// Too rare to measure: take the strongest adjustment of its measured parts.
			best := 0.0
			for c := range eachBit(s) {
				best = min(best, g.adjust[s&^(1<<uint(c))])
			}
			g.adjust[s] = best
		}
		d.groups = append(d.groups, g)
	}
	return d
}

// subsetsOf lists the non-empty subsets of a bit set.
func subsetsOf(mask uint32) []uint32 {
	var out []uint32
	for s := mask; s != 0; s = (s - 1) & mask {
		out = append(out, s)
	}
	return out
}

// eachBit yields the positions of the set bits.
func eachBit(s uint32) func(func(int) bool) {
	return func(yield func(int) bool) {
		for ; s != 0; s &= s - 1 {
			if !yield(bits.TrailingZeros32(s)) {
				return
			}
		}
	}
}

// describe turns the groups into the model's exported form.
func (d *dependence) describe(comps []*comparer) []DependenceGroup {
	names := func(s uint32) []string {
		var out []string
		for c := range eachBit(s) {
			out = append(out, comps[c].Name)
		}
		return out
	}
	var out []DependenceGroup
	for _, g := range d.groups {
		dg := DependenceGroup{Comparisons: names(g.mask)}
		subsets := make([]uint32, 0, len(g.adjust))
		for s := range g.adjust {
			subsets = append(subsets, s)
		}
		slices.Sort(subsets)
		for _, s := range subsets {
			dg.Adjustments = append(dg.Adjustments, DependenceAdjustment{Comparisons: names(s), Weight: g.adjust[s]})
		}
		out = append(out, dg)
	}
	return out
}
