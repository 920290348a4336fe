package match

import (
	"context"
	"encoding/binary"
	"sync"
)

// column is one field, dictionary-encoded: records hold small integer ids, and everything
// that depends only on the value (ASCII or not, number, date, frequency) is computed once per
// distinct value rather than once per pair.
type column struct {
	name string
	ids  []uint32 // by record; 0 is null
	// vals holds, by id, each value with what the comparisons read of it, together: one
	// cache line per value looked up. vals[0] is null.
	vals    []value
	counts  []int32 // records per id
	index   map[string]uint32
	nums    []float64 // by id, NaN when not a number; only when a numeric level reads the field
	times   []int64   // by id, noTime when not a date; only when a date level reads the field
	nonNull int       // records with a value
}

// value is a distinct value of a column.
type value struct {
	s     string
	sig   uint64 // which characters occur, for cheap similarity bounds (charSig)
	head  uint64 // the first 8 bytes, little-endian, zero-padded (see cell)
	ascii bool
}

// fieldNeeds says what a field's values must be parsed as.
type fieldNeeds struct{ number, date bool }

// encodeColumns encodes the named fields in parallel, one field per goroutine at a time.
func encodeColumns(ctx context.Context, d *Dataset, needs map[string]fieldNeeds, order []string, workers int) (map[string]*column, error) {
	cols := make([]*column, len(order))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(order)) {
		wg.Go(func() {
			for i := range next {
				cols[i] = encodeColumn(order[i], d.Fields[order[i]], needs[order[i]])
			}
		})
	}
	var err error
	for i := range order {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*column, len(order))
	for _, c := range cols {
		out[c.name] = c
	}
	return out, nil
}

func encodeColumn(name string, values []string, need fieldNeeds) *column {
	c := &column{
		name:   name,
		ids:    make([]uint32, len(values)),
		vals:   []value{{ascii: true}},
		counts: []int32{0},
		index:  make(map[string]uint32),
	}
	for i, v := range values {
		if v == "" {
			continue
		}
		id, ok := c.index[v]
		if !ok {
			id = uint32(len(c.vals))
			c.index[v] = id
			c.vals = append(c.vals, value{s: v, sig: charSig(v), head: head(v), ascii: isASCII(v)})
			c.counts = append(c.counts, 0)
		}
		c.ids[i] = id
		c.counts[id]++
		c.nonNull++
	}
	if need.number {
		c.nums = make([]float64, len(c.vals))
		for id, v := range c.vals {
			c.nums[id] = parseNumber(v.s)
		}
	}
	if need.date {
		c.times = make([]int64, len(c.vals))
		for id, v := range c.vals {
			c.times[id] = parseDate(v.s)
		}
	}
	return c
}

// charSig sets one bit per character class occurring in an ASCII string: a bit per letter and
// digit, the remaining 28 bits shared by hashing the other bytes. Two strings' signatures
// bound how many of their characters can match at all (see comparer.jaroWinkler), which rules
// most dissimilar pairs out before any similarity is computed.
func charSig(s string) uint64 {
	var sig uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			sig |= 1 << (c - 'a')
		case c >= '0' && c <= '9':
			sig |= 1 << (26 + c - '0')
		default:
			sig |= 1 << (36 + c%28)
		}
	}
	return sig
}

// head packs a string's first 8 bytes into a word.
func head(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.LittleEndian.Uint64(b[:])
}
