package match

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestJaroWinklerKnownValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64 // rounded to 3 decimals
	}{
		{"MARTHA", "MARHTA", 0.961},
		{"DWAYNE", "DUANE", 0.840},
		{"DIXON", "DICKSONX", 0.813},
		{"JELLYFISH", "SMELLYFISH", 0.896},
		{"CRATE", "TRACE", 0.733},
		{"JOHNATHAN", "JONATHAN", 0.904},
		{"JON", "JAN", 0.800},
		{"abc", "abc", 1},
		{"", "", 1},
		{"abc", "", 0},
		{"abc", "xyz", 0},
		{"a", "a", 1},
		{"ab", "ba", 0}, // one-character window: no matches at distance 1
		{"MÜLLER", "MULLER", 0.900},
		{"ÉMILIE", "EMILIE", 0.889},
		{"東京都", "東京", 0.911},
	} {
		got := JaroWinkler(tc.a, tc.b)
		if math.Abs(got-tc.want) > 0.0005 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.3f", tc.a, tc.b, got, tc.want)
		}
		if back := JaroWinkler(tc.b, tc.a); back != got {
			t.Errorf("JaroWinkler is not symmetric on %q, %q: %v and %v", tc.a, tc.b, got, back)
		}
	}
}

func TestJaroKnownValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"MARTHA", "MARHTA", 0.944},
		{"DWAYNE", "DUANE", 0.822},
		{"DIXON", "DICKSONX", 0.767},
	} {
		if got := Jaro(tc.a, tc.b); math.Abs(got-tc.want) > 0.0005 {
			t.Errorf("Jaro(%q, %q) = %.4f, want %.3f", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestLevenshteinKnownValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"saturday", "sunday", 3},
		{"", "abc", 3},
		{"abc", "", 3},
		{"abc", "abc", 0},
		{"19081209", "19081290", 2},
		{"4817613", "4816613", 1},
		{"gumbo", "gambol", 2},
		{"café", "cafe", 1},
		{"東京都", "京都", 1},
	} {
		if got := Levenshtein(tc.a, tc.b); got != tc.want {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// The bounded, banded Levenshtein must agree with the plain dynamic programme whenever the
// distance is within the bound, and report bound+1 otherwise.
func TestLevenshteinBoundedMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s scratch
	word := func() string {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = "abcde"[rng.IntN(5)]
		}
		return string(b)
	}
	for range 20000 {
		a, b := word(), word()
		full := levenshteinFull([]byte(a), []byte(b))
		for k := range 5 {
			got := s.levenshtein(a, b, true, k)
			want := min(full, k+1)
			if got != want {
				t.Fatalf("levenshtein(%q, %q, bound %d) = %d, want %d", a, b, k, got, want)
			}
		}
	}
}

func levenshteinFull(a, b []byte) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// The bit-parallel ASCII Jaro, the rune version with masks and the long-string version with
// flags must agree exactly.
func TestJaroImplementationsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s scratch
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdef"[rng.IntN(6)]
		}
		return string(b)
	}
	for range 20000 {
		a, b := word(rng.IntN(20)), word(rng.IntN(20))
		ascii := jaroASCII([]byte(a), []byte(b), &s.pos)
		runes := jaro([]rune(a), []rune(b), &s)
		wa, wb := []rune(a), []rune(b)
		m, tr := jaroFlags(shorter(wa, wb), longer(wa, wb), max(max(len(a), len(b))/2-1, 0), &s)
		flags := 0.0
		if m > 0 {
			fm := float64(m)
			flags = (fm/float64(min(len(a), len(b))) + fm/float64(max(len(a), len(b))) + (fm-float64(tr/2))/fm) / 3
		} else if len(a) == 0 && len(b) == 0 {
			flags = 1
		}
		if ascii != runes || runes != flags {
			t.Fatalf("jaro(%q, %q): ascii %v, runes %v, flags %v", a, b, ascii, runes, flags)
		}
	}
	for _, p := range s.pos {
		if p != 0 {
			t.Fatal("jaroASCII left its position table dirty")
		}
	}
}

func shorter(a, b []rune) []rune {
	if len(a) > len(b) {
		return b
	}
	return a
}

func longer(a, b []rune) []rune {
	if len(a) > len(b) {
		return a
	}
	return b
}

func TestLongStrings(t *testing.T) {
	a := "the quick brown fox jumps over the lazy dog and keeps running far away"
	b := "the quick brown fox jumped over the lazy dog and kept running far away"
	if len(a) <= 64 {
		t.Fatal("test strings must exceed 64 bytes")
	}
	if got := JaroWinkler(a, b); got < 0.9 || got > 1 {
		t.Errorf("JaroWinkler of long near-equal strings = %v", got)
	}
	if got := Levenshtein(a, b); got != 4 {
		t.Errorf("Levenshtein = %d, want 4", got)
	}
}

