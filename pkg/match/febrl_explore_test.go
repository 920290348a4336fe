package match_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/match/synth"
)

func TestExploreFEBRL(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	ds1 := loadFEBRL(t, "dataset1.csv")
	ds2 := loadFEBRL(t, "dataset2.csv")
	var orgs, dups []int
	for i, id := range ds1.ids {
		if len(id) > 4 && id[len(id)-3:] == "org" {
			orgs = append(orgs, i)
		} else {
			dups = append(dups, i)
		}
	}
	ab := ds1.subset(append(orgs, dups...))
	cfg := FEBRLConfig()
	if v := os.Getenv("THRESH"); v != "" {
		cfg.MatchThreshold, _ = strconv.ParseFloat(v, 64)
	}
	cfg.TermFrequency = os.Getenv("NOTF") == ""
	for _, c := range []struct {
		name string
		f    *febrl
	}{{"ds1", ds1}, {"ds2", ds2}, {"ab", ab}} {
		start := time.Now()
		res, err := match.Link(context.Background(), c.f.data, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := pairScores(match.Cluster(c.f.data.N, res.Links), c.f.entity)
		fmt.Printf("%s: P=%.4f R=%.4f F1=%.4f tp=%d pred=%d true=%d cand=%d pats=%d it=%d conv=%v λ=%.3g %v\n", c.name, s.Precision, s.Recall, s.F1, s.TP, s.Predicted, s.True, res.CandidatePairs, res.Patterns, res.Iterations, res.Converged, res.Model.Lambda, time.Since(start))
		if os.Getenv("MISSED") != "" {
			cl := match.Cluster(c.f.data.N, res.Links)
			byEnt := map[string][]int{}
			for i, e := range c.f.entity {
				byEnt[e] = append(byEnt[e], i)
			}
			for _, recs := range byEnt {
				for x := range recs {
					for y := x + 1; y < len(recs); y++ {
						if cl[recs[x]] != cl[recs[y]] {
							fmt.Println(res.Model.Explain(c.f.data, recs[x], recs[y]))
						}
					}
				}
			}
		}
		if os.Getenv("MODEL") != "" {
			for _, r := range res.Model.Rules {
				fmt.Printf("  rule %s share %.4f\n", r.Name, r.MatchShare)
			}
			for _, cm := range res.Model.Comparisons {
				fmt.Printf("  %s:", cm.Name)
				for _, l := range cm.Levels {
					fmt.Printf(" [%s m=%.4f u=%.2g w=%.2f]", l.Label, l.M, l.U, l.Weight)
				}
				fmt.Println()
			}
		}
	}
}

func TestExploreSynth(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SYNTH"))
	if n == 0 {
		t.Skip()
	}
	data := synth.Generate(synth.Config{Records: n, Seed: 1})
	d := &match.Dataset{N: data.N, Fields: data.Fields}
	cfg := FEBRLConfig()
	if v := os.Getenv("THRESH"); v != "" {
		cfg.MatchThreshold, _ = strconv.ParseFloat(v, 64)
	}
	start := time.Now()
	res, err := match.Link(context.Background(), d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := pairScores(match.Cluster(d.N, res.Links), data.Entity)
	fmt.Printf("synth %d: P=%.4f R=%.4f F1=%.4f tp=%d pred=%d true=%d cand=%d pats=%d it=%d conv=%v λ=%.3g links=%d %v\n", n, s.Precision, s.Recall, s.F1, s.TP, s.Predicted, s.True, res.CandidatePairs, res.Patterns, res.Iterations, res.Converged, res.Model.Lambda, len(res.Links), time.Since(start))
	printModel(res)
}

func printModel(res *match.Result) {
	for i, r := range res.Model.Rules {
		fmt.Printf("  rule %s share %.4f pairs %d groups %d skipped %d\n", r.Name, r.MatchShare, res.Blocking[i].CandidatePairs, res.Blocking[i].Groups, res.Blocking[i].SkippedGroups)
	}
	for _, cm := range res.Model.Comparisons {
		fmt.Printf("  %s:", cm.Name)
		for _, l := range cm.Levels {
			fmt.Printf(" [%s m=%.4f u=%.2g w=%.2f]", l.Label, l.M, l.U, l.Weight)
		}
		fmt.Println()
	}
}
