package match

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Random pairs over three comparisons: a and b describe one thing (they agree together),
// c is independent. findDependence must group a and b only, and adjust their joint agreement
// to what it proves: the weight of agreeing on one of them.
func TestFindDependence(t *testing.T) {
	comps := synthetic{m: [][]float64{{0.9, 0.1}, {0.9, 0.1}, {0.9, 0.1}}}.comparers()
	rng := rand.New(rand.NewPCG(2, 3))
	counts := map[patKey]int64{}
	const pairs = 1_000_000
	for range pairs {
		var k patKey
		same := rng.Float64() < 0.01 // a and b agree together, 1% of pairs
		for c, p := range []float64{0, 0, 0.05} {
			agree := rng.Float64() < p
			if c < 2 {
				agree = same
			}
			if !agree {
				k.set(c, 1)
			}
		}
		counts[k]++
	}
	raw := &uEstimate{sample: sortedPatterns(counts)}
	m := [][]float64{{0.9, 0.1}, {0.9, 0.1}, {0.9, 0.1}}
	u := [][]float64{{0.01, 0.99}, {0.01, 0.99}, {0.05, 0.95}}
	d := findDependence(raw, comps, m, u, 1e-9)
	if len(d.groups) != 1 || d.groups[0].mask != 0b011 {
		t.Fatalf("groups = %+v, want a and b", d.groups)
	}
	// Agreeing on both is as likely as agreeing on one (1%), not 0.01%: log2(0.01) bits back.
	if got, want := d.adjustment(0b011), math.Log2(0.01); math.Abs(got-want) > 0.1 {
		t.Errorf("adjustment for a and b together = %.3f, want %.3f", got, want)
	}
	if got := d.adjustment(0b101); got != 0 {
		t.Errorf("a with the independent c adjusted by %v", got)
	}
	if got := d.adjustment(0b001); got != 0 {
		t.Errorf("a alone adjusted by %v", got)
	}
	if desc := d.describe(comps); len(desc) != 1 || len(desc[0].Adjustments) != 1 {
		t.Errorf("describe = %+v", desc)
	}
}

// Independent comparisons form no group, even when true matches among the random pairs agree
// on all of them at once.
func TestFindDependenceIgnoresMatches(t *testing.T) {
	comps := synthetic{m: [][]float64{{0.9, 0.1}, {0.9, 0.1}, {0.9, 0.1}}}.comparers()
	rng := rand.New(rand.NewPCG(4, 5))
	counts := map[patKey]int64{}
	const pairs, matches = 500_000, 2_000
	for i := range pairs {
		var k patKey
		for c := range 3 {
			p := 0.02
			if i < matches {
				p = 0.9
			}
			if rng.Float64() >= p {
				k.set(c, 1)
			}
		}
		counts[k]++
	}
	raw := &uEstimate{sample: sortedPatterns(counts)}
	m := [][]float64{{0.9, 0.1}, {0.9, 0.1}, {0.9, 0.1}}
	u := [][]float64{{0.02, 0.98}, {0.02, 0.98}, {0.02, 0.98}}
	if d := findDependence(raw, comps, m, u, float64(matches)/pairs); len(d.groups) != 0 {
		t.Errorf("independent comparisons grouped: %+v", d.groups)
	}
}
