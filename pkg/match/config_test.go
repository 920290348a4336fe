package match_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/match"
)

func TestLinkValidatesConfig(t *testing.T) {
	d := &match.Dataset{N: 2, Fields: map[string][]string{"surname": {"a", "b"}, "city": {"x", "y"}}}
	good := func() match.Config {
		return match.Config{
			Blocking:    []match.BlockingRule{{Name: "city", Fields: []string{"city"}}},
			Comparisons: []match.Comparison{{Name: "surname", Field: "surname", Levels: match.DefaultLevels()}},
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*match.Config)
		data  *match.Dataset
		wants []string // substrings of the error
	}{
		{"unknown comparison field", func(c *match.Config) { c.Comparisons[0].Field = "surnam" }, nil, []string{`comparison "surname"`, `unknown field "surnam"`, `"city", "surname"`}},
		{"unknown blocking field", func(c *match.Config) { c.Blocking[0].Fields = []string{"town"} }, nil, []string{`blocking rule "city"`, `unknown field "town"`}},
		{"no blocking rule", func(c *match.Config) { c.Blocking = nil }, nil, []string{"blocking rule"}},
		{"empty rule", func(c *match.Config) { c.Blocking[0].Fields = nil }, nil, []string{`blocking rule "city" has no fields`}},
		{"no comparison", func(c *match.Config) { c.Comparisons = nil }, nil, []string{"comparison"}},
		{"no levels", func(c *match.Config) { c.Comparisons[0].Levels = nil }, nil, []string{`comparison "surname" has no levels`}},
		{"unknown level type", func(c *match.Config) { c.Comparisons[0].Levels[1].Type = "Soundex" }, nil, []string{`comparison "surname" level 1`, `unknown level type "Soundex"`}},
		{"threshold out of range", func(c *match.Config) { c.Comparisons[0].Levels[1].Threshold = 1.5 }, nil, []string{"Jaro-Winkler threshold 1.5"}},
		{"negative distance", func(c *match.Config) {
			c.Comparisons[0].Levels = []match.Level{{Type: match.LevelLevenshtein, MaxDistance: -1}}
		}, nil, []string{"max distance -1"}},
		{"match threshold", func(c *match.Config) { c.MatchThreshold = 1 }, nil, []string{"match threshold 1"}},
		{"duplicate comparison", func(c *match.Config) { c.Comparisons = append(c.Comparisons, c.Comparisons[0]) }, nil, []string{`comparison name "surname" is used twice`}},
		{"short column", nil, &match.Dataset{N: 3, Fields: d.Fields}, []string{`field "city" has 2 values for 3 records`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			data := d
			if tc.data != nil {
				data = tc.data
			}
			_, err := match.Link(context.Background(), data, cfg)
			if err == nil {
				t.Fatal("Link accepted the configuration")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := match.Link(context.Background(), d, good()); err != nil {
		t.Errorf("valid configuration rejected: %v", err)
	}
}

func TestLevelString(t *testing.T) {
	for _, tc := range []struct {
		l    match.Level
		want string
	}{
		{match.Level{Type: match.LevelExact}, "exact match"},
		{match.Level{Type: match.LevelJaroWinkler, Threshold: 0.92}, "Jaro-Winkler ≥ 0.92"},
		{match.Level{Type: match.LevelLevenshtein, MaxDistance: 2}, "Levenshtein ≤ 2"},
		{match.Level{Type: match.LevelNumericDifference, Tolerance: 2.5}, "numeric difference ≤ 2.5"},
		{match.Level{Type: match.LevelDateDifference, Within: 365 * 24 * 3600e9}, "dates within 365 days"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.l, got, tc.want)
		}
	}
}
