package ingest

import (
	"errors"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// generatedInput is an io.Reader of a file made row by row as it is read, so a test can read a
// file of any size without holding or writing it.
type generatedInput struct {
	size      int64 // stop after the row that reaches this many bytes
	appendRow func(b []byte, i int) []byte
	written   int64
	rows      int // rows made so far
	pending   []byte
	buf       []byte
}

func (g *generatedInput) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.pending) == 0 {
			if g.written >= g.size {
				break
			}
			g.buf = g.buf[:0]
			for len(g.buf) < 32<<10 {
				g.rows++
				g.buf = g.appendRow(g.buf, g.rows)
			}
			g.pending = g.buf
		}
		k := copy(p[n:], g.pending)
		g.pending = g.pending[k:]
		g.written += int64(k)
		n += k
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TestReaderMemoryIsFlat reads a generated 1 GiB CSV stream (and a smaller JSON Lines one) and
// checks that the heap in use, sampled while reading, stays under a bound that does not depend
// on the input's size.
func TestReaderMemoryIsFlat(t *testing.T) {
	const heapBound = 64 << 20
	cases := []struct {
		name   string
		size   int64
		format Format
		header string
		row    func(b []byte, i int) []byte
	}{
		{
			name:   "CSV",
			size:   1 << 30,
			format: Format{Type: FormatCSV, TrimSpace: true},
			header: benchCSVHeader,
			row:    func(b []byte, i int) []byte { return appendBenchCSVRow(b, i, i%7 == 0) },
		},
		{
			name:   "JSONLines",
			size:   128 << 20,
			format: Format{Type: FormatJSONLines},
			row: func(b []byte, i int) []byte {
				b = append(b, `{"id":`...)
				b = strconv.AppendInt(b, int64(i), 10)
				return append(b, `,"email":"user@example.com","name":"田中","address":{"city":"東京","zip":"100-0001"},"tags":["a","b"]}`+"\n"...)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if testing.Short() {
				size /= 16
			}
			src := &generatedInput{size: size, appendRow: tc.row, pending: []byte(tc.header)}
			rr, err := NewReader(src, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			firstRow := int64(1)
			if tc.header != "" {
				firstRow = 2
			}
			start := time.Now()
			var peak uint64
			var stats runtime.MemStats
			rows := 0
			for {
				row, err := rr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("after %d rows: %v", rows, err)
				}
				if row.Number != int64(rows)+firstRow {
					t.Fatalf("row %d has number %d", rows+1, row.Number)
				}
				rows++
				if rows%100_000 == 0 {
					runtime.ReadMemStats(&stats)
					peak = max(peak, stats.HeapInuse)
				}
			}
			runtime.ReadMemStats(&stats)
			peak = max(peak, stats.HeapInuse)
			if rows != src.rows {
				t.Errorf("read %d rows, the generator made %d", rows, src.rows)
			}
			if src.written < size {
				t.Errorf("read %d bytes, want at least %d", src.written, size)
			}
			t.Logf("read %d rows (%d MiB) in %v; peak heap in use %.1f MiB", rows, src.written>>20, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
			if peak > heapBound {
				t.Errorf("heap in use reached %.1f MiB, want under %d MiB", float64(peak)/(1<<20), heapBound>>20)
			}
		})
	}
}