func TestSimilarityDoesNotAllocate(t *testing.T) {
	var s scratch
	s.jaroWinkler("jonathan", "johnathan", true)
	s.levenshtein("19081209", "19081290", true, 2)
	s.jaroWinkler("müller", "mueller", false)
	s.levenshtein("müller", "mueller", false, 2)
	allocs := testing.AllocsPerRun(100, func() {
		s.jaroWinkler("jonathan", "johnathan", true)
		s.levenshtein("19081209", "19081290", true, 2)
		s.jaroWinkler("müller", "mueller", false)
		s.levenshtein("müller", "mueller", false, 2)
	})
	if allocs != 0 {
		t.Errorf("similarity functions allocate %v times per call", allocs)
	}
}

func BenchmarkJaroWinklerASCII(b *testing.B) {
	var s scratch
	for b.Loop() {
		s.jaroWinkler("catherine", "kathryn", true)
	}
}

func BenchmarkLevenshteinASCII(b *testing.B) {
	var s scratch
	for b.Loop() {
		s.levenshtein("19081209", "19180209", true, 2)
	}
}

// The cheap bounds must never rule out a pair whose real similarity reaches the threshold.
func TestSimilarityBoundsAreSafe(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	word := func() string {
		b := make([]byte, 1+rng.IntN(10))
		for i := range b {
			b[i] = "abcdefg -1"[rng.IntN(10)]
		}
		return string(b)
	}
	var s scratch
	for range 50000 {
		a, b := word(), word()
		sa, sb := charSig(a), charSig(b)
		if jw, bound := JaroWinkler(a, b), winklerBound(jaroBound(len(a), len(b), sa, sb), prefixOf(a, b)); jw > bound+1e-12 {
			t.Fatalf("JaroWinkler(%q, %q) = %v exceeds its bound %v", a, b, jw, bound)
		}
		if want, got := prefixOf(a, b), commonPrefix(cellOf(a), cellOf(b)); got != want {
			t.Fatalf("commonPrefix(%q, %q) = %d, want %d", a, b, got, want)
		}
		for _, th := range []float64{0.7, 0.8, 0.9} {
			if jw := JaroWinkler(a, b); jw >= th && winklerBound(jaroBound(len(a), len(b), sa, sb), 4) < th {
				t.Fatalf("JaroWinkler(%q, %q) = %v but the bound rules out %v", a, b, jw, th)
			}
		}
		col := encodeColumn("f", []string{a, b}, fieldNeeds{})
		cp := newComparer(Comparison{Name: "c", Field: "f", Levels: []Level{{Type: LevelLevenshtein, MaxDistance: 2}}}, col)
		if got, want := cp.levenshtein(col.cell(col.ids[0]), col.cell(col.ids[1]), &s), min(Levenshtein(a, b), 3); got != want {
			t.Fatalf("bounded levenshtein(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}

func prefixOf(a, b string) int {
	p := 0
	for p < 4 && p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	return p
}

func cellOf(s string) cell {
	col := encodeColumn("f", []string{s}, fieldNeeds{})
	return col.cell(col.ids[0])
}

// Comparing through cells (short values unpacked from them, long ones read) must give the
// same levels as the plain functions.
func TestComparerMatchesPlainFunctions(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	word := func() string {
		n := rng.IntN(14)
		if rng.IntN(20) == 0 {
			n = 60 + rng.IntN(20) // around the 64-byte limit of the bit-parallel Jaro
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdeé"[rng.IntN(6)]
		}
		return string(b)
	}
	levels := []Level{{Type: LevelJaroWinkler, Threshold: 0.9}, {Type: LevelJaroWinkler, Threshold: 0.75}, {Type: LevelLevenshtein, MaxDistance: 3}}
	var s scratch
	for range 30000 {
		a, b := word(), word()
		col := encodeColumn("f", []string{a, b}, fieldNeeds{})
		cp := newComparer(Comparison{Name: "c", Field: "f", Levels: levels}, col)
		got := cp.level(col.cell(col.ids[0]), col.cell(col.ids[1]), &s)
		want := cp.elseLevel
		switch jw, lev := JaroWinkler(a, b), Levenshtein(a, b); {
		case a == "" || b == "":
			want = cp.nullLevel
		case jw >= 0.9:
			want = 0
		case jw >= 0.75:
			want = 1
		case lev <= 3:
			want = 2
		}
		if got != want {
			t.Fatalf("level(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}
