package match_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/match/synth"
)

func TestExploreBlockingRecall(t *testing.T) {
	if os.Getenv("BLOCKREC") == "" {
		t.Skip()
	}
	rules := [][]string{
		{"soc_sec_id"}, {"given_name", "surname"}, {"date_of_birth"}, {"postcode", "street_number"},
		{"surname", "postcode"}, {"street_number", "address_1"}, {"date_of_birth", "state"}, {"date_of_birth", "postcode"},
		{"surname", "date_of_birth"}, {"given_name", "date_of_birth"}, {"address_1", "postcode"}, {"suburb", "postcode"},
		{"given_name", "postcode"}, {"surname", "suburb"}, {"given_name", "suburb"}, {"address_1", "suburb"},
	}
	type ds struct {
		name   string
		fields map[string][]string
		entity []string
	}
	var sets []ds
	for _, f := range []string{"dataset1.csv", "dataset2.csv"} {
		x := loadFEBRL(t, f)
		sets = append(sets, ds{f, x.data.Fields, x.entity})
	}
	g := synth.Generate(synth.Config{Records: 1000000, Seed: 1})
	ent := make([]string, g.N)
	for i, e := range g.Entity {
		ent[i] = fmt.Sprint(e)
	}
	sets = append(sets, ds{"synth1M", g.Fields, ent})
	for _, s := range sets {
		byEnt := map[string][]int{}
		for i, e := range s.entity {
			byEnt[e] = append(byEnt[e], i)
		}
		masks := map[uint32]int{}
		total := 0
		for _, recs := range byEnt {
			for x := range recs {
				for y := x + 1; y < len(recs); y++ {
					var m uint32
					for r, rule := range rules {
						ok := true
						for _, f := range rule {
							a, b := s.fields[f][recs[x]], s.fields[f][recs[y]]
							ok = ok && a != "" && a == b
						}
						if ok {
							m |= 1 << r
						}
					}
					masks[m]++
					total++
				}
			}
		}
		// pair cost per rule
		costs := make([]int64, len(rules))
		for r, rule := range rules {
			groups := map[string]int64{}
			n := len(s.entity)
			for i := range n {
				var k []string
				ok := true
				for _, f := range rule {
					v := s.fields[f][i]
					ok = ok && v != ""
					k = append(k, v)
				}
				if ok {
					groups[strings.Join(k, "|")]++
				}
			}
			for _, c := range groups {
				if c <= 1000 {
					costs[r] += c * (c - 1) / 2
				}
			}
		}
		fmt.Printf("%s: %d true pairs\n", s.name, total)
		for r, rule := range rules {
			alone := 0
			cov := 0
			for m, c := range masks {
				if m&(1<<r) != 0 {
					cov += c
				}
			}
			_ = alone
			fmt.Printf("  rule %2d %-30v covers %.4f pairs %d\n", r, rule, float64(cov)/float64(total), costs[r])
		}
		for _, set := range [][]int{{0, 1, 6, 3, 4, 5}, {0, 1, 6, 3, 4}, {0, 1, 6, 3, 4, 10}, {0, 1, 6, 4, 5}, {0, 1, 6, 4, 10}, {0, 1, 6, 3, 4, 15}, {0, 1, 6, 3, 4, 13}, {0, 1, 6, 3, 4, 7}, {0, 1, 2, 3, 4, 5}} {
			var sm uint32
			for _, r := range set {
				sm |= 1 << r
			}
			cov := 0
			var cost int64
			for m, c := range masks {
				if m&sm != 0 {
					cov += c
				}
			}
			for _, r := range set {
				cost += costs[r]
			}
			fmt.Printf("  set %v recall %.5f missed %d cost<=%d\n", set, float64(cov)/float64(total), total-cov, cost)
		}
	}
}
