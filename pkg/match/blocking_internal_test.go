package match

import (
	"math/rand/v2"
	"testing"
)

// ruleKeys must give equal keys exactly to records equal, and non-null, on every field.
func TestRuleKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const n = 5000
	fields := map[string][]string{"a": make([]string, n), "b": make([]string, n), "c": make([]string, n)}
	for i := range n {
		for f, vals := range fields {
			if rng.IntN(10) > 0 {
				vals[i] = f + string(rune('0'+rng.IntN(6)))
			}
		}
	}
	cols := map[string]*column{}
	for f, vals := range fields {
		cols[f] = encodeColumn(f, vals, fieldNeeds{})
	}
	keys, nkeys := ruleKeys(BlockingRule{Name: "r", Fields: []string{"a", "b", "c"}}, cols)
	seen := map[uint32]string{}
	byValue := map[string]uint32{}
	for i := range n {
		a, b, c := fields["a"][i], fields["b"][i], fields["c"][i]
		if a == "" || b == "" || c == "" {
			if keys[i] != 0 {
				t.Fatalf("record %d has a null field but key %d", i, keys[i])
			}
			continue
		}
		v := a + "|" + b + "|" + c
		if keys[i] == 0 || int(keys[i]) > nkeys {
			t.Fatalf("record %d: key %d out of 1..%d", i, keys[i], nkeys)
		}
		if prev, ok := seen[keys[i]]; ok && prev != v {
			t.Fatalf("key %d is shared by %s and %s", keys[i], prev, v)
		}
		if prev, ok := byValue[v]; ok && prev != keys[i] {
			t.Fatalf("%s has keys %d and %d", v, prev, keys[i])
		}
		seen[keys[i]], byValue[v] = v, keys[i]
	}
	if len(seen) != nkeys {
		t.Errorf("%d distinct keys used, %d reported", len(seen), nkeys)
	}
}
