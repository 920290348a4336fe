package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

func TestOpenRefusesUnknownSchemes(t *testing.T) {
	for _, dsn := range []string{"mysql://kizuna:s3cret@db/kizuna", "kizuna.db", "", "file:kizuna.db", "sqlite:"} {
		s, err := store.Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): the error shows the password: %v", dsn, err)
		}
	}
}

func TestOpenPostgresErrorsHideThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://kizuna:s3cret@127.0.0.1:notaport/kizuna",
		"postgresql://kizuna:s3cret@127.0.0.1:1/kizuna?connect_timeout=5",
	} {
		s, err := store.Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestOpenSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	odd := filepath.Join(dir, "with space?and#hash%20")
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ dsn, file string }{
		{"sqlite:relative.db", filepath.Join(dir, "relative.db")},
		{"sqlite://relative2.db", filepath.Join(dir, "relative2.db")},
		{"sqlite:" + filepath.Join(dir, "absolute.db"), filepath.Join(dir, "absolute.db")},
		{"sqlite://" + filepath.Join(dir, "absolute2.db"), filepath.Join(dir, "absolute2.db")},
		{"sqlite:" + filepath.Join(odd, "k.db"), filepath.Join(odd, "k.db")},
	}
	for _, tc := range tests {
		s, err := store.Open(t.Context(), tc.dsn)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.dsn, err)
			continue
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(tc.file); err != nil {
			t.Errorf("Open(%q) did not create %s: %v", tc.dsn, tc.file, err)
		}
	}
	if _, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "missing", "dir", "k.db")); err == nil {
		t.Error("Open in a folder that does not exist succeeded")
	}
}
