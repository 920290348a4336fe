package resolve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Explanation says why two records share a profile or not.
type Explanation struct {
	A, B               store.RecordRef
	ProfileA, ProfileB string
	SameProfile        bool
	// Rules tells, for each deterministic rule, whether it links the two records directly.
	Rules []RuleExplanation
	// Probabilistic is the pair's match weights; nil without probabilistic rules.
	Probabilistic *match.Explanation
	// Summary says it in one sentence.
	Summary string
}

// RuleExplanation is what one deterministic rule says of a pair.
type RuleExplanation struct {
	Rule   string
	Linked bool
	Reason string
}

// Explain tells which rule or which comparison weights linked two records, or kept them apart.
// Records can also share a profile without a direct link, through records linked to both.
func (r *Result) Explain(a, b store.RecordRef) (Explanation, error) {
	ia, ib := r.index(a), r.index(b)
	if ia < 0 || ib < 0 {
		missing := a
		if ia >= 0 {
			missing = b
		}
		return Explanation{}, fmt.Errorf("record %s/%s is not among the resolution's records", missing.Source, missing.Key)
	}
	e := Explanation{
		A: a, B: b,
		ProfileA: r.Profiles[r.ProfileOf[ia]].ID, ProfileB: r.Profiles[r.ProfileOf[ib]].ID,
	}
	e.SameProfile = e.ProfileA == e.ProfileB
	direct := false
	for _, rule := range r.cfg.Deterministic {
		re := r.explainRule(rule, ia, ib)
		direct = direct || re.Linked
		e.Rules = append(e.Rules, re)
	}
	if r.Match != nil {
		x := r.Match.Model.Explain(r.data, int(ia), int(ib))
		e.Probabilistic = &x
		direct = direct || x.Linked
	}
	switch {
	case direct:
		e.Summary = "linked directly: see the rule or the match weights that link them"
	case e.SameProfile:
		e.Summary = "not linked directly, but both are linked to records of the same profile"
	case r.Match != nil:
		e.Summary = "kept apart: no rule links them and their match probability is below the threshold"
	default:
		e.Summary = "kept apart: no rule links them"
	}
	return e, nil
}

func (r *Result) index(ref store.RecordRef) int32 {
	i, ok := slices.BinarySearchFunc(r.Records, ref, func(rec Record, ref store.RecordRef) int { return compareRefs(rec.Ref, ref) })
	if !ok {
		return -1
	}
	return int32(i)
}

func (r *Result) explainRule(rule DeterministicRule, a, b int32) RuleExplanation {
	re := RuleExplanation{Rule: rule.Name}
	what := strings.Join(rule.Identifiers, " and ")
	kinds, ok := r.ruleKinds(rule)
	var ka, kb []string
	if ok {
		ka, kb = r.ruleKeys(kinds, a, nil), r.ruleKeys(kinds, b, nil)
	}
	if len(ka) == 0 || len(kb) == 0 {
		re.Reason = fmt.Sprintf("not both records have %s", what)
		return re
	}
	var shared string
	for _, k := range ka {
		if slices.Contains(kb, k) {
			shared = k
			break
		}
	}
	if shared == "" {
		re.Reason = fmt.Sprintf("their normalised %s differ", what)
		return re
	}
	limit := rule.MaxRecordsPerValue
	if limit <= 0 {
		limit = DefaultMaxRecordsPerValue
	}
	n := 0
	var keys []string
	for i := range r.Records {
		keys = r.ruleKeys(kinds, int32(i), keys[:0])
		if slices.Contains(keys, shared) {
			n++
		}
	}
	shown := strings.ReplaceAll(shared, keySeparator, " + ")
	if n > limit {
		re.Reason = fmt.Sprintf("they share %s %q, but %d records do, more than maxRecordsPerValue %d allows", what, shown, n, limit)
		return re
	}
	re.Linked = true
	re.Reason = fmt.Sprintf("they share %s %q", what, shown)
	return re
}
