package match

import (
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// String similarity on bytes (ASCII) or runes. The hot loop calls the generic functions with
// buffers from a per-goroutine scratch, so comparing two values never allocates; the exported
// functions are conveniences for callers and tests.

// JaroWinkler returns the Jaro-Winkler similarity of a and b, from 0 (nothing in common) to 1
// (equal): Jaro similarity boosted by 0.1 per shared leading character, up to 4, when the
// Jaro similarity exceeds 0.7 (Winkler's original rule, as in Splink's DuckDB backend).
func JaroWinkler(a, b string) float64 {
	var s scratch
	return s.jaroWinkler(a, b, isASCII(a) && isASCII(b))
}

// Jaro returns the Jaro similarity of a and b.
func Jaro(a, b string) float64 {
	var s scratch
	if isASCII(a) && isASCII(b) {
		return jaro([]byte(a), []byte(b), &s)
	}
	return jaro([]rune(a), []rune(b), &s)
}

// Levenshtein returns the edit distance (insertions, deletions, substitutions) between a and b,
// counted in runes.
func Levenshtein(a, b string) int {
	var s scratch
	n := max(utf8.RuneCountInString(a), utf8.RuneCountInString(b))
	return s.levenshtein(a, b, isASCII(a) && isASCII(b), n)
}

// scratch holds one goroutine's buffers for similarity functions.
type scratch struct {
	ra, rb []rune
	fa, fb []bool
	row    []int32
	ha, hb [8]byte // short values unpacked from their cells
	// pos[c] has bit j set when byte j of the longer string is c; kept all zero between
	// calls, so each call only touches the entries of its own characters.
	pos [256]uint64
}

// jaroWinkler compares two values; ascii says both are ASCII, so bytes are characters.
func (s *scratch) jaroWinkler(a, b string, ascii bool) float64 {
	if ascii {
		ba, bb := bytesOf(a), bytesOf(b)
		if max(len(a), len(b)) <= 64 {
			return winkler(jaroASCII(ba, bb, &s.pos), ba, bb)
		}
		return jaroWinkler(ba, bb, s)
	}
	s.ra, s.rb = appendRunes(s.ra[:0], a), appendRunes(s.rb[:0], b)
	return jaroWinkler(s.ra, s.rb, s)
}

// levenshtein returns the edit distance of two values if it is at most k, else k+1.
func (s *scratch) levenshtein(a, b string, ascii bool, k int) int {
	if ascii {
		return levenshteinBounded(bytesOf(a), bytesOf(b), k, s)
	}
	s.ra, s.rb = appendRunes(s.ra[:0], a), appendRunes(s.rb[:0], b)
	return levenshteinBounded(s.ra, s.rb, k, s)
}

// bytesOf views a string's bytes without copying them. The similarity functions only read
// their inputs, so the string's immutability is kept.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func appendRunes(dst []rune, s string) []rune {
	for _, r := range s {
		dst = append(dst, r)
	}
	return dst
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// char is a character: a byte of an ASCII string or a rune.
type char interface{ byte | rune }

func jaroWinkler[C char](a, b []C, s *scratch) float64 {
	return winkler(jaro(a, b, s), a, b)
}

// winkler boosts a Jaro similarity for a common prefix of up to four characters.
func winkler[C char](j float64, a, b []C) float64 {
	if j <= 0.7 {
		return j
	}
	prefix := 0
	for prefix < 4 && prefix < len(a) && prefix < len(b) && a[prefix] == b[prefix] {
		prefix++
	}
	return j + float64(prefix)*0.1*(1-j)
}

// jaro counts characters of a and b that are equal and no further apart than half the longer
// string's length minus one (matches), and matched characters out of order (half
// transpositions). Strings of up to 64 characters keep the matched flags in two machine words.
func jaro[C char](a, b []C, s *scratch) float64 {
	if len(a) > len(b) {
		a, b = b, a // a is the shorter: the result is symmetric
	}
	la, lb := len(a), len(b)
	if la == 0 {
		if lb == 0 {
			return 1
		}
		return 0
	}
	window := max(lb/2-1, 0)
	var m, t int
	if lb <= 64 {
		m, t = jaroMasks(a, b, window)
	} else {
		m, t = jaroFlags(a, b, window, s)
	}
	if m == 0 {
		return 0
	}
	fm := float64(m)
	return (fm/float64(la) + fm/float64(lb) + (fm-float64(t/2))/fm) / 3
}

// jaroASCII is jaro for ASCII strings of at most 64 bytes, bit-parallel: the positions of each
// character in the longer string are a bit set, so finding the first unmatched occurrence of
// a character inside the window is two ANDs and a lowest-bit, not a scan of the window.
func jaroASCII(a, b []byte, pos *[256]uint64) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	la, lb := len(a), len(b)
	if la == 0 {
		if lb == 0 {
			return 1
		}
		return 0
	}
	window := max(lb/2-1, 0)
	for j, c := range b {
		pos[c] |= 1 << uint(j)
	}
	var ma, mb uint64
	m := 0
	for i, c := range a {
		lo, hi := max(0, i-window), min(lb, i+window+1)
		free := pos[c] &^ mb & (^uint64(0) >> uint(64-(hi-lo)) << uint(lo))
		if free != 0 {
			mb |= free & -free
			ma |= 1 << uint(i)
			m++
		}
	}
	for _, c := range b {
		pos[c] = 0
	}
	if m == 0 {
		return 0
	}
	t := 0
	for ma != 0 {
		if a[bits.TrailingZeros64(ma)] != b[bits.TrailingZeros64(mb)] {
			t++
		}
		ma &= ma - 1
		mb &= mb - 1
	}
	fm := float64(m)
	return (fm/float64(la) + fm/float64(lb) + (fm-float64(t/2))/fm) / 3
}

