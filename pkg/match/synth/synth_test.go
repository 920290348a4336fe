package synth

import (
	"reflect"
	"testing"
)

func TestGenerateDeterministic(t *testing.T) {
	a := Generate(Config{Records: 3000, Seed: 7})
	b := Generate(Config{Records: 3000, Seed: 7})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different data")
	}
	c := Generate(Config{Records: 3000, Seed: 8})
	if reflect.DeepEqual(a.Fields["surname"], c.Fields["surname"]) {
		t.Fatal("different seeds gave the same data")
	}
}

func TestGenerateShape(t *testing.T) {
	d := Generate(Config{Records: 10_000, Seed: 1})
	if d.N != 10_000 || d.Originals != 8000 || d.Duplicates != 2000 {
		t.Fatalf("N %d, originals %d, duplicates %d", d.N, d.Originals, d.Duplicates)
	}
	for _, f := range Fields {
		if len(d.Fields[f]) != d.N {
			t.Fatalf("field %s has %d values", f, len(d.Fields[f]))
		}
	}
	perEntity := map[int32]int{}
	for _, e := range d.Entity {
		perEntity[e]++
	}
	if len(perEntity) != d.Originals {
		t.Errorf("%d entities, want %d", len(perEntity), d.Originals)
	}
	for e, n := range perEntity {
		if n > 6 {
			t.Errorf("entity %d has %d records, more than an original and 5 duplicates", e, n)
		}
	}
	// Duplicates differ from their original, but not beyond recognition: most fields agree.
	first := map[int32]int{}
	differing, agreeing, total := 0, 0, 0
	for i, e := range d.Entity {
		j, ok := first[e]
		if !ok {
			first[e] = i
			continue
		}
		diff := 0
		for _, f := range Fields {
			total++
			if d.Fields[f][i] != d.Fields[f][j] {
				diff++
			} else {
				agreeing++
			}
		}
		if diff > 0 {
			differing++
		}
	}
	if differing == 0 || float64(agreeing)/float64(total) < 0.6 {
		t.Errorf("duplicates: %d differ from their first record; %d of %d fields agree", differing, agreeing, total)
	}
	// Locality fields agree with each other: a suburb has one postcode and state, but for
	// the typos of duplicates.
	loc := map[string]map[string]bool{}
	for i := range d.N {
		s := d.Fields["suburb"][i]
		if loc[s] == nil {
			loc[s] = map[string]bool{}
		}
		loc[s][d.Fields["postcode"][i]+" "+d.Fields["state"][i]] = true
	}
	single := 0
	for _, places := range loc {
		if len(places) == 1 {
			single++
		}
	}
	if float64(single) < 0.8*float64(len(loc)) {
		t.Errorf("only %d of %d suburbs have one postcode and state", single, len(loc))
	}
}

func TestTypo(t *testing.T) {
	for _, s := range []string{"a", "ab", "hello world", "19700101"} {
		changed := 0
		for seed := range uint64(50) {
			rng := newRand(seed)
			if typo(rng, s, false) != s {
				changed++
			}
		}
		if changed == 0 {
			t.Errorf("typo never changed %q", s)
		}
	}
	if got := typo(newRand(1), "", false); got != "" {
		t.Errorf("typo of an empty value = %q", got)
	}
}
