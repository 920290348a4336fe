package ingest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/procstat"
)

// loadDatabases counts the PostgreSQL databases the load benchmark created.
var loadDatabases int

// loadRows is the size of the generated file the load benchmarks read.
const loadRows = 1_000_000

// writeContactsCSV writes a CRM-like CSV of n rows: a key, two identifiers and six attributes.
func writeContactsCSV(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "contacts.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.WriteString("id,email,phone,last_name,first_name,prefecture,birth_date,member_since,lifetime_value\n")
	prefectures := []string{"東京都", "大阪府", "愛知県", "北海道", "福岡県"}
	for i := range n {
		fmt.Fprintf(w, "C%08d,user%d@example.co.jp,03-%04d-%04d,山田,太郎%d,%s,19%02d-%02d-%02d,2024-%02d-01,%d\n",
			i, i, i%10000, (i/10000)%10000, i%97, prefectures[i%len(prefectures)], 50+i%50, 1+i%12, 1+i%28, 1+i%12, i%100000)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

var loadMapping = Mapping{
	RecordKey:   "id",
	Identifiers: []IdentifierColumn{{Column: "email", Type: "Email"}, {Column: "phone", Type: "Phone"}},
	Attributes: []AttributeColumn{
		{Name: "last_name", Column: "last_name", Type: TypeString},
		{Name: "first_name", Column: "first_name", Type: TypeString},
		{Name: "prefecture", Column: "prefecture", Type: TypeString},
		{Name: "birth_date", Column: "birth_date", Type: TypeDate},
		{Name: "member_since", Column: "member_since", Type: TypeDate},
		{Name: "lifetime_value", Column: "lifetime_value", Type: TypeNumber},
	},
}

// BenchmarkLoadCSV loads a generated 1,000,000-row CSV into a fresh store, end to end: read,
// map, write, publish. It reports rows/s and the process's peak resident memory during the load.
func BenchmarkLoadCSV(b *testing.B) {
	path := writeContactsCSV(b, loadRows)
	stores := []struct {
		name string
		dsn  func(i int) string
	}{
		{"sqlite", func(i int) string { return "sqlite:" + filepath.Join(b.TempDir(), fmt.Sprintf("load-%d.db", i)) }},
		{"postgres", func(int) string {
			loadDatabases++ // -count runs the benchmark again: each load needs a database of its own
			name := fmt.Sprintf("load_%d", loadDatabases)
			if err := pg.CreateDatabase(name); err != nil {
				b.Fatal(err)
			}
			return pg.DSN(name)
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			var peak int64
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				st, err := store.Open(context.Background(), s.dsn(i))
				if err != nil {
					b.Fatal(err)
				}
				procstat.ResetPeakRSS()
				b.StartTimer()
				run, err := Sync(context.Background(), st, SyncConfig{
					Namespace: "bench", Source: "contacts", RunID: "run", Mode: store.SyncSnapshot,
					Input: &FileSource{Path: path, Format: Format{Type: FormatCSV, Delimiter: ',', TrimSpace: true}}, Mapping: loadMapping,
				})
				b.StopTimer()
				peak = max(peak, procstat.PeakRSS())
				if err != nil || run.RowsLoaded != loadRows {
					b.Fatalf("load: %+v, %v", run, err)
				}
				_ = st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(loadRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		})
	}
}
