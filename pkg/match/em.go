package match

import (
	"context"
	"math"
	"math/bits"
)

// Expectation-maximisation of m (per comparison and level, the probability among matches),
// of each blocking rule's share of matches and of each rule's own u, starting from, and drawn
// towards, the u of random pairs.
//
// Candidate pairs are not a random sample: every pair of rule r agrees on r's fields. So, as
// Splink does, each rule is its own "session": its pairs are a two-class mixture in which
// the comparisons of r's own fields carry no information (they agree by construction) and are
// left out, and the share of matches λr is the rule's own. Unlike Splink, which fits one
// session after another and averages m, all sessions are fitted together with m shared: one
// composite likelihood, so a comparison's m pools the evidence of every session in which it
// is free. A pair counts in every session whose key it agrees on (its pattern carries that
// rule set), because each session's likelihood is about all the pairs its rule produces, not
// only those it produced first.

// emTolerance is the largest change of any parameter at which EM has converged (Splink's
// default).
const emTolerance = 1e-4

// mPrior is the pseudo-count of matches spread evenly over a comparison's levels, so a level
// no match reached gets a small m, not zero (an infinitely negative weight).
const mPrior = 1.0

// emFit is EM's result.
type emFit struct {
	ruleLambda []float64 // share of matches among each rule's pairs
	estimated  []bool    // per comparison: free in at least one session
	iterations int
	converged  bool
}

// uPrior is the weight, in pairs, of the random-pair u in a session's own u: enough to steady
// a session with hardly any non-matches, negligible against thousands.
const uPrior = 10.0

// session is one blocking rule's part of the fit.
type session struct {
	free   uint32 // comparisons not fixed by the rule
	lambda float64
	// u is the session's own u: the level frequencies among its non-matches. Fields
	// correlated with the rule's key (suburb and state within one postcode) agree among the
	// session's non-matches far more often than among random pairs; with random-pair u, EM
	// would take "same postcode" for "same person". Random-pair u stays the prior, and is
	// what the final model uses, because the final model scores pairs against all pairs.
	u, logR    [][]float64
	uNum       [][]float64
	uDen       []float64
	lNum, lDen float64
}

// sessionFree gives, per rule, a bit per comparison whose field is not one of the rule's.
func sessionFree(rules []*ruleIndex, comps []*comparer) []uint32 {
	free := make([]uint32, len(rules))
	for r, ri := range rules {
		for c, cp := range comps {
			fixed := false
			for _, f := range ri.Fields {
				fixed = fixed || f == cp.Field
			}
			if !fixed {
				free[r] |= 1 << uint(c)
			}
		}
	}
	return free
}

// initialM is where EM starts: most matches in the first level, a few spread over the other
// levels and "else".
func initialM(cp *comparer) []float64 {
	n := len(cp.Levels)
	m := make([]float64, n+1)
	if n == 1 {
		m[0], m[1] = 0.9, 0.1
		return m
	}
	m[0] = 0.85
	for l := 1; l < n; l++ {
		m[l] = 0.1 / float64(n-1)
	}
	m[n] = 0.05
	return m
}

// fitEM runs EM from m (modified in place), with uGlobal as every session's starting and
// prior u, for at most maxIter iterations.
func fitEM(ctx context.Context, pats []pattern, comps []*comparer, free []uint32, uGlobal, m [][]float64, maxIter int) (*emFit, error) {
	nc, nr := len(comps), len(free)
	levels := make([]uint8, len(pats)*nc)
	for p, pt := range pats {
		for c := range comps {
			levels[p*nc+c] = pt.key.level(c)
		}
	}
	fit := &emFit{ruleLambda: make([]float64, nr), estimated: make([]bool, nc)}
	sessions := make([]session, nr)
	for r := range sessions {
		ss := &sessions[r]
		ss.free, ss.lambda = free[r], 0.5
		ss.u, ss.logR, ss.uNum = clone2(uGlobal), clone2(uGlobal), clone2(uGlobal)
		ss.uDen = make([]float64, nc)
		for c := range comps {
			if ss.free&(1<<uint(c)) != 0 {
				fit.estimated[c] = true
			}
		}
	}
	mNum := clone2(m)
	mDen := make([]float64, nc)
	for fit.iterations < maxIter {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fit.iterations++
		for c := range comps {
			clear(mNum[c])
		}
		clear(mDen)
		for r := range sessions {
			ss := &sessions[r]
			for c := range comps {
				for l := range m[c] {
					ss.logR[c][l] = math.Log2(m[c][l] / ss.u[c][l])
				}
				clear(ss.uNum[c])
			}
			clear(ss.uDen)
			ss.lNum, ss.lDen = 0, 0
		}
		// E-step: each pattern's match probability in each session it belongs to.
		for p, pt := range pats {
			lv := levels[p*nc : (p+1)*nc]
			n := float64(pt.count)
			for rs := pt.key.rules; rs != 0; rs &= rs - 1 {
				ss := &sessions[bits.TrailingZeros32(rs)]
				w := priorLog2(ss.lambda)
				for c := range comps {
					if ss.free&(1<<uint(c)) != 0 && lv[c] != comps[c].nullLevel {
						w += ss.logR[c][lv[c]]
					}
				}
				pm := n * probability(w)
				pu := n - pm
				ss.lNum += pm
				ss.lDen += n
				for c := range comps {
					if ss.free&(1<<uint(c)) != 0 && lv[c] != comps[c].nullLevel {
						mNum[c][lv[c]] += pm
						mDen[c] += pm
						ss.uNum[c][lv[c]] += pu
						ss.uDen[c] += pu
					}
				}
			}
		}
		// M-step.
		change := 0.0
		for c := range comps {
			if !fit.estimated[c] || mDen[c] == 0 {
				continue // nothing to learn from: keep the current values
			}
			k := float64(len(m[c]))
			for l := range m[c] {
				v := (mNum[c][l] + mPrior/k) / (mDen[c] + mPrior)
				change = max(change, math.Abs(v-m[c][l]))
				m[c][l] = v
			}
		}
		for r := range sessions {
			ss := &sessions[r]
			if ss.lDen == 0 {
				continue
			}
			v := min(max(ss.lNum/ss.lDen, 1e-12), 1-1e-12)
			change = max(change, math.Abs(v-ss.lambda))
			ss.lambda = v
			for c := range comps {
				if ss.free&(1<<uint(c)) == 0 {
					continue
				}
				for l := range ss.u[c] {
					v := (ss.uNum[c][l] + uPrior*uGlobal[c][l]) / (ss.uDen[c] + uPrior)
					change = max(change, math.Abs(v-ss.u[c][l]))
					ss.u[c][l] = v
				}
			}
		}
		if change < emTolerance {
			fit.converged = true
			break
		}
	}
	for r := range sessions {
		fit.ruleLambda[r] = sessions[r].lambda
	}
	return fit, nil
}

func clone2(x [][]float64) [][]float64 {
	out := make([][]float64, len(x))
	for i := range x {
		out[i] = append([]float64(nil), x[i]...)
	}
	return out
}

// priorLog2 is the weight of a prior probability: log2(λ/(1-λ)).
func priorLog2(lambda float64) float64 { return math.Log2(lambda / (1 - lambda)) }

// probability turns a match weight (log2 of the odds) into a probability.
func probability(w float64) float64 { return 1 / (1 + math.Exp2(-w)) }
