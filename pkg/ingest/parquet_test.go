package ingest

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type parquetTestAddress struct {
	City string `parquet:"city"`
	Zip  string `parquet:"zip"`
}

type parquetTestOrder struct {
	ID    string   `parquet:"id"`
	Items []string `parquet:"items,list"`
}

type parquetTestRow struct {
	Name     string              `parquet:"name"`
	Age      int64               `parquet:"age"`
	Small    int32               `parquet:"small"`
	Score    float64             `parquet:"score"`
	Ratio    float32             `parquet:"ratio"`
	Active   bool                `parquet:"active"`
	SignedUp time.Time           `parquet:"signed_up,timestamp(millisecond)"`
	Seen     int64               `parquet:"seen,timestamp(microsecond)"`
	Birthday int32               `parquet:"birthday,date"` // days since 1970-01-01; parquet-go v0.32.0 writes a time.Time wrongly here
	Email    *string             `parquet:"email,optional"`
	Points   *int64              `parquet:"points,optional"`
	Tags     []string            `parquet:"tags,list"`
	Address  *parquetTestAddress `parquet:"address,optional"`
	Attrs    map[string]string   `parquet:"attrs"`
	Blob     []byte              `parquet:"blob"`
	Phones   []string            `parquet:"phones"` // a repeated field, not a LIST
	Orders   []parquetTestOrder  `parquet:"orders,list"`
}

func parquetTestRows(n int) []parquetTestRow {
	rows := make([]parquetTestRow, n)
	for i := range rows {
		r := parquetTestRow{
			Name:     "顧客" + strconv.Itoa(i),
			Age:      int64(20 + i%50),
			Small:    int32(-i),
			Score:    float64(i) + 0.5,
			Ratio:    0.25,
			Active:   i%2 == 0,
			SignedUp: time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC).Add(time.Duration(i) * time.Hour),
			Seen:     time.Date(2024, 6, 1, 0, 0, 0, 123456e3, time.UTC).UnixMicro(),
			Birthday: int32(time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400),
			Attrs:    map[string]string{"tier": "gold"},
			Blob:     []byte{0xff, 0x00},
		}
		if i%3 != 0 {
			email := "c" + strconv.Itoa(i) + "@example.com"
			r.Email = &email
			points := int64(i * 10)
			r.Points = &points
			r.Tags = []string{"a", "b" + strconv.Itoa(i)}
			r.Address = &parquetTestAddress{City: "東京", Zip: "100-0001"}
			r.Phones = []string{"03-1234-5678"}
			r.Orders = []parquetTestOrder{{ID: "o1", Items: []string{"x", "y"}}, {ID: "o2"}, {ID: "o3", Items: []string{"z"}}}
		}
		rows[i] = r
	}
	return rows
}

