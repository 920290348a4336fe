package match_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/match/synth"
)

// people is a small hand-made dataset: 0 and 1 are one person (a typo in the surname), 2 and
// 3 another (a missing date), 4 to 8 strangers sharing a city.
func people() *match.Dataset {
	cols := map[string][]string{
		"given":   {"martha", "martha", "dwayne", "dwayne", "anna", "bob", "carl", "dora", "emil"},
		"surname": {"stewart", "stewrat", "duane", "duane", "smith", "jones", "brown", "white", "green"},
		"dob":     {"19700102", "19700102", "19851230", "", "19500101", "19600101", "19700101", "19800101", "19900101"},
		"city":    {"leeds", "leeds", "york", "york", "hull", "hull", "hull", "hull", "hull"},
	}
	return &match.Dataset{N: 9, Fields: cols}
}

func peopleConfig() match.Config {
	return match.Config{
		Blocking: []match.BlockingRule{
			{Name: "city", Fields: []string{"city"}},
			{Name: "given-dob", Fields: []string{"given", "dob"}},
		},
		Comparisons: []match.Comparison{
			{Name: "given", Field: "given", Levels: match.DefaultLevels()},
			{Name: "surname", Field: "surname", Levels: match.DefaultLevels()},
			{Name: "dob", Field: "dob", Levels: []match.Level{{Type: match.LevelExact}, {Type: match.LevelDateDifference, Within: 400 * 24 * 3600e9}}},
		},
		TermFrequency: true,
	}
}

