package ingest

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

const benchCSVHeader = "id,email,first_name,last_name,phone,city,postal_code,signed_up,plan,score\n"

// appendBenchCSVRow appends a row of ten short columns, about 100 bytes, as a customer export
// has them.
func appendBenchCSVRow(b []byte, i int, quoted bool) []byte {
	n := strconv.AppendInt(nil, int64(i), 10)
	fields := [][]byte{
		n,
		append(append([]byte("user"), n...), "@example.com"...),
		[]byte("Aiko"), []byte("Tanaka"), []byte("090-1234-5678"), []byte("Tokyo"),
		[]byte("100-0001"), []byte("2024-01-15"), []byte("pro"),
		strconv.AppendInt(nil, int64(i%100), 10),
	}
	for j, f := range fields {
		if j > 0 {
			b = append(b, ',')
		}
		if quoted {
			b = append(b, '"')
		}
		b = append(b, f...)
		if quoted {
			b = append(b, '"')
		}
	}
	return append(b, '\n')
}

func benchCSVInput(rows int, quoted bool) []byte {
	b := []byte(benchCSVHeader)
	for i := range rows {
		b = appendBenchCSVRow(b, i, quoted)
	}
	return b
}

// BenchmarkCSVReader reads 100,000 rows of ten short columns per iteration and reports rows/s.
func BenchmarkCSVReader(b *testing.B) {
	const rows = 100_000
	plain := benchCSVInput(rows, false)
	sjis, err := japanese.ShiftJIS.NewEncoder().Bytes(bytes.ReplaceAll(plain, []byte("Aiko,Tanaka"), []byte("愛子,田中")))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		input  []byte
		format Format
	}{
		{"plain", plain, Format{Type: FormatCSV}},
		{"plain/trim", plain, Format{Type: FormatCSV, TrimSpace: true}},
		{"quoted", benchCSVInput(rows, true), Format{Type: FormatCSV}},
		{"shiftjis", sjis, Format{Type: FormatCSV, Encoding: EncodingShiftJIS}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.input)))
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if n := benchReadAll(b, tc.input, tc.format); n != rows {
					b.Fatalf("read %d rows, want %d", n, rows)
				}
			}
			b.ReportMetric(float64(b.N)*rows/time.Since(start).Seconds(), "rows/s")
		})
	}
}

func benchReadAll(b *testing.B, input []byte, f Format) int {
	rr, err := NewReader(bytes.NewReader(input), f)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		_, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}
