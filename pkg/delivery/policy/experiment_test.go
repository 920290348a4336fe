package policy

import (
	"fmt"
	"math"
	"slices"
	"testing"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

func winBack(holdoutPercent int32) *cdpv1alpha1.Experiment {
	return &cdpv1alpha1.Experiment{
		Variants:       []cdpv1alpha1.Variant{{Name: "control", Weight: 50}, {Name: "discount", Weight: 30}, {Name: "points", Weight: 20}},
		HoldoutPercent: holdoutPercent,
	}
}

func profileIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%07d", i+1)
	}
	return ids
}

// twoSidedZ is the standard normal quantile that leaves (1-level)/2 in each tail.
func twoSidedZ(level float64) float64 {
	return math.Sqrt2 * math.Erfinv(level)
}

// confidence is that of every statistical bound below: a sound hash misses one by chance once in
// 10,000 draws, and since the assignment has no randomness, the outcome never changes between runs.
const confidence = 0.9999

// withinBinomial says whether count successes in n trials fit a probability p at the confidence,
// by the normal approximation (n·p is in the thousands here).
func withinBinomial(count, n int, p float64) (ok bool, low, high float64) {
	mean := float64(n) * p
	spread := twoSidedZ(confidence) * math.Sqrt(float64(n)*p*(1-p))
	return math.Abs(float64(count)-mean) <= spread, mean - spread, mean + spread
}

// TestAssignIsPinned fixes assignments computed outside Go from the documented construction
// (SHA-256 of "campaign\x00profile", holdout from bytes 0–7, variant from bytes 8–15), so that a
// change of hash, byte order or reduction, which would move running experiments' recipients,
// fails here.
func TestAssignIsPinned(t *testing.T) {
	tests := []struct {
		profile string
		variant string
		holdout bool
	}{
		{"p-0000001", "points", false},
		{"p-0000002", "control", false},
		{"p-0000003", "control", false},
		{"p-0000004", "points", false},
		{"p-0000005", "discount", false},
		{"p-0000015", "", true},
		{"山田-42", "discount", false},
	}
	for _, tt := range tests {
		if variant, holdout := Assign("win-back", tt.profile, winBack(10)); variant != tt.variant || holdout != tt.holdout {
			t.Errorf("Assign(win-back, %s) = %q, %v; want %q, %v", tt.profile, variant, holdout, tt.variant, tt.holdout)
		}
	}
	shards := map[string]int{"p-0000001": 1, "p-0000002": 7, "p-0000003": 13, "山田-42": 5}
	for profile, want := range shards {
		if got := Shard(profile, 16); got != want {
			t.Errorf("Shard(%s, 16) = %d, want %d", profile, got, want)
		}
	}
}

// TestAssignShares assigns 100,000 profiles and requires the holdout's share, and each variant's
// share of the others, to lie within a 99.99% binomial interval around the configured share.
func TestAssignShares(t *testing.T) {
	ids := profileIDs(100_000)
	exp := winBack(10)
	counts := map[string]int{}
	held := 0
	for _, id := range ids {
		variant, holdout := Assign("win-back", id, exp)
		if holdout {
			if variant != "" {
				t.Fatalf("Assign(%s) = %q in the holdout group, want no variant", id, variant)
			}
			held++
			continue
		}
		counts[variant]++
	}
	if ok, low, high := withinBinomial(held, len(ids), 0.10); !ok {
		t.Errorf("%d of %d profiles held out, want %.0f to %.0f for 10%%", held, len(ids), low, high)
	}
	targeted := len(ids) - held
	for _, v := range exp.Variants {
		share := float64(v.Weight) / 100
		if ok, low, high := withinBinomial(counts[v.Name], targeted, share); !ok {
			t.Errorf("variant %s has %d of %d targeted profiles, want %.0f to %.0f for %d%%", v.Name, counts[v.Name], targeted, low, high, v.Weight)
		}
	}
	if len(counts) != len(exp.Variants) {
		t.Errorf("profiles went to %v, want only the experiment's variants", counts)
	}
}

