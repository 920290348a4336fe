package resolve

import (
	"slices"
	"testing"
)

// Keys whose first hashes collide are told apart by their second: only records whose keys
// agree in both are linked.
func TestLinkGroupsSplitsCollidingHashes(t *testing.T) {
	r := &Result{links: newLinkSet(4)}
	entries := []keyEntry{
		{hash: 7, check: 1, rec: 0},
		{hash: 7, check: 2, rec: 1},
		{hash: 7, check: 1, rec: 2},
		{hash: 7, check: 3, rec: 3},
	}
	r.linkGroups(DeterministicRule{Name: "email", Identifiers: []string{"Email"}}, nil, entries)
	got := r.links.clusters()
	for _, c := range got {
		slices.Sort(c)
	}
	slices.SortFunc(got, func(a, b []int32) int { return int(a[0] - b[0]) })
	want := [][]int32{{0, 2}, {1}, {3}}
	if !slices.EqualFunc(got, want, slices.Equal[[]int32]) {
		t.Fatalf("clusters = %v, want %v", got, want)
	}
	if r.Stats.DeterministicLinks != 1 {
		t.Errorf("DeterministicLinks = %d, want 1", r.Stats.DeterministicLinks)
	}
}
