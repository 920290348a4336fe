package match

import (
	"cmp"
	"slices"
)

// patKey is a comparison vector, 4 bits per comparison (levels, "else" and "null" fit in
// 16 states), and the set of blocking rules whose key the pair agrees on: the rules whose
// EM sessions count the pair.
type patKey struct {
	lo, hi uint64
	rules  uint32
}

func (k *patKey) set(c int, level uint8) {
	if c < 16 {
		k.lo |= uint64(level) << (4 * uint(c))
	} else {
		k.hi |= uint64(level) << (4 * uint(c-16))
	}
}

func (k patKey) level(c int) uint8 {
	if c < 16 {
		return uint8(k.lo>>(4*uint(c))) & 15
	}
	return uint8(k.hi>>(4*uint(c-16))) & 15
}

// vectorOnly drops the rule set: scoring depends on the comparison vector alone.
func (k patKey) vectorOnly() patKey { return patKey{lo: k.lo, hi: k.hi} }

// pattern is a distinct comparison vector with the set of rules agreeing on it, and the number
// of candidate pairs that have it.
type pattern struct {
	key   patKey
	count int64
}

// histogram merges the chunks' patterns, sorted so that EM sums in a fixed order.
func histogram(vecs []chunkVectors) []pattern {
	counts := map[patKey]int64{}
	for _, cv := range vecs {
		for i, k := range cv.keys {
			counts[k] += cv.counts[i]
		}
	}
	return sortedPatterns(counts)
}

// vectorsOnly merges patterns that differ only in their rule sets.
func vectorsOnly(pats []pattern) []pattern {
	counts := map[patKey]int64{}
	for _, p := range pats {
		counts[p.key.vectorOnly()] += p.count
	}
	return sortedPatterns(counts)
}

func sortedPatterns(counts map[patKey]int64) []pattern {
	pats := make([]pattern, 0, len(counts))
	for k, n := range counts {
		pats = append(pats, pattern{key: k, count: n})
	}
	slices.SortFunc(pats, func(a, b pattern) int {
		switch {
		case a.key.rules != b.key.rules:
			return cmp.Compare(a.key.rules, b.key.rules)
		case a.key.hi != b.key.hi:
			return cmp.Compare(a.key.hi, b.key.hi)
		}
		return cmp.Compare(a.key.lo, b.key.lo)
	})
	return pats
}

// patMap maps patterns to local ids: open addressing with linear probing over a power-of-two
// table. It is what pass one does per pair besides comparing, and Go's map costs several times
// more for a 24-byte key that is already well mixed.
type patMap struct {
	slots []patSlot
	mask  uint64
	n     int
}

type patSlot struct {
	key  patKey
	id   uint32
	used bool
}

func (m *patMap) reset() {
	if m.slots == nil {
		m.slots = make([]patSlot, 1024)
		m.mask = 1023
	}
	clear(m.slots)
	m.n = 0
}

// get returns the key's id, or adds it with id next; added says which.
func (m *patMap) get(k patKey, next uint32) (id uint32, added bool) {
	if 2*(m.n+1) > len(m.slots) {
		m.grow()
	}
	h := (k.lo*0x9e3779b97f4a7c15 ^ k.hi*0xc2b2ae3d27d4eb4f ^ uint64(k.rules)*0x165667b19e3779f9)
	h ^= h >> 29
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		if !s.used {
			*s = patSlot{key: k, id: next, used: true}
			m.n++
			return next, true
		}
		if s.key == k {
			return s.id, false
		}
	}
}

func (m *patMap) grow() {
	old := m.slots
	m.slots = make([]patSlot, 2*len(old))
	m.mask = uint64(len(m.slots) - 1)
	m.n = 0
	for _, s := range old {
		if s.used {
			m.get(s.key, s.id)
		}
	}
}