// writeParquetTestFile writes rows in row groups of 100 rows and small pages, unless options say
// otherwise, so that a reader crosses many of both.
func writeParquetTestFile(t testing.TB, rows []parquetTestRow, options ...parquet.WriterOption) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	options = append([]parquet.WriterOption{parquet.MaxRowsPerRowGroup(100), parquet.PageBufferSize(1024)}, options...)
	w := parquet.NewGenericWriter[parquetTestRow](f, options...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParquetReader(t *testing.T) {
	const n = 1000 // several row groups of 100 rows and several batches
	path := writeParquetTestFile(t, parquetTestRows(n))
	rr, err := OpenFile(path, Format{Type: FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	wantColumns := []string{"name", "age", "small", "score", "ratio", "active", "signed_up", "seen", "birthday", "email", "points", "tags", "address", "attrs", "blob", "phones", "orders"}
	if cols := rr.(interface{ Columns() []string }).Columns(); !reflect.DeepEqual(cols, wantColumns) {
		t.Errorf("Columns: got %q, want %q", cols, wantColumns)
	}
	got := readAll(t, rr)
	if len(got) != n {
		t.Fatalf("read %d rows, want %d", len(got), n)
	}
	for i, o := range got {
		if o.Reason != "" || o.Line != int64(i+1) {
			t.Fatalf("result %d: %v, want row %d", i, o, i+1)
		}
		wantOrders := 3
		if i%3 == 0 {
			wantOrders = 0
		}
		if orders, _ := o.Fields["orders"].([]any); o.Fields["name"] != "顧客"+strconv.Itoa(i) || len(orders) != wantOrders {
			t.Fatalf("row %d: %v", i+1, o)
		}
	}

	want := map[int]readOutcome{
		1: {Line: 1, Fields: map[string]any{
			"name": "顧客0", "age": int64(20), "small": int64(0), "score": 0.5, "ratio": 0.25, "active": true,
			"signed_up": time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC),
			"seen":      time.Date(2024, 6, 1, 0, 0, 0, 123456e3, time.UTC),
			"birthday":  time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC),
			"email":     nil, "points": nil, "tags": []any{}, "address": nil,
			"attrs": map[string]any{"tier": "gold"}, "blob": []byte{0xff, 0x00},
			"phones": []any{}, "orders": []any{},
		}, Raw: `{"name":"顧客0","age":20,"small":0,"score":0.5,"ratio":0.25,"active":true,` +
			`"signed_up":"2024-01-02T03:04:05.006Z","seen":"2024-06-01T00:00:00.123456Z","birthday":"1990-04-01T00:00:00Z",` +
			`"email":null,"points":null,"tags":[],"address":null,"attrs":{"tier":"gold"},"blob":"/wA=","phones":[],"orders":[]}`},
		543: {Line: 543, Fields: map[string]any{
			"name": "顧客542", "age": int64(62), "small": int64(-542), "score": 542.5, "ratio": 0.25, "active": true,
			"signed_up": time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC).Add(542 * time.Hour),
			"seen":      time.Date(2024, 6, 1, 0, 0, 0, 123456e3, time.UTC),
			"birthday":  time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC),
			"email":     "c542@example.com", "points": int64(5420), "tags": []any{"a", "b542"},
			"address": map[string]any{"city": "東京", "zip": "100-0001"},
			"attrs":   map[string]any{"tier": "gold"}, "blob": []byte{0xff, 0x00},
			"phones": []any{"03-1234-5678"},
			"orders": []any{
				map[string]any{"id": "o1", "items": []any{"x", "y"}},
				map[string]any{"id": "o2", "items": []any{}},
				map[string]any{"id": "o3", "items": []any{"z"}},
			},
		}, Raw: `{"name":"顧客542","age":62,"small":-542,"score":542.5,"ratio":0.25,"active":true,` +
			`"signed_up":"2024-01-24T17:04:05.006Z","seen":"2024-06-01T00:00:00.123456Z","birthday":"1990-04-01T00:00:00Z",` +
			`"email":"c542@example.com","points":5420,"tags":["a","b542"],"address":{"city":"東京","zip":"100-0001"},` +
			`"attrs":{"tier":"gold"},"blob":"/wA=","phones":["03-1234-5678"],` +
			`"orders":[{"id":"o1","items":["x","y"]},{"id":"o2","items":[]},{"id":"o3","items":["z"]}]}`},
	}
	for number, w := range want {
		g := got[number-1]
		if !reflect.DeepEqual(g.Fields, w.Fields) {
			t.Errorf("row %d fields:\n got %#v\nwant %#v", number, g.Fields, w.Fields)
		}
		if g.Raw != w.Raw {
			t.Errorf("row %d raw:\n got %s\nwant %s", number, g.Raw, w.Raw)
		}
	}
}

func TestParquetReaderEmpty(t *testing.T) {
	rr, err := OpenFile(writeParquetTestFile(t, nil), Format{Type: FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rr.Close() }()
	if _, err := rr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("got %v, want io.EOF", err)
	}
}

