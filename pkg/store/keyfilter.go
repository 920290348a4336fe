package store

import (
	"hash/maphash"
	"math/bits"
)

// keyFilter answers "was this record key maybe written in this sync?" in bounded memory. A sync
// must refuse a repeated key at once (the caller quarantines that row), yet the keys it wrote are
// already in the database's staging table, and asking the database for every row would cost a
// query per row, and an index on the staging table to answer it. The filter says "no" for
// virtually every new key; only its rare "maybe" is checked exactly.
//
// It is a scalable Bloom filter: a series of filters, each four times as large as the one before,
// a new one started when the last is full. Small syncs use little memory, and memory stops
// growing at maxFilterBits: past that, the last filter fills up and answers "maybe" more often,
// which costs exact checks, never a wrong answer. Each filter is blocked: all the bits of a key
// lie in one 64-byte block, one cache line, so a lookup costs one memory access per filter.
type keyFilter struct {
	seed   maphash.Seed
	stages []bloomStage
	// firstKeys is the capacity of the first filter.
	firstKeys int
}

const (
	firstStageKeys = 1 << 16
	// With 32 bits and 16 probes per key, a full filter says "maybe" to about one new key in a
	// million: most syncs never need an exact check.
	bitsPerKey = 32
	probes     = 16
	blockBits  = 512
	// maxFilterBits bounds a sync's filter memory to 32 MiB, about 8 million keys before exact
	// checks grow common.
	maxFilterBits = 256 << 20
)

type bloomStage struct {
	blocks   [][blockBits / 64]uint64
	keys     int
	capacity int
}

func newKeyFilter() *keyFilter {
	return &keyFilter{seed: maphash.MakeSeed(), firstKeys: firstStageKeys}
}

// newKeyFilterFor returns a filter whose first filter holds expected keys, within maxFilterBits:
// when a writer can tell how many keys to expect (a publish, from the generation it replaces),
// one filter answers, one memory access per key instead of one per filter. Expecting nothing,
// it starts at firstPublishKeys: a publish, unlike a sync, is seldom small.
func newKeyFilterFor(expected int) *keyFilter {
	f := newKeyFilter()
	if expected == 0 {
		expected = firstPublishKeys
	}
	f.firstKeys = min(max(expected+expected/8, firstStageKeys), maxFilterBits/bitsPerKey)
	return f
}

// firstPublishKeys sizes the first filter of a first publish: 4 MiB.
const firstPublishKeys = 1 << 20

// add remembers key and reports whether it may have been added before: false means certainly
// not. A key refused as a duplicate stays remembered, which changes nothing.
func (f *keyFilter) add(key string) (maybeSeen bool) {
	return f.addHash(maphash.String(f.seed, key))
}

// hash is the hash of a key held in bytes, for addHash and insertHash: a caller that hashes
// a key once can use the hash elsewhere (spillSorter does).
func (f *keyFilter) hash(key []byte) uint64 { return maphash.Bytes(f.seed, key) }

// insertHash remembers a key known not to have been added, without looking for it.
func (f *keyFilter) insertHash(h uint64) {
	n := len(f.stages)
	if n == 0 || f.stages[n-1].keys >= f.stages[n-1].capacity {
		if stage, ok := f.nextStage(); ok {
			f.stages = append(f.stages, stage)
			n++
		}
	}
	f.stages[n-1].add(h)
}

// addHash is add for a key already hashed.
func (f *keyFilter) addHash(h uint64) (maybeSeen bool) {
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
// maxFilterBits.
func (f *keyFilter) nextStage() (bloomStage, bool) {
	used, keys := 0, f.firstKeys
	for i := range f.stages {
		used += len(f.stages[i].blocks) * blockBits
		keys = f.stages[i].capacity * 4
	}
	nbits := min(keys*bitsPerKey, maxFilterBits-used)
	nblocks := nbits / blockBits
	if nblocks < 1 {
		return bloomStage{}, false
	}
	return bloomStage{
		blocks:   make([][blockBits / 64]uint64, nblocks),
		capacity: nblocks * blockBits / bitsPerKey,
	}, true
}

// Each key sets probes bits of its block. The positions come 9 bits at a time from a sequence
// of mixes of the hash (splitmix64): positions in arithmetic progression, the usual double
// hashing, overlap between keys far too often within a block this small.
func (s *bloomStage) block(h uint64) *[blockBits / 64]uint64 {
	hi, _ := bits.Mul64(h, uint64(len(s.blocks)))
	return &s.blocks[hi]
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

const positionsPerMix = 64 / 9

func (s *bloomStage) add(h uint64) {
	block := s.block(h)
	x := h
	for i := 0; i < probes; i += positionsPerMix {
		x = mix(x)
		for j := 0; j < positionsPerMix && i+j < probes; j++ {
			bit := (x >> (9 * j)) % blockBits
			block[bit/64] |= 1 << (bit % 64)
		}
	}
	s.keys++
}

func (s *bloomStage) has(h uint64) bool {
	block := s.block(h)
	x := h
	for i := 0; i < probes; i += positionsPerMix {
		x = mix(x)
		for j := 0; j < positionsPerMix && i+j < probes; j++ {
			bit := (x >> (9 * j)) % blockBits
			if block[bit/64]&(1<<(bit%64)) == 0 {
				return false
			}
		}
	}
	return true
}