// TestAssignIsStable requires the same answer on a second pass, in reverse order, and for another
// experiment object with equal content: nothing but the campaign and profile may matter.
func TestAssignIsStable(t *testing.T) {
	ids := profileIDs(20_000)
	type assignment struct {
		variant string
		holdout bool
	}
	first := make([]assignment, len(ids))
	for i, id := range ids {
		first[i].variant, first[i].holdout = Assign("win-back", id, winBack(10))
	}
	exp := winBack(10)
	for i, id := range ids {
		if v, h := Assign("win-back", id, exp); (assignment{v, h}) != first[i] {
			t.Fatalf("second pass: Assign(%s) = %q, %v; first %+v", id, v, h, first[i])
		}
	}
	for i := len(ids) - 1; i >= 0; i-- {
		if v, h := Assign("win-back", ids[i], exp); (assignment{v, h}) != first[i] {
			t.Fatalf("reverse pass: Assign(%s) = %q, %v; first %+v", ids[i], v, h, first[i])
		}
	}
	moved := 0
	for i, id := range ids {
		if v, h := Assign("birthday", id, exp); (assignment{v, h}) != first[i] {
			moved++
		}
	}
	// Another campaign draws anew: about 1 - (0.1² + 0.9²·(0.5² + 0.3² + 0.2²)) = 69% differ.
	if moved < len(ids)/2 {
		t.Errorf("only %d of %d profiles differ between two campaigns: the campaign must enter the hash", moved, len(ids))
	}
}

// TestAssignHoldoutChangesKeepVariants changes an experiment's holdout: profiles held out at 5%
// stay held out at 10%, and no profile moves from one variant to another.
func TestAssignHoldoutChangesKeepVariants(t *testing.T) {
	for _, id := range profileIDs(20_000) {
		v0, h0 := Assign("win-back", id, winBack(0))
		v5, h5 := Assign("win-back", id, winBack(5))
		v10, h10 := Assign("win-back", id, winBack(10))
		if h0 {
			t.Fatalf("Assign(%s) held a profile out of an experiment without a holdout", id)
		}
		if h5 && !h10 {
			t.Fatalf("Assign(%s): held out at 5%% but not at 10%%", id)
		}
		if (!h5 && v5 != v0) || (!h10 && v10 != v0) {
			t.Fatalf("Assign(%s): variant %q without a holdout, %q at 5%%, %q at 10%%", id, v0, v5, v10)
		}
	}
}

func TestAssignEdges(t *testing.T) {
	tests := []struct {
		name string
		exp  *cdpv1alpha1.Experiment
		// allowed variants, "" for none
		want    []string
		holdout bool
	}{
		{name: "no experiment", exp: nil, want: []string{""}},
		{name: "everyone held out", exp: &cdpv1alpha1.Experiment{Variants: winBack(0).Variants, HoldoutPercent: 100}, want: []string{""}, holdout: true},
		{name: "no variants", exp: &cdpv1alpha1.Experiment{}, want: []string{""}},
		{name: "a variant without weight", exp: &cdpv1alpha1.Experiment{Variants: []cdpv1alpha1.Variant{{Name: "none", Weight: 0}, {Name: "all", Weight: 3}}}, want: []string{"all"}},
		{name: "a negative weight counts as none", exp: &cdpv1alpha1.Experiment{Variants: []cdpv1alpha1.Variant{{Name: "all", Weight: 5}, {Name: "none", Weight: -5}}}, want: []string{"all"}},
		{name: "a negative holdout holds no one", exp: &cdpv1alpha1.Experiment{Variants: []cdpv1alpha1.Variant{{Name: "all", Weight: 100}}, HoldoutPercent: -10}, want: []string{"all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, id := range profileIDs(1000) {
				variant, holdout := Assign("c", id, tt.exp)
				if !slices.Contains(tt.want, variant) || holdout != tt.holdout {
					t.Fatalf("Assign(%s) = %q, %v; want one of %q, %v", id, variant, holdout, tt.want, tt.holdout)
				}
			}
		})
	}
}

