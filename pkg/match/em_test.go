package match

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// synthetic draws comparison vectors from a known model: comparisons with the given m and u
// (level probabilities, "else" last), a share lambda of matches. The comparer only needs its
// levels for EM; the column is a placeholder.
type synthetic struct {
	m, u   [][]float64
	lambda float64
}

func (sy synthetic) comparers() []*comparer {
	comps := make([]*comparer, len(sy.m))
	for c := range sy.m {
		levels := make([]Level, len(sy.m[c])-1)
		for l := range levels {
			levels[l] = Level{Type: LevelExact}
		}
		comps[c] = newComparer(Comparison{Name: "c", Field: "f", Levels: levels}, &column{})
	}
	return comps
}

// patterns draws n pairs into a histogram, all in the session of rule 0.
func (sy synthetic) patterns(rng *rand.Rand, n int) []pattern {
	counts := map[patKey]int64{}
	draw := func(p []float64) uint8 {
		x := rng.Float64()
		for l, v := range p {
			if x < v {
				return uint8(l)
			}
			x -= v
		}
		return uint8(len(p) - 1)
	}
	for range n {
		k := patKey{rules: 1}
		match := rng.Float64() < sy.lambda
		for c := range sy.m {
			p := sy.u[c]
			if match {
				p = sy.m[c]
			}
			k.set(c, draw(p))
		}
		counts[k]++
	}
	return sortedPatterns(counts)
}

// EM must recover m and the share of matches of a model whose assumptions hold, starting from
// the generic initial values.
func TestEMRecoversKnownParameters(t *testing.T) {
	sy := synthetic{
		m: [][]float64{
			{0.90, 0.06, 0.04},
			{0.80, 0.15, 0.05},
			{0.95, 0.05},
			{0.70, 0.20, 0.10},
			{0.85, 0.10, 0.05},
		},
		u: [][]float64{
			{0.01, 0.04, 0.95},
			{0.02, 0.08, 0.90},
			{0.10, 0.90},
			{0.005, 0.02, 0.975},
			{0.03, 0.07, 0.90},
		},
		lambda: 0.2,
	}
	rng := rand.New(rand.NewPCG(11, 12))
	pats := sy.patterns(rng, 200_000)
	comps := sy.comparers()
	m := make([][]float64, len(comps))
	for c, cp := range comps {
		m[c] = initialM(cp)
	}
	fit, err := fitEM(context.Background(), pats, comps, []uint32{1<<len(comps) - 1}, sy.u, m, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !fit.converged {
		t.Errorf("EM did not converge in %d iterations", fit.iterations)
	}
	for c := range sy.m {
		for l, want := range sy.m[c] {
			if got := m[c][l]; math.Abs(got-want) > 0.01 {
				t.Errorf("m[%d][%d] = %.4f, want %.4f", c, l, got, want)
			}
		}
	}
	if got := fit.ruleLambda[0]; math.Abs(got-sy.lambda) > 0.01 {
		t.Errorf("share of matches = %.4f, want %.4f", got, sy.lambda)
	}
	t.Logf("converged in %d iterations; λ = %.4f", fit.iterations, fit.ruleLambda[0])
}

// A comparison whose field every rule fixes cannot be learned: it keeps its starting m and is
// reported as not estimated.
func TestEMLeavesFixedComparisons(t *testing.T) {
	sy := synthetic{
		m:      [][]float64{{0.9, 0.1}, {0.8, 0.2}, {0.85, 0.15}, {0.7, 0.3}},
		u:      [][]float64{{0.05, 0.95}, {0.1, 0.9}, {0.02, 0.98}, {0.2, 0.8}},
		lambda: 0.3,
	}
	pats := sy.patterns(rand.New(rand.NewPCG(1, 1)), 20_000)
	comps := sy.comparers()
	m := make([][]float64, len(comps))
	for c, cp := range comps {
		m[c] = initialM(cp)
	}
	start := append([]float64(nil), m[0]...)
	fit, err := fitEM(context.Background(), pats, comps, []uint32{0b1110}, sy.u, m, 100)
	if err != nil {
		t.Fatal(err)
	}
	if fit.estimated[0] || !fit.estimated[1] {
		t.Errorf("estimated = %v, want comparison 0 alone not estimated", fit.estimated)
	}
	if m[0][0] != start[0] || m[0][1] != start[1] {
		t.Errorf("m of the fixed comparison moved from %v to %v", start, m[0])
	}
}

// solveLambda must find the share of matches over all pairs when only the candidates carry
// matches: with perfectly separated patterns it is matches / all pairs.
func TestSolveLambda(t *testing.T) {
	comps := synthetic{m: [][]float64{{0.99, 0.01}, {0.99, 0.01}}}.comparers()
	m := [][]float64{{0.99, 0.01}, {0.99, 0.01}}
	u := [][]float64{{1e-6, 1 - 1e-6}, {1e-6, 1 - 1e-6}}
	var agree, disagree patKey
	disagree.set(0, 1)
	disagree.set(1, 1)
	vecs := []pattern{{key: agree, count: 1000}, {key: disagree, count: 50_000}}
	const total = 1e9
	got := solveLambda(vecs, comps, m, u, nil, total)
	want := 1000.0 / total
	if math.Abs(got-want)/want > 0.02 {
		t.Errorf("solveLambda = %.4g, want %.4g", got, want)
	}
}

// correctU removes the matches' share from what random pairs saw, never going below the floor.
func TestCorrectU(t *testing.T) {
	raw := &uEstimate{
		u:     [][]float64{{0.002, 0.998}},
		floor: [][]float64{{1e-7, 1e-7}},
	}
	m := [][]float64{{0.9, 0.1}}
	u := correctU(raw, m, 0.001)
	if want := (0.002 - 0.0009) / 0.999; math.Abs(u[0][0]-want/(want+(0.998-0.0001)/0.999)) > 1e-9 {
		t.Errorf("corrected u = %v", u[0])
	}
	u = correctU(raw, m, 0.01) // more matches than agreements: the floor holds
	if u[0][0] <= 0 || u[0][0] > 2e-7 {
		t.Errorf("u below the floor or not at it: %v", u[0])
	}
}
