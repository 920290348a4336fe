package store_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

func TestZZScratchPage(t *testing.T) {
	if os.Getenv("KZ_SCRATCH") == "" {
		t.Skip()
	}
	path := filepath.Join(t.TempDir(), "k.db")
	s, err := store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, _ := sql.Open("sqlite", path)
	defer db.Close()
	var ps int
	db.QueryRow("PRAGMA page_size").Scan(&ps)
	fmt.Println("page size", ps)
}
