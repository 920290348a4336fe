package match_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/match"
)

// The acceptance bars: FEBRL, unsupervised, one configuration (FEBRLConfig) for all cases,
// pairwise precision and recall of the clustering that union-find makes of the links.
func TestFEBRLAccuracy(t *testing.T) {
	ds1 := loadFEBRL(t, "dataset1.csv")
	ds2 := loadFEBRL(t, "dataset2.csv")
	// dataset1 split into its originals (a) and duplicates (b), linked as one dataset.
	var a, b []int
	for i, id := range ds1.ids {
		if strings.HasSuffix(id, "-org") {
			a = append(a, i)
		} else {
			b = append(b, i)
		}
	}
	ab := ds1.subset(append(a, b...))
	for _, tc := range []struct {
		name string
		data *febrl
		bar  float64
	}{
		{"dataset1 dedupe", ds1, 0.95},
		{"dataset2 dedupe", ds2, 0.95},
		{"dataset1 a+b linked as one", ab, 0.98},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := match.Link(context.Background(), tc.data.data, FEBRLConfig())
			if err != nil {
				t.Fatal(err)
			}
			s := pairScores(match.Cluster(tc.data.data.N, res.Links), tc.data.entity)
			t.Logf("precision %.4f recall %.4f F1 %.4f (%d of %d true pairs, %d predicted); %d candidate pairs, %d links, EM %d iterations, λ=%.3g",
				s.Precision, s.Recall, s.F1, s.TP, s.True, s.Predicted, res.CandidatePairs, len(res.Links), res.Iterations, res.Model.Lambda)
			if s.F1 < tc.bar {
				t.Errorf("F1 %.4f is below the bar %.2f", s.F1, tc.bar)
			}
			for _, g := range res.Model.Dependence {
				t.Logf("dependence group %v", g.Comparisons)
			}
			if !res.Converged {
				t.Errorf("EM did not converge in %d iterations", res.Iterations)
			}
		})
	}
}
