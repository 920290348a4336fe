package match_test

import "github.com/kizuna-dev/kizuna/pkg/match"

// FEBRLConfig is the one configuration used for every FEBRL accuracy test and for the
// benchmarks on generated FEBRL-like data. It uses only what a manifest can say: blocking
// fields, comparison levels, the threshold and the term-frequency flag.
//
// Each blocking rule is selective enough for a million records (about 6 million candidate
// pairs in all), and each catches duplicates whose errors defeat the others: an identifier,
// the name, the birth date, an address, a surname or first name in a place. A birth date
// alone would make 13 million pairs by itself at that size, so it goes with the state.
// Levenshtein suits the digit strings, where a typo is a substituted digit and Jaro-Winkler's
// prefix bonus means nothing; Jaro-Winkler suits the typed text.
func FEBRLConfig() match.Config {
	exact := match.Level{Type: match.LevelExact}
	jw := func(t float64) match.Level { return match.Level{Type: match.LevelJaroWinkler, Threshold: t} }
	lev := func(d int) match.Level { return match.Level{Type: match.LevelLevenshtein, MaxDistance: d} }
	return match.Config{
		Blocking: []match.BlockingRule{
			{Name: "soc-sec-id", Fields: []string{"soc_sec_id"}},
			{Name: "name", Fields: []string{"given_name", "surname"}},
			{Name: "dob-state", Fields: []string{"date_of_birth", "state"}},
			{Name: "address-postcode", Fields: []string{"address_1", "postcode"}},
			{Name: "surname-postcode", Fields: []string{"surname", "postcode"}},
			{Name: "address-suburb", Fields: []string{"address_1", "suburb"}},
			{Name: "given-suburb", Fields: []string{"given_name", "suburb"}},
		},
		Comparisons: []match.Comparison{
			{Name: "given-name", Field: "given_name", Levels: match.DefaultLevels()},
			{Name: "surname", Field: "surname", Levels: match.DefaultLevels()},
			{Name: "street-number", Field: "street_number", Levels: []match.Level{exact, lev(1)}},
			{Name: "address-1", Field: "address_1", Levels: []match.Level{exact, jw(0.9), jw(0.8)}},
			{Name: "address-2", Field: "address_2", Levels: []match.Level{exact, jw(0.9), jw(0.8)}},
			{Name: "suburb", Field: "suburb", Levels: []match.Level{exact, jw(0.9), jw(0.8)}},
			{Name: "postcode", Field: "postcode", Levels: []match.Level{exact, lev(1)}},
			{Name: "state", Field: "state", Levels: []match.Level{exact}},
			{Name: "date-of-birth", Field: "date_of_birth", Levels: []match.Level{exact, lev(1), lev(2)}},
			{Name: "soc-sec-id", Field: "soc_sec_id", Levels: []match.Level{exact, lev(1), lev(2)}},
		},
		MatchThreshold: 0.95,
		TermFrequency:  true,
	}
}
