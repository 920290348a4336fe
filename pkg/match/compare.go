package match

import (
	"encoding/binary"
	"math"
	"math/bits"
	"time"
)

// comparer computes one comparison's level for a pair of dictionary ids.
type comparer struct {
	Comparison
	col *column
	// elseLevel and nullLevel follow the configured levels: len(Levels) and len(Levels)+1.
	elseLevel, nullLevel uint8
	// maxLev is the largest Levenshtein distance any level asks about: the distance is
	// computed once per pair, bounded by it.
	maxLev int
	// minJW is the lowest Jaro-Winkler threshold, 2 when there is none: two values whose best
	// possible similarity is below it need no Jaro-Winkler computation at all.
	minJW float64
}

func newComparer(c Comparison, col *column) *comparer {
	cp := &comparer{Comparison: c, col: col, minJW: 2}
	cp.elseLevel = uint8(len(c.Levels))
	cp.nullLevel = cp.elseLevel + 1
	for _, l := range c.Levels {
		switch l.Type {
		case LevelLevenshtein:
			cp.maxLev = max(cp.maxLev, l.MaxDistance)
		case LevelJaroWinkler:
			cp.minJW = min(cp.minJW, l.Threshold)
		}
	}
	return cp
}

// states is the number of levels including "else" and "null".
func (c *comparer) states() int { return len(c.Levels) + 2 }

// cell is what a comparison needs of one record's value to rule most pairs out without
// reading the value itself: its id, byte length, character signature and first bytes; values
// of up to 8 bytes (dates, identifiers, postcodes, many names) are entirely in the cell. The
// pair loop gathers cells once per record of a group and compares pairs from them.
type cell struct {
	id    uint32
	n     uint16 // byte length
	ascii bool
	sig   uint64
	head  uint64
}

func (col *column) cell(id uint32) cell {
	v := &col.vals[id]
	if len(v.s) > math.MaxUint16 {
		// Too long for n: the rune path, which needs no length bound, takes it.
		return cell{id: id}
	}
	return cell{id: id, n: uint16(len(v.s)), ascii: v.ascii, sig: v.sig, head: v.head}
}

// level returns the first level two values satisfy, elseLevel when none does, nullLevel when
// either is null. Similarities are computed at most once, when a level first needs them.
func (c *comparer) level(x, y cell, s *scratch) uint8 {
	a, b := x.id, y.id
	if a == 0 || b == 0 {
		return c.nullLevel
	}
	equal := a == b
	jw, lev := -1.0, -1
	for i, l := range c.Levels {
		switch l.Type {
		case LevelExact:
			if equal {
				return uint8(i)
			}
		case LevelJaroWinkler:
			if equal {
				return uint8(i)
			}
			if jw < 0 {
				jw = c.jaroWinkler(x, y, s)
			}
			if jw >= l.Threshold {
				return uint8(i)
			}
		case LevelLevenshtein:
			if equal {
				return uint8(i)
			}
			if lev < 0 {
				lev = c.levenshtein(x, y, s)
			}
			if lev <= l.MaxDistance {
				return uint8(i)
			}
		case LevelNumericDifference:
			na, nb := c.col.nums[a], c.col.nums[b]
			if math.Abs(na-nb) <= l.Tolerance { // false when either is NaN
				return uint8(i)
			}
		case LevelDateDifference:
			ta, tb := c.col.times[a], c.col.times[b]
			if ta != noTime && tb != noTime && absDiff(ta, tb) <= int64(l.Within/time.Second) {
				return uint8(i)
			}
		}
	}
	return c.elseLevel
}

func (c *comparer) jaroWinkler(x, y cell, s *scratch) float64 {
	if !x.ascii || !y.ascii {
		return s.jaroWinkler(c.col.vals[x.id].s, c.col.vals[y.id].s, false)
	}
	// Bounds first, from the cells alone: when no Jaro-Winkler level can match, the exact
	// similarity does not matter.
	j := jaroBound(int(x.n), int(y.n), x.sig, y.sig)
	if winklerBound(j, 4) < c.minJW || winklerBound(j, commonPrefix(x, y)) < c.minJW {
		return 0
	}
	a, b := s.asciiBytes(x, y, c.col)
	if max(len(a), len(b)) > 64 {
		return jaroWinkler(a, b, s)
	}
	return winkler(jaroASCII(a, b, &s.pos), a, b)
}

func (c *comparer) levenshtein(x, y cell, s *scratch) int {
	if !x.ascii || !y.ascii {
		return s.levenshtein(c.col.vals[x.id].s, c.col.vals[y.id].s, false, c.maxLev)
	}
	// A lower bound first: every character class of one value missing from the other costs
	// an edit, and so does every character of length difference.
	shared := bits.OnesCount64(x.sig & y.sig)
	missing := int64(max(bits.OnesCount64(x.sig), bits.OnesCount64(y.sig)) - shared)
	if max(missing, absDiff(int64(x.n), int64(y.n))) > int64(c.maxLev) {
		return c.maxLev + 1
	}
	a, b := s.asciiBytes(x, y, c.col)
	return levenshteinBounded(a, b, c.maxLev, s)
}

// asciiBytes returns two ASCII values' bytes, from their cells when they fit in 8 bytes, so
// short values are compared without a memory access.
func (s *scratch) asciiBytes(x, y cell, col *column) (a, b []byte) {
	if x.n <= 8 {
		binary.LittleEndian.PutUint64(s.ha[:], x.head)
		a = s.ha[:x.n]
	} else {
		a = bytesOf(col.vals[x.id].s)
	}
	if y.n <= 8 {
		binary.LittleEndian.PutUint64(s.hb[:], y.head)
		b = s.hb[:y.n]
	} else {
		b = bytesOf(col.vals[y.id].s)
	}
	return a, b
}

// jaroBound is an upper bound of the Jaro similarity of two ASCII strings of lengths la and lb,
// from their character signatures. A character whose class does not occur in the other
// string cannot match, and each class of a missing from b accounts for at least one such
// character of a: so at most la - (classes(a) - shared) characters match, and likewise for b.
// The bound takes that many matches and no transpositions. Random names share few
// characters, so most pairs stop here, before their strings are even read.
func jaroBound(la, lb int, sa, sb uint64) float64 {
	if la == 0 || lb == 0 {
		return 0
	}
	shared := bits.OnesCount64(sa & sb)
	m := min(la-bits.OnesCount64(sa)+shared, lb-bits.OnesCount64(sb)+shared)
	if m <= 0 {
		return 0
	}
	return (float64(m)/float64(la) + float64(m)/float64(lb) + 1) / 3
}

// winklerBound applies Winkler's boost for a prefix of p characters to a bound of the Jaro
// similarity.
func winklerBound(j float64, p int) float64 {
	if j <= 0.7 {
		return j
	}
	return j + float64(p)*0.1*(1-j)
}

// commonPrefix is the length of two values' common prefix, up to Winkler's 4, from their
// cells.
func commonPrefix(x, y cell) int {
	p := 8
	if d := x.head ^ y.head; d != 0 {
		p = bits.TrailingZeros64(d) / 8
	}
	return min(p, 4, int(x.n), int(y.n))
}

func absDiff(x, y int64) int64 {
	if x > y {
		return x - y
	}
	return y - x
}
