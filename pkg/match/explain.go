package match

import (
	"fmt"
	"math/bits"
	"strings"
)

// Explanation shows every term of a pair's match weight.
type Explanation struct {
	A, B int
	// BlockingRule is the first rule that made the pair a candidate, "" when none did.
	BlockingRule string
	// Candidate says whether Link compared the pair at all; Blocking says why or why not.
	Candidate bool
	Blocking  string
	// PriorWeight is the model's log2(λ/(1-λ)): the weight of knowing nothing.
	PriorWeight float64
	Comparisons []ComparisonExplanation
	// Dependence lists the adjustments for comparisons that agree together but are not
	// independent evidence (Model.Dependence).
	Dependence []DependenceAdjustment
	// TotalWeight is PriorWeight plus every comparison's weight and the dependence
	// adjustments; Probability its probability.
	TotalWeight, Probability float64
	MatchThreshold           float64
	// ClearsThreshold says whether Probability reaches MatchThreshold; Linked whether Link
	// linked the pair, which also needs it to be a candidate.
	ClearsThreshold, Linked bool
}

// ComparisonExplanation is one comparison's part of a pair's weight.
type ComparisonExplanation struct {
	Name, Field    string
	ValueA, ValueB string
	// Level is the index of the level reached in the model's Levels (the last one is "else"),
	// -1 for null.
	Level int
	// LevelLabel says it in words: "Jaro-Winkler ≥ 0.92", "else (no level matched)".
	LevelLabel string
	// M and U are the level's probabilities (0 for null).
	M, U float64
	// Weight is log2(M/U) plus TFAdjustment; 0 for null.
	Weight       float64
	TFAdjustment float64
}

// Explain scores any two records of d, whether or not Link compared them, with the model's
// parameters, and says which blocking rule, if any, made them candidates.
func (md *Model) Explain(d *Dataset, a, b int) Explanation {
	e := Explanation{A: a, B: b, PriorWeight: md.PriorWeight, MatchThreshold: md.MatchThreshold}
	value := func(field string, i int) string {
		col := d.Fields[field]
		if i < 0 || i >= len(col) {
			return ""
		}
		return col[i]
	}
	e.BlockingRule, e.Candidate, e.Blocking = md.explainBlocking(value, a, b)
	e.TotalWeight = md.PriorWeight
	var s scratch
	var exact uint32
	for c := range md.Comparisons {
		cm := &md.Comparisons[c]
		ce := ComparisonExplanation{Name: cm.Name, Field: cm.Field, ValueA: value(cm.Field, a), ValueB: value(cm.Field, b)}
		ce.Level, ce.LevelLabel = md.level(c, ce.ValueA, ce.ValueB, &s)
		if ce.Level == 0 && cm.Levels[0].Level.Type == LevelExact {
			exact |= 1 << uint(c)
		}
		if ce.Level >= 0 {
			lm := cm.Levels[ce.Level]
			ce.M, ce.U, ce.Weight = lm.M, lm.U, lm.Weight
			if md.tfApplies(c, ce.Level) {
				ce.TFAdjustment = md.TF[cm.Field].Adjustment(ce.ValueA)
				ce.Weight += ce.TFAdjustment
			}
		}
		e.TotalWeight += ce.Weight
		e.Comparisons = append(e.Comparisons, ce)
	}
	if md.dep != nil {
		for _, g := range md.dep.groups {
			if sub := exact & g.mask; bits.OnesCount32(sub) >= 2 {
				adj := DependenceAdjustment{Weight: g.adjust[sub]}
				for c := range eachBit(sub) {
					adj.Comparisons = append(adj.Comparisons, md.Comparisons[c].Name)
				}
				e.Dependence = append(e.Dependence, adj)
				e.TotalWeight += adj.Weight
			}
		}
	}
	e.Probability = probability(e.TotalWeight)
	e.ClearsThreshold = e.Probability >= md.MatchThreshold
	e.Linked = e.Candidate && e.ClearsThreshold && a != b
	return e
}

// level finds the level two values reach, through the same comparer code Link uses, on a
// two-value dictionary.
func (md *Model) level(c int, va, vb string, s *scratch) (int, string) {
	cm := &md.Comparisons[c]
	var levels []Level
	var need fieldNeeds
	for _, lm := range cm.Levels[:len(cm.Levels)-1] {
		levels = append(levels, lm.Level)
		need.number = need.number || lm.Level.Type == LevelNumericDifference
		need.date = need.date || lm.Level.Type == LevelDateDifference
	}
	col := encodeColumn(cm.Field, []string{va, vb}, need)
	cp := newComparer(Comparison{Name: cm.Name, Field: cm.Field, Levels: levels}, col)
	l := cp.level(col.cell(col.ids[0]), col.cell(col.ids[1]), s)
	switch l {
	case cp.nullLevel:
		return -1, nullLabel
	case cp.elseLevel:
		return int(l), elseLabel
	}
	return int(l), levels[l].String()
}

// explainBlocking finds the first rule whose key the two records share, skipping rules whose
// group was too large to compare.
func (md *Model) explainBlocking(value func(string, int) string, a, b int) (rule string, candidate bool, why string) {
	if a == b {
		return "", false, "a record is not paired with itself"
	}
	var tooLarge []string
	for r, br := range md.Blocking {
		vals := make([]string, len(br.Fields))
		agree := true
		for f, field := range br.Fields {
			va, vb := value(field, a), value(field, b)
			agree = agree && va != "" && va == vb
			vals[f] = va
		}
		if !agree {
			continue
		}
		if size, ok := md.skipped[r][joinKey(vals)]; ok {
			tooLarge = append(tooLarge, fmt.Sprintf("%q (its group of %d records exceeds the maximum block size)", br.Name, size))
			continue
		}
		return br.Name, true, fmt.Sprintf("candidates by blocking rule %q", br.Name)
	}
	if len(tooLarge) > 0 {
		return "", false, "not candidates: they share the key of blocking rule " + strings.Join(tooLarge, " and ")
	}
	return "", false, "not candidates: no blocking rule groups them, so Link never scored them"
}

// String lays the explanation out as a small table.
func (e Explanation) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "records %d and %d: %s\n", e.A, e.B, e.Blocking)
	fmt.Fprintf(&sb, "  %-24s %+8.2f\n", "prior", e.PriorWeight)
	for _, c := range e.Comparisons {
		fmt.Fprintf(&sb, "  %-24s %+8.2f  %q vs %q: %s", c.Name, c.Weight, c.ValueA, c.ValueB, c.LevelLabel)
		if c.TFAdjustment != 0 {
			fmt.Fprintf(&sb, " (term frequency %+.2f)", c.TFAdjustment)
		}
		sb.WriteByte('\n')
	}
	for _, d := range e.Dependence {
		fmt.Fprintf(&sb, "  %-24s %+8.2f  %s agree together, which is not independent evidence\n", "dependence", d.Weight, strings.Join(d.Comparisons, ", "))
	}
	verdict := "below"
	if e.ClearsThreshold {
		verdict = "at or above"
	}
	fmt.Fprintf(&sb, "  %-24s %+8.2f  probability %.6f, %s the threshold %g", "total", e.TotalWeight, e.Probability, verdict, e.MatchThreshold)
	if e.Linked {
		sb.WriteString(": linked")
	}
	return sb.String()
}