// Pairs agreeing on several rules are compared once, by the first rule; null keys and groups
// over the size limit make no pairs, and skipped groups are reported.
func TestBlockingDedupesAndCaps(t *testing.T) {
	cfg := peopleConfig()
	cfg.MaxBlockSize = 4
	res, err := match.Link(context.Background(), people(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	city, givenDOB := res.Blocking[0], res.Blocking[1]
	// city: leeds (0,1) and york (2,3); hull has 5 records, over the limit.
	if city.CandidatePairs != 2 || city.Groups != 2 || city.SkippedGroups != 1 || city.SkippedRecords != 5 || city.SkippedPairs != 10 {
		t.Errorf("city rule stats = %+v", city)
	}
	if len(city.LargestSkipped) != 1 || !reflect.DeepEqual(city.LargestSkipped[0], match.SkippedGroup{Key: []string{"hull"}, Records: 5}) {
		t.Errorf("skipped groups = %+v", city.LargestSkipped)
	}
	// given-dob: (0,1) again, already found by city; (2,3) has a null date.
	if givenDOB.Groups != 1 || givenDOB.CandidatePairs != 0 {
		t.Errorf("given-dob rule stats = %+v", givenDOB)
	}
	if res.CandidatePairs != 2 {
		t.Errorf("CandidatePairs = %d, want 2", res.CandidatePairs)
	}
	x := res.Model.Explain(people(), 4, 5)
	if x.Candidate || !strings.Contains(x.Blocking, "maximum block size") {
		t.Errorf("Explain of a skipped group's pair: candidate %v, %q", x.Candidate, x.Blocking)
	}
}

func TestExplain(t *testing.T) {
	d := people()
	res, err := match.Link(context.Background(), d, peopleConfig())
	if err != nil {
		t.Fatal(err)
	}
	x := res.Model.Explain(d, 0, 1)
	if x.BlockingRule != "city" || !x.Candidate {
		t.Errorf("blocking: rule %q, candidate %v", x.BlockingRule, x.Candidate)
	}
	want := []struct{ value, label string }{
		{"martha", "exact match"},
		{"stewart", "Jaro-Winkler ≥ 0.92"},
		{"19700102", "exact match"},
	}
	sum := x.PriorWeight
	for i, c := range x.Comparisons {
		if c.ValueA != want[i].value || c.LevelLabel != want[i].label {
			t.Errorf("comparison %s: %q at %q, want %q at %q", c.Name, c.ValueA, c.LevelLabel, want[i].value, want[i].label)
		}
		lm := res.Model.Comparisons[i].Levels[c.Level]
		if math.Abs(c.Weight-c.TFAdjustment-math.Log2(lm.M/lm.U)) > 1e-9 {
			t.Errorf("comparison %s: weight %v is not log2(m/u) %v plus TF %v", c.Name, c.Weight, math.Log2(lm.M/lm.U), c.TFAdjustment)
		}
		sum += c.Weight
	}
	if x.Comparisons[0].TFAdjustment == 0 {
		t.Error("exact agreement with term frequencies on has no adjustment")
	}
	if x.Comparisons[1].TFAdjustment != 0 {
		t.Error("a Jaro-Winkler level got a term-frequency adjustment")
	}
	if math.Abs(sum-x.TotalWeight) > 1e-9 || math.Abs(x.Probability-match.Probability(x.TotalWeight)) > 1e-12 {
		t.Errorf("total %v, probability %v do not add up (sum %v)", x.TotalWeight, x.Probability, sum)
	}
	linked := false
	for _, l := range res.Links {
		if l.A == 0 && l.B == 1 {
			linked = true
			if math.Abs(l.Weight-x.TotalWeight) > 1e-9 {
				t.Errorf("Link weight %v, Explain weight %v", l.Weight, x.TotalWeight)
			}
		}
	}
	if linked != x.Linked || x.Linked != (x.Probability >= x.MatchThreshold) {
		t.Errorf("Linked %v, in links %v, probability %v", x.Linked, linked, x.Probability)
	}
	// A null is its own, neutral level.
	y := res.Model.Explain(d, 2, 3)
	if y.Comparisons[2].Level != -1 || y.Comparisons[2].Weight != 0 || !strings.HasPrefix(y.Comparisons[2].LevelLabel, "null") {
		t.Errorf("null comparison explained as %+v", y.Comparisons[2])
	}
	// Records no rule pairs are still scored, and said not to be candidates.
	z := res.Model.Explain(d, 0, 2)
	if z.Candidate || z.Linked || z.BlockingRule != "" || !strings.Contains(z.Blocking, "no blocking rule") {
		t.Errorf("non-candidate explained as %+v", z)
	}
	if s := x.String(); !strings.Contains(s, "Jaro-Winkler ≥ 0.92") || !strings.Contains(s, "prior") {
		t.Errorf("String() lacks the table:\n%s", s)
	}
	t.Log("\n" + x.String())
}

// Results do not depend on the number of workers.
func TestLinkDeterministic(t *testing.T) {
	data := synth.Generate(synth.Config{Records: 20_000, Seed: 3})
	d := &match.Dataset{N: data.N, Fields: data.Fields}
	var first *match.Result
	for _, workers := range []int{1, 2, 5} {
		cfg := FEBRLConfig()
		cfg.Workers = workers
		res, err := match.Link(context.Background(), d, cfg)
		if err != nil {
			t.Fatal(err)
		}
		res.Timings = match.Timings{}
		if first == nil {
			first = res
			continue
		}
		if !reflect.DeepEqual(first.Links, res.Links) || !reflect.DeepEqual(first.Model.Comparisons, res.Model.Comparisons) ||
			first.Model.Lambda != res.Model.Lambda || first.CandidatePairs != res.CandidatePairs {
			t.Fatalf("results with %d workers differ from those with 1", workers)
		}
	}
	// Suburb, postcode and state name one place in the generator: the model must see it.
	if len(first.Model.Dependence) != 1 || !reflect.DeepEqual(first.Model.Dependence[0].Comparisons, []string{"suburb", "postcode", "state"}) {
		t.Errorf("dependence groups = %+v, want suburb, postcode and state", first.Model.Dependence)
	}
	// Explain tells the same weight as Link, dependence adjustments included.
	adjusted := 0
	for _, l := range first.Links {
		x := first.Model.Explain(d, int(l.A), int(l.B))
		if math.Abs(x.TotalWeight-l.Weight) > 1e-9 || !x.Linked {
			t.Fatalf("pair %d-%d: Link weight %v, Explain %v (linked %v)", l.A, l.B, l.Weight, x.TotalWeight, x.Linked)
		}
		if len(x.Dependence) > 0 {
			adjusted++
		}
	}
	if adjusted == 0 {
		t.Error("no link got a dependence adjustment")
	}
	s := pairScores(match.Cluster(d.N, first.Links), data.Entity)
	t.Logf("20,000 generated records: %d pairs, P=%.4f R=%.4f F1=%.4f", first.CandidatePairs, s.Precision, s.Recall, s.F1)
	if s.F1 < 0.97 {
		t.Errorf("F1 on generated data = %.4f", s.F1)
	}
}

func TestLinkCancelled(t *testing.T) {
	data := synth.Generate(synth.Config{Records: 5000, Seed: 4})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := match.Link(ctx, &match.Dataset{N: data.N, Fields: data.Fields}, FEBRLConfig())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Link on a cancelled context returned %v", err)
	}
}

func TestLinkTinyDatasets(t *testing.T) {
	for n := range 3 {
		d := &match.Dataset{N: n, Fields: map[string][]string{"given": make([]string, n), "surname": make([]string, n), "dob": make([]string, n), "city": make([]string, n)}}
		for i := range n {
			d.Fields["city"][i] = "leeds"
			d.Fields["given"][i] = "ann"
		}
		res, err := match.Link(context.Background(), d, peopleConfig())
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if n < 2 && len(res.Links) != 0 {
			t.Errorf("%d records gave links", n)
		}
		if p := res.Model.Lambda; math.IsNaN(p) || p <= 0 || p >= 1 {
			t.Errorf("%d records: λ = %v", n, p)
		}
	}
}

func TestCluster(t *testing.T) {
	links := []match.Pair{{A: 3, B: 5}, {A: 0, B: 5}, {A: 1, B: 2}}
	got := match.Cluster(7, links)
	want := []int32{0, 1, 1, 0, 4, 0, 6}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Cluster = %v, want %v", got, want)
	}
}