// TestParquetReaderLogicalTypes covers the column types that struct tags do not write: decimals,
// unsigned integers, UUIDs, times, JSON and legacy INT96 timestamps.
func TestParquetReaderLogicalTypes(t *testing.T) {
	schema := parquet.NewSchema("row", parquet.Group{
		"dec2":   parquet.Decimal(2, 9, parquet.Int32Type),
		"dec18":  parquet.Decimal(4, 18, parquet.Int64Type),
		"dec30":  parquet.Decimal(3, 30, parquet.FixedLenByteArrayType(13)),
		"u64":    parquet.Uint(64),
		"u32":    parquet.Uint(32),
		"uuid":   parquet.UUID(),
		"tod":    parquet.Time(parquet.Millisecond),
		"json":   parquet.JSON(),
		"legacy": parquet.Leaf(parquet.Int96Type),
		"nan":    parquet.Leaf(parquet.DoubleType),
		"ts_ns":  parquet.Timestamp(parquet.Nanosecond),
	})
	negative := make([]byte, 13) // -12345 in 13 bytes of big-endian two's complement
	for i := range negative {
		negative[i] = 0xff
	}
	negative[11], negative[12] = 0xcf, 0xc7
	julianDay := int64(2440588 + 19723) // 2024-01-01
	nanosOfDay := int64(3*time.Hour + 500*time.Millisecond)
	values := map[string]parquet.Value{
		"dec2":   parquet.Int32Value(-12345),
		"dec18":  parquet.Int64Value(123456789012345678),
		"dec30":  parquet.FixedLenByteArrayValue(negative),
		"u64":    parquet.Int64Value(-1),
		"u32":    parquet.Int32Value(-1),
		"uuid":   parquet.FixedLenByteArrayValue([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}),
		"tod":    parquet.Int32Value(int32((13*time.Hour + 14*time.Minute + 15*time.Second + 16*time.Millisecond) / time.Millisecond)),
		"json":   parquet.ByteArrayValue([]byte(`{"a":1}`)),
		"legacy": parquet.Int96Value([3]uint32{uint32(nanosOfDay), uint32(nanosOfDay >> 32), uint32(julianDay)}),
		"nan":    parquet.DoubleValue(math.NaN()),
		"ts_ns":  parquet.Int64Value(1_700_000_000_123_456_789),
	}
	var row parquet.Row
	for i, path := range schema.Columns() {
		row = append(row, values[path[0]].Level(0, 0, i))
	}

	path := filepath.Join(t.TempDir(), "types.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewWriter(f, schema)
	if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	rr, err := OpenFile(path, Format{Type: FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rr.Close() }()
	got := readAll(t, rr)
	if len(got) != 1 {
		t.Fatalf("got %v, want one row", got)
	}
	fields := got[0].Fields
	if nan, ok := fields["nan"].(float64); !ok || !math.IsNaN(nan) {
		t.Errorf("nan: got %#v", fields["nan"])
	}
	delete(fields, "nan")
	want := map[string]any{
		"dec2":   -123.45,
		"dec18":  "12345678901234.5678",
		"dec30":  "-12.345",
		"u64":    uint64(math.MaxUint64),
		"u32":    int64(math.MaxUint32),
		"uuid":   "12345678-9abc-def0-0123-456789abcdef",
		"tod":    "13:14:15.016",
		"json":   `{"a":1}`,
		"legacy": time.Date(2024, 1, 1, 3, 0, 0, 5e8, time.UTC),
		"ts_ns":  time.Unix(0, 1_700_000_000_123_456_789).UTC(),
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields:\n got %#v\nwant %#v", fields, want)
	}
	if !strings.Contains(got[0].Raw, `"nan":"NaN"`) || !strings.Contains(got[0].Raw, `"dec2":-123.45`) {
		t.Errorf("raw: %s", got[0].Raw)
	}
}

func TestParquetReaderBadFiles(t *testing.T) {
	good, err := os.ReadFile(writeParquetTestFile(t, parquetTestRows(300)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"CSV", []byte("id,name\n1,Aiko\n")},
		{"truncated footer", good[:len(good)-100]},
		{"no magic at the end", good[:len(good)-4]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenFile(writeTestFile(t, "bad.parquet", tc.data), Format{Type: FormatParquet})
			if err == nil || !strings.Contains(err.Error(), "bad.parquet") {
				t.Fatalf("got %v, want an error naming the file", err)
			}
		})
	}

	// Corrupt pages: opening works (only the footer, at the end, is read), reading must end in an
	// error, not a panic or wrong rows without a word.
	corrupt := append([]byte(nil), good...)
	for i := 100; i < len(corrupt)/2; i += 7 {
		corrupt[i] ^= 0x5a
	}
	rr, err := OpenFile(writeTestFile(t, "corrupt.parquet", corrupt), Format{Type: FormatParquet})
	if err != nil {
		t.Fatalf("OpenFile with an intact footer: %v", err)
	}
	defer func() { _ = rr.Close() }()
	_, err = rr.Next()
	var rowErr *RowError
	if err == nil || errors.Is(err, io.EOF) || errors.As(err, &rowErr) || !strings.Contains(err.Error(), "read Parquet row 1") {
		t.Fatalf("Next on a corrupt page: got %v, want an error that stops reading", err)
	}
	if _, again := rr.Next(); again == nil {
		t.Errorf("Next after a fatal error returned a row")
	}

	// Damage anywhere, the footer too: never a panic, never an endless read.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		damaged := append([]byte(nil), good...)
		for range 1 + rng.IntN(8) {
			damaged[rng.IntN(len(damaged))] = byte(rng.Uint32())
		}
		rr, err := OpenFile(writeTestFile(t, "damaged.parquet", damaged), Format{Type: FormatParquet})
		if err != nil {
			continue
		}
		for i := 0; ; i++ {
			if _, err := rr.Next(); err != nil {
				break
			}
			if i > 300 {
				t.Fatal("more rows than the file has")
			}
		}
		_ = rr.Close()
	}
}

// BenchmarkParquetReader reads 20,000 rows of fifteen columns (nested ones among them) per
// iteration and reports rows/s.
func BenchmarkParquetReader(b *testing.B) {
	const rows = 20_000
	path := writeParquetTestFile(b, parquetTestRows(rows), parquet.MaxRowsPerRowGroup(10_000), parquet.PageBufferSize(256<<10))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		rr, err := OpenFile(path, Format{Type: FormatParquet})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := rr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rr.Close(); err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(b.N)*rows/time.Since(start).Seconds(), "rows/s")
}
