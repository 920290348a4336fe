package store_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

func TestZZScratchSize(t *testing.T) {
	if os.Getenv("KZ_SCRATCH") == "" {
		t.Skip()
	}
	dir := t.TempDir()
	if d := os.Getenv("KZ_DIR"); d != "" {
		dir, _ = os.MkdirTemp(d, "kz")
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "k.db")
	s, err := store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	records := 1_000_000
	if n := os.Getenv("KZ_RECORDS"); n != "" {
		fmt.Sscan(n, &records)
	}
	run := store.ResolutionRun{Namespace: "bench", Resolution: "customers", RunID: "r1"}
	w, err := s.BeginPublish(t.Context(), run)
	if err != nil {
		t.Fatal(err)
	}
	p := benchProfile()
	start := time.Now()
	for i := range records / 2 {
		setBenchProfile(&p, i, records, false)
		if err := w.PutProfile(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	put := time.Since(start)
	if _, err := w.Commit(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	fmt.Println("put", put, "total", time.Since(start))
	s.Close()
	db, _ := sql.Open("sqlite", path)
	defer db.Close()
	rows, err := db.Query(`SELECT name, count(*), sum(pgsize), sum(payload), sum(unused), sum(ncell) FROM dbstat GROUP BY name ORDER BY 3 DESC`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var pages, size, payload, unused, cells int64
		rows.Scan(&name, &pages, &size, &payload, &unused, &cells)
		fmt.Printf("%-40s pages %7d size %6d MB payload %6d MB unused %5d MB cells %d\n", name, pages, size>>20, payload>>20, unused>>20, cells)
	}
}
