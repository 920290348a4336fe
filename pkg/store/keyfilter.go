package store

import (
	"hash/maphash"
	"math/bits"
)

// keyFilter answers "was this record key maybe written in this sync?" in bounded memory. A sync
// must refuse a repeated key at once (the caller quarantines that row), yet the keys it wrote are
// already in the database's staging table, and asking the database for every row would cost a
// round trip per row. The filter says "no" for almost every new key; only its rare "maybe" is
// checked exactly.
//
// It is a scalable Bloom filter: a series of filters, each four times as large as the one before,
// a new one started when the last is full. Small syncs use little memory, and memory stops
// growing at maxFilterBits: past that, the last filter fills up and answers "maybe" more often,
// which costs exact checks, never a wrong answer.
type keyFilter struct {
	seed   maphash.Seed
	stages []bloomStage
}

const (
	firstStageKeys = 1 << 16
	bitsPerKey     = 12
	probes         = 8
	// maxFilterBits bounds a sync's filter memory to 32 MiB, enough for about 20 million keys at
	// under 1% of exact checks.
	maxFilterBits = 256 << 20
)

type bloomStage struct {
	words    []uint64
	mask     uint64
	keys     int
	capacity int
}

func newKeyFilter() *keyFilter {
	return &keyFilter{seed: maphash.MakeSeed()}
}

// add remembers key and reports whether it may have been added before: false means certainly
// not. A key refused as a duplicate stays remembered, which changes nothing.
func (f *keyFilter) add(key string) (maybeSeen bool) {
	h := maphash.String(f.seed, key)
	for i := range f.stages {
		if f.stages[i].has(h) {
			maybeSeen = true
			break
		}
	}
	n := len(f.stages)
	if n == 0 || f.stages[n-1].keys >= f.stages[n-1].capacity {
		if stage, ok := f.nextStage(); ok {
			f.stages = append(f.stages, stage)
			n++
		}
	}
	if !maybeSeen {
		f.stages[n-1].add(h)
	}
	return maybeSeen
}

// nextStage sizes the next filter: four times the keys of the last one, in whatever is left of
// maxFilterBits. A power-of-two size lets a probe pick its bit with a mask.
func (f *keyFilter) nextStage() (bloomStage, bool) {
	used, keys := 0, firstStageKeys
	for i := range f.stages {
		used += len(f.stages[i].words) * 64
		keys = f.stages[i].capacity * 4
	}
	nbits := 1 << bits.Len(uint(keys*bitsPerKey-1))
	for used+nbits > maxFilterBits {
		nbits /= 2
	}
	if nbits < 64*bitsPerKey {
		return bloomStage{}, false
	}
	return bloomStage{words: make([]uint64, nbits/64), mask: uint64(nbits - 1), capacity: nbits / bitsPerKey}, true
}

// Probes use double hashing over the two halves of one 64-bit hash (Kirsch and Mitzenmacher).
func (s *bloomStage) add(h uint64) {
	h1, h2 := h, (h>>32)|1
	for i := uint64(0); i < probes; i++ {
		bit := (h1 + i*h2) & s.mask
		s.words[bit/64] |= 1 << (bit % 64)
	}
	s.keys++
}

func (s *bloomStage) has(h uint64) bool {
	h1, h2 := h, (h>>32)|1
	for i := uint64(0); i < probes; i++ {
		bit := (h1 + i*h2) & s.mask
		if s.words[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}