func jaroMasks[C char](a, b []C, window int) (m, t int) {
	var ma, mb uint64
	lb := len(b)
	for i, c := range a {
		lo, hi := max(0, i-window), min(lb, i+window+1)
		for j := lo; j < hi; j++ {
			if mb&(1<<uint(j)) == 0 && b[j] == c {
				ma |= 1 << uint(i)
				mb |= 1 << uint(j)
				m++
				break
			}
		}
	}
	for ma != 0 {
		if a[bits.TrailingZeros64(ma)] != b[bits.TrailingZeros64(mb)] {
			t++
		}
		ma &= ma - 1
		mb &= mb - 1
	}
	return m, t
}

func jaroFlags[C char](a, b []C, window int, s *scratch) (m, t int) {
	la, lb := len(a), len(b)
	s.fa, s.fb = resetFlags(s.fa, la), resetFlags(s.fb, lb)
	fa, fb := s.fa, s.fb
	for i, c := range a {
		lo, hi := max(0, i-window), min(lb, i+window+1)
		for j := lo; j < hi; j++ {
			if !fb[j] && b[j] == c {
				fa[i], fb[j] = true, true
				m++
				break
			}
		}
	}
	k := 0
	for i := range la {
		if !fa[i] {
			continue
		}
		for !fb[k] {
			k++
		}
		if a[i] != b[k] {
			t++
		}
		k++
	}
	return m, t
}

func resetFlags(f []bool, n int) []bool {
	if cap(f) < n {
		return make([]bool, n)
	}
	f = f[:n]
	clear(f)
	return f
}

// levenshteinBounded returns the edit distance of a and b if it is at most k, else k+1. It
// strips the common prefix and suffix (typos are local, so most of a similar pair goes), then
// fills only the diagonal band of width 2k+1 of the edit matrix, stopping as soon as a whole
// row exceeds k: O(k·n) instead of O(n²), and usually much less.
func levenshteinBounded[C char](a, b []C, k int, s *scratch) int {
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	la, lb := len(a), len(b)
	if lb-la > k {
		return k + 1
	}
	if la == 0 {
		return lb
	}
	inf := int32(k + 1)
	if cap(s.row) < la+1 {
		s.row = make([]int32, la+1)
	}
	row := s.row[:la+1]
	// Cells right of the band keep this initial inf: bands only move right, so the next row
	// reads them as "up" before any row writes them.
	for i := range row {
		row[i] = min(int32(i), inf)
	}
	for j := 1; j <= lb; j++ {
		lo, hi := max(1, j-k), min(la, j+k)
		diag := row[lo-1] // D[j-1][lo-1]
		left := inf       // D[j][lo-1]: outside the band unless it is the first column
		if lo == 1 {
			left = min(int32(j), inf)
		}
		row[lo-1] = left
		rowMin := left
		bj := b[j-1]
		for i := lo; i <= hi; i++ {
			up := row[i]
			v := diag
			if a[i-1] != bj {
				v++
			}
			v = min(v, up+1, left+1, inf)
			diag, left = up, v
			row[i] = v
			rowMin = min(rowMin, v)
		}
		if rowMin >= inf {
			return k + 1
		}
	}
	return int(row[la])
}
