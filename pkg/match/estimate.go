package match

import (
	"context"
	"math"
)

// estimate fits m by EM with u from random pairs, solves the prior, corrects u for the
// matches among the random pairs, then refits with the corrected u, measures the dependence
// between comparisons and solves the prior again. Config.MaxIterations bounds each fit; the
// second starts from the first's m and needs only a few iterations.
func estimate(ctx context.Context, cfg *Config, comps []*comparer, rules []*ruleIndex, pats []pattern, raw *uEstimate, totalPairs float64) (*Model, *emFit, error) {
	free := sessionFree(rules, comps)
	m := make([][]float64, len(comps))
	for c, cp := range comps {
		m[c] = initialM(cp)
	}
	vecs := vectorsOnly(pats)
	fit, err := fitEM(ctx, pats, comps, free, raw.u, m, cfg.MaxIterations)
	if err != nil {
		return nil, nil, err
	}
	u := correctU(raw, m, solveLambda(vecs, comps, m, raw.u, nil, totalPairs))
	refit, err := fitEM(ctx, pats, comps, free, u, m, cfg.MaxIterations)
	if err != nil {
		return nil, nil, err
	}
	refit.iterations += fit.iterations
	refit.converged = refit.converged && fit.converged
	fit = refit
	dep := findDependence(raw, comps, m, u, solveLambda(vecs, comps, m, u, nil, totalPairs))
	md := newModel(cfg, comps, m, u, fit, solveLambda(vecs, comps, m, u, dep, totalPairs))
	md.dep, md.Dependence = dep, dep.describe(comps)
	if len(pats) == 0 {
		md.Warnings = append(md.Warnings, "no candidate pairs: no two records share the key of any blocking rule, so m keeps its starting values")
	}
	return md, fit, nil
}

// solveLambda finds the prior match probability over all n(n-1)/2 record pairs by maximum
// likelihood, with m and u fixed: candidates contribute λ·B + (1-λ), B their pattern's Bayes
// factor over every comparison, and the pairs no rule generated are taken as non-matches.
// The log-likelihood is concave in λ, so its derivative crosses zero once, found by
// bisection on log λ. Matches that blocking misses are not counted, which makes λ, and so
// every probability, slightly conservative.
func solveLambda(vecs []pattern, comps []*comparer, m, u [][]float64, dep *dependence, totalPairs float64) float64 {
	nc := len(comps)
	bayes := make([]float64, len(vecs))
	var candidates float64
	for p, pt := range vecs {
		w := dep.adjustment(exactMask(pt.key, comps))
		for c := range nc {
			if l := pt.key.level(c); l != comps[c].nullLevel {
				w += math.Log2(m[c][l] / u[c][l])
			}
		}
		bayes[p] = math.Exp2(min(w, 1000))
		candidates += float64(pt.count)
	}
	totalPairs = max(totalPairs, candidates, 1)
	rest := totalPairs - candidates
	slope := func(lambda float64) float64 {
		s := -rest / (1 - lambda)
		for p, pt := range vecs {
			s += float64(pt.count) * (bayes[p] - 1) / (lambda*bayes[p] + 1 - lambda)
		}
		return s
	}
	lo, hi := math.Log(1/totalPairs)-30, math.Log(0.5)
	if slope(math.Exp(lo)) <= 0 {
		return math.Exp(lo)
	}
	if slope(math.Exp(hi)) >= 0 {
		return math.Exp(hi)
	}
	for range 100 {
		mid := (lo + hi) / 2
		if slope(math.Exp(mid)) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

// correctU removes the matches from the random pairs' level frequencies: what random pairs
// see is λ·m + (1-λ)·u, so u = (observed - λ·m) / (1-λ), kept at or above the floor of half
// an occurrence and renormalised.
func correctU(raw *uEstimate, m [][]float64, lambda float64) [][]float64 {
	u := make([][]float64, len(raw.u))
	for c := range raw.u {
		u[c] = make([]float64, len(raw.u[c]))
		sum := 0.0
		for l, obs := range raw.u[c] {
			u[c][l] = max((obs-lambda*m[c][l])/(1-lambda), raw.floor[c][l])
			sum += u[c][l]
		}
		for l := range u[c] {
			u[c][l] /= sum
		}
	}
	return u
}
