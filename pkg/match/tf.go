package match

import "math"

// Term-frequency adjustment. Two records agreeing on "smith" are weaker evidence than two
// agreeing on "zylberstein". With p_v the share of records holding value v, a matching pair
// shows v with probability p_v and a non-matching pair with probability p_v² (independent
// draws), against Σ p_w² for agreeing on any value. Agreement on v therefore has the Bayes
// factor m·p_v / (u·p_v²/Σ p_w²) = (m/u)·(Σ p_w² / p_v): the comparison's exact-level weight
// plus log2(Σ p_w² / p_v).
//
// Splink adds log2(u/p_v) instead, which is the same when u = Σ p_w². Using Σ p_w² keeps the
// adjustment centred on the average value even where u is not Σ p_w²: for a near-unique
// identifier, u is corrected for the true matches among random pairs (correctU) and is far
// below Σ p_w², and Splink's adjustment would then take back most of the identifier's weight.

// TFTable holds a field's value frequencies.
type TFTable struct {
	Field string
	// Records with a value.
	Records int
	// SumSquares is Σ p², p each distinct value's share of Records: the chance that two
	// random records agree.
	SumSquares float64
	index      map[string]uint32
	counts     []int32
	adjust     []float64 // by value id
}

func newTFTable(col *column) *TFTable {
	t := &TFTable{Field: col.name, Records: col.nonNull, index: col.index, counts: col.counts}
	if col.nonNull == 0 {
		return t
	}
	n := float64(col.nonNull)
	for _, c := range col.counts[1:] {
		p := float64(c) / n
		t.SumSquares += p * p
	}
	t.adjust = make([]float64, len(col.counts))
	for id, c := range col.counts[1:] {
		t.adjust[id+1] = math.Log2(t.SumSquares * n / float64(c))
	}
	return t
}

// Frequency is v's share of the records with a value; values never seen count as seen once.
func (t *TFTable) Frequency(v string) float64 {
	if t.Records == 0 {
		return 0
	}
	c := int32(1)
	if id, ok := t.index[v]; ok {
		c = max(t.counts[id], 1)
	}
	return float64(c) / float64(t.Records)
}

// Adjustment is the weight added to exact agreement on v: log2(SumSquares / Frequency(v)).
func (t *TFTable) Adjustment(v string) float64 {
	f := t.Frequency(v)
	if f == 0 || t.SumSquares == 0 {
		return 0
	}
	return math.Log2(t.SumSquares / f)
}

// maxAdjustment bounds the adjustment of any value at least two records share (agreement
// needs two), to skip pairs that cannot reach the threshold.
func (t *TFTable) maxAdjustment() float64 {
	best := math.Inf(-1)
	for id, c := range t.counts {
		if c >= 2 {
			best = max(best, t.adjust[id])
		}
	}
	if math.IsInf(best, -1) {
		return 0
	}
	return best
}