// TestAssignUsesTheWeightsWhateverTheirSum splits by weights 1:1:2, which sum to 4, not 100.
func TestAssignUsesTheWeightsWhateverTheirSum(t *testing.T) {
	exp := &cdpv1alpha1.Experiment{Variants: []cdpv1alpha1.Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}, {Name: "c", Weight: 2}}}
	ids := profileIDs(40_000)
	counts := map[string]int{}
	for _, id := range ids {
		v, _ := Assign("split", id, exp)
		counts[v]++
	}
	for name, share := range map[string]float64{"a": 0.25, "b": 0.25, "c": 0.5} {
		if ok, low, high := withinBinomial(counts[name], len(ids), share); !ok {
			t.Errorf("variant %s has %d of %d profiles, want %.0f to %.0f", name, counts[name], len(ids), low, high)
		}
	}
}

// TestShardIsUniformAndIndependentOfAssign checks that 100,000 profiles fill 16 shards evenly,
// and that a profile's shard says nothing about its variant: a chi-square test of independence
// over the table of shards by arm (holdout or variant), against its 99.99% critical value.
func TestShardIsUniformAndIndependentOfAssign(t *testing.T) {
	const shards = 16
	ids := profileIDs(100_000)
	exp := winBack(10)
	arms := []string{"holdout", "control", "discount", "points"}
	table := make([][]int, shards)
	for i := range table {
		table[i] = make([]int, len(arms))
	}
	for _, id := range ids {
		s := Shard(id, shards)
		if s < 0 || s >= shards {
			t.Fatalf("Shard(%s, %d) = %d, outside [0, %d)", id, shards, s, shards)
		}
		variant, holdout := Assign("win-back", id, exp)
		arm := "holdout"
		if !holdout {
			arm = variant
		}
		table[s][slices.Index(arms, arm)]++
	}
	rows, columns := make([]int, shards), make([]int, len(arms))
	for s, row := range table {
		for a, n := range row {
			rows[s] += n
			columns[a] += n
		}
	}
	for s, n := range rows {
		if ok, low, high := withinBinomial(n, len(ids), 1.0/shards); !ok {
			t.Errorf("shard %d has %d of %d profiles, want %.0f to %.0f", s, n, len(ids), low, high)
		}
	}
	chiSquare := 0.0
	for s, row := range table {
		for a, observed := range row {
			expected := float64(rows[s]) * float64(columns[a]) / float64(len(ids))
			chiSquare += (float64(observed) - expected) * (float64(observed) - expected) / expected
		}
	}
	degrees := float64((shards - 1) * (len(arms) - 1))
	// The chi-square quantile by the Wilson–Hilferty approximation, accurate to well under 1%
	// at 45 degrees of freedom; the upper tail is one-sided.
	z := twoSidedZ(2*confidence - 1)
	critical := degrees * math.Pow(1-2/(9*degrees)+z*math.Sqrt(2/(9*degrees)), 3)
	if chiSquare > critical {
		t.Errorf("chi-square of shard by arm = %.1f, above the %.2f%% critical value %.1f for %.0f degrees of freedom: shards and variants are correlated",
			chiSquare, 100*confidence, critical, degrees)
	}
	t.Logf("chi-square %.1f, critical value %.1f", chiSquare, critical)
}

func TestShardOfOneOrNoShards(t *testing.T) {
	for _, n := range []int{-1, 0, 1} {
		if got := Shard("p-0000001", n); got != 0 {
			t.Errorf("Shard(p-0000001, %d) = %d, want 0", n, got)
		}
	}
}
