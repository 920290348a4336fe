package store

import (
	"strconv"
	"testing"
)

func TestKeyFilterNeverForgetsAKey(t *testing.T) {
	f := newKeyFilter()
	const n = 800_000 // past the first two stages
	for i := range n {
		f.add("key-" + strconv.Itoa(i))
	}
	for i := range n {
		if !f.add("key-" + strconv.Itoa(i)) {
			t.Fatalf("key-%d was added but the filter says it was not", i)
		}
	}
	if len(f.stages) < 3 {
		t.Errorf("%d stages for %d keys, want the filter to have grown", len(f.stages), n)
	}
	falsePositives := 0
	for i := range n {
		if f.add("other-" + strconv.Itoa(i)) {
			falsePositives++
		}
	}
	// Each exact check costs a query, and the first one an index on the staging table: most
	// syncs must need none.
	if rate := float64(falsePositives) / n; rate > 1e-4 {
		t.Errorf("%d of %d new keys need an exact check, want under one in ten thousand", falsePositives, n)
	}
}

func TestKeyFilterMemoryIsBounded(t *testing.T) {
	f := newKeyFilter()
	// Grow the stages as a very large sync would, without adding every key.
	for {
		stage, ok := f.nextStage()
		if !ok {
			break
		}
		stage.keys = stage.capacity
		f.stages = append(f.stages, stage)
		if len(f.stages) > 64 {
			t.Fatal("the filter keeps adding stages")
		}
	}
	total := 0
	for _, s := range f.stages {
		total += len(s.blocks) * blockBits
	}
	if total > maxFilterBits || total < maxFilterBits/2 {
		t.Errorf("the filter stopped at %d bits, want at most %d and most of it used", total, maxFilterBits)
	}
	f.add("one more")
	if !f.add("one more") {
		t.Error("a key added to a full filter is forgotten")
	}
}
