package match

import (
	"math"
)

// Model is a fitted Fellegi-Sunter model: a pair's match weight is PriorWeight plus, per
// comparison, the Weight of the level its values reach (0 for null), plus, with term
// frequencies, the adjustment of an exactly agreed value, plus the Dependence adjustment of
// comparisons agreeing together. Its probability is 2^w / (1 + 2^w). A Model is read-only
// once Link returns it, and safe for concurrent use.
type Model struct {
	// Lambda is the prior probability that two records drawn at random match.
	Lambda float64
	// PriorWeight is log2(Lambda / (1 - Lambda)).
	PriorWeight    float64
	MatchThreshold float64
	Comparisons    []ComparisonModel
	Blocking       []BlockingRule
	// Rules gives, per blocking rule, the share of matches EM found among its pairs.
	Rules []RuleModel
	// TermFrequency says whether exact-level weights are adjusted; TF then holds the tables,
	// by field.
	TermFrequency bool
	TF            map[string]*TFTable
	// Dependence lists the groups of comparisons that agree together too often among
	// non-matches to count as independent evidence (suburb, postcode and state), with the
	// adjustments of their joint agreement.
	Dependence []DependenceGroup
	// Warnings note what could not be estimated, such as a comparison whose field every
	// blocking rule fixes.
	Warnings []string

	skipped []map[string]int // per rule: joined keys of skipped groups → size
	dep     *dependence
}

// ComparisonModel is one comparison's parameters.
type ComparisonModel struct {
	Name, Field string
	// Levels are the configured levels followed by "else".
	Levels []LevelModel
	// Estimated is false when every blocking rule includes the comparison's field, so no
	// EM session could learn its m, which keeps its starting values.
	Estimated bool
}

// LevelModel is one level's parameters.
type LevelModel struct {
	// Label describes the level in words: "exact match", "Jaro-Winkler ≥ 0.92", "else".
	Label string
	// Level is the configured level; its Type is empty for "else".
	Level Level
	// M and U are the level's probability among matching and non-matching pairs.
	M, U float64
	// Weight is log2(M/U).
	Weight float64
}

// RuleModel is what EM found for one blocking rule.
type RuleModel struct {
	Name string
	// MatchShare is the estimated share of matches among the rule's pairs.
	MatchShare float64
}

// elseLabel and nullLabel name the implicit levels.
const (
	elseLabel = "else (no level matched)"
	nullLabel = "null (a value is missing)"
)

func newModel(cfg *Config, comps []*comparer, m, u [][]float64, fit *emFit, lambda float64) *Model {
	md := &Model{
		Lambda: lambda, PriorWeight: priorLog2(lambda), MatchThreshold: cfg.MatchThreshold,
		Blocking: cfg.Blocking, TermFrequency: cfg.TermFrequency,
	}
	for c, cp := range comps {
		cm := ComparisonModel{Name: cp.Name, Field: cp.Field, Estimated: fit.estimated[c]}
		for l := range m[c] {
			lm := LevelModel{Label: elseLabel, M: m[c][l], U: u[c][l], Weight: math.Log2(m[c][l] / u[c][l])}
			if l < len(cp.Levels) {
				lm.Level = cp.Levels[l]
				lm.Label = cp.Levels[l].String()
			}
			cm.Levels = append(cm.Levels, lm)
		}
		if !cm.Estimated {
			md.Warnings = append(md.Warnings, "comparison "+cp.Name+": every blocking rule includes field "+
				cp.Field+", so its m probabilities were not estimated and keep their starting values")
		}
		md.Comparisons = append(md.Comparisons, cm)
	}
	for r, rule := range cfg.Blocking {
		md.Rules = append(md.Rules, RuleModel{Name: rule.Name, MatchShare: fit.ruleLambda[r]})
	}
	return md
}

// Probability turns a match weight into a match probability.
func Probability(weight float64) float64 { return probability(weight) }

// thresholdWeight is the smallest weight whose probability reaches the threshold.
func (md *Model) thresholdWeight() float64 {
	t := md.MatchThreshold
	return math.Log2(t / (1 - t))
}

// tfApplies says whether comparison c's level l gets a term-frequency adjustment.
func (md *Model) tfApplies(c, l int) bool {
	cm := &md.Comparisons[c]
	return md.TermFrequency && l < len(cm.Levels)-1 && cm.Levels[l].Level.Type == LevelExact && md.TF[cm.Field] != nil
}
