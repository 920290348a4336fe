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
	// SampledPairs is the number of record pairs u was estimated from: Config.RandomPairs
	// random pairs, or every pair of a dataset with fewer.
	SampledPairs int64
	// Iterations of EM, both fits together, and whether both converged within
	// Config.MaxIterations.
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
		if !cfg.TermFrequency {
			col.index = nil // only term-frequency tables look values up again
		}
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
	res.SampledPairs = raw.pairs
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
