package match

import (
	"context"
	"slices"
	"time"
)

// Result is what Link found.
type Result struct {
	// Links are the pairs whose match probability reaches the threshold, sorted by A then B.
	Links []Pair
	Model *Model
	// CandidatePairs is the number of distinct pairs compared.
	CandidatePairs int64
	// Blocking reports, per rule, its pairs and the groups skipped as too large.
	Blocking []RuleStats
	// Patterns is the number of distinct comparison vectors EM iterated over.
	Patterns int
	// Iterations of EM, and whether it converged before Config.MaxIterations.
	Iterations int
	Converged  bool
	// Timings says where the time went.
	Timings Timings
}

// Timings are the wall-clock durations of Link's phases.
type Timings struct {
	Encode      time.Duration // dictionary-encoding the fields
	Blocking    time.Duration // grouping records per rule
	Vectors     time.Duration // comparing every candidate pair
	RandomPairs time.Duration // comparing random pairs for u
	Estimate    time.Duration // EM and the prior
	Score       time.Duration // weighing pairs and collecting links
	Total       time.Duration
}

// clock times consecutive phases.
type clock struct{ start, last time.Time }

func (c *clock) lap(d *time.Duration) {
	now := time.Now()
	*d, c.last = now.Sub(c.last), now
}

// Link finds the pairs of records of d that describe the same entity. It validates cfg
// against d first: an unknown field, level type or out-of-range setting is an error naming it.
func Link(ctx context.Context, d *Dataset, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(d); err != nil {
		return nil, err
	}
	res := &Result{}
	now := time.Now()
	clk := clock{now, now}
	needs, order := fieldNeedsOf(&cfg)
	cols, err := encodeColumns(ctx, d, needs, order, cfg.Workers)
	if err != nil {
		return nil, err
	}
	clk.lap(&res.Timings.Encode)
	comps := make([]*comparer, len(cfg.Comparisons))
	for i, c := range cfg.Comparisons {
		comps[i] = newComparer(c, cols[c.Field])
	}
	rules := make([]*ruleIndex, len(cfg.Blocking))
	if err := forEach(ctx, cfg.Workers, len(rules), func() func(int) {
		return func(r int) { rules[r] = buildRule(cfg.Blocking[r], cols, cfg.MaxBlockSize) }
	}); err != nil {
		return nil, err
	}
	recs, err := newRecords(ctx, rules, comps, d.N, cfg.Workers)
	if err != nil {
		return nil, err
	}
	for _, ri := range rules {
		ri.keys = nil // now in recs
	}
	for _, col := range cols {
		col.ids = nil // likewise
	}
	chunks := planChunks(rules)
	clk.lap(&res.Timings.Blocking)
	vecs, err := computeVectors(ctx, rules, comps, recs, chunks, cfg.Workers)
	if err != nil {
		return nil, err
	}
	for i, ch := range chunks {
		rules[ch.rule].stats.CandidatePairs += int64(len(vecs[i].ids))
	}
	for _, ri := range rules {
		res.Blocking = append(res.Blocking, ri.stats)
		res.CandidatePairs += ri.stats.CandidatePairs
	}
	pats := histogram(vecs)
	res.Patterns = len(pats)
	clk.lap(&res.Timings.Vectors)
	raw, err := estimateU(ctx, comps, recs, d.N, cfg.RandomPairs, cfg.Workers)
	if err != nil {
		return nil, err
	}
	clk.lap(&res.Timings.RandomPairs)
	md, fit, err := estimate(ctx, &cfg, comps, rules, pats, raw, float64(d.N)*float64(d.N-1)/2)
	if err != nil {
		return nil, err
	}
	res.Iterations, res.Converged = fit.iterations, fit.converged
	for _, ri := range rules {
		md.skipped = append(md.skipped, ri.skipped)
	}
	if cfg.TermFrequency {
		md.TF = map[string]*TFTable{}
		for _, cp := range comps {
			if md.TF[cp.Field] == nil && slices.ContainsFunc(cp.Levels, func(l Level) bool { return l.Type == LevelExact }) {
				md.TF[cp.Field] = newTFTable(cp.col)
			}
		}
	}
	res.Model = md
	clk.lap(&res.Timings.Estimate)
	if res.Links, err = scoreLinks(ctx, md, rules, comps, recs, chunks, vecs, cfg.Workers); err != nil {
		return nil, err
	}
	clk.lap(&res.Timings.Score)
	res.Timings.Total = time.Since(clk.start)
	return res, nil
}

// estimate fits m by EM with u from random pairs, solves the prior, corrects u for the
// matches among the random pairs, then refits with the corrected u and solves the prior
// again. Both fits share Config.MaxIterations; the second starts from the first's m and
// usually needs only a few iterations.
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
	u := correctU(raw, m, solveLambda(vecs, comps, m, raw.u, totalPairs))
	if left := cfg.MaxIterations - fit.iterations; left > 0 {
		refit, err := fitEM(ctx, pats, comps, free, u, m, left)
		if err != nil {
			return nil, nil, err
		}
		refit.iterations += fit.iterations
		fit = refit
	}
	md := newModel(cfg, comps, m, u, fit, solveLambda(vecs, comps, m, u, totalPairs))
	if len(pats) == 0 {
		md.Warnings = append(md.Warnings, "no candidate pairs: no two records share the key of any blocking rule, so m keeps its starting values")
	}
	return md, fit, nil
}

// histogram merges the chunks' patterns, sorted so that EM sums in a fixed order.
func histogram(vecs []chunkVectors) []pattern {
	counts := map[patKey]int64{}
	for _, cv := range vecs {
		for i, k := range cv.keys {
			counts[k] += cv.counts[i]
		}
	}
	return sortedPatterns(counts)
}

// vectorsOnly merges patterns that differ only in their rule sets.
func vectorsOnly(pats []pattern) []pattern {
	counts := map[patKey]int64{}
	for _, p := range pats {
		counts[p.key.vectorOnly()] += p.count
	}
	return sortedPatterns(counts)
}

func sortedPatterns(counts map[patKey]int64) []pattern {
	pats := make([]pattern, 0, len(counts))
	for k, n := range counts {
		pats = append(pats, pattern{key: k, count: n})
	}
	slices.SortFunc(pats, func(a, b pattern) int {
		switch {
		case a.key.rules != b.key.rules:
			return compareUint(a.key.rules, b.key.rules)
		case a.key.hi != b.key.hi:
			return compareUint(a.key.hi, b.key.hi)
		}
		return compareUint(a.key.lo, b.key.lo)
	})
	return pats
}

func compareUint[T uint32 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fieldNeedsOf lists the fields blocking and comparisons read, in a fixed order, with what
// their values must be parsed as.
func fieldNeedsOf(cfg *Config) (map[string]fieldNeeds, []string) {
	needs := map[string]fieldNeeds{}
	var order []string
	add := func(f string) {
		if _, ok := needs[f]; !ok {
			needs[f] = fieldNeeds{}
			order = append(order, f)
		}
	}
	for _, r := range cfg.Blocking {
		for _, f := range r.Fields {
			add(f)
		}
	}
	for _, c := range cfg.Comparisons {
		add(c.Field)
		n := needs[c.Field]
		for _, l := range c.Levels {
			n.number = n.number || l.Type == LevelNumericDifference
			n.date = n.date || l.Type == LevelDateDifference
		}
		needs[c.Field] = n
	}
	return needs, order
}
