package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// appliedMigration is a row of schema_migrations.
type appliedMigration struct {
	version   int
	name      string
	appliedAt string
}

// migrationFiles lists the migrations of a dialect as the files name them.
func migrationFiles(t *testing.T, dialect string) []appliedMigration {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("migrations", dialect))
	if err != nil {
		t.Fatal(err)
	}
	var out []appliedMigration
	for i, e := range entries {
		name := strings.TrimSuffix(e.Name()[len("0001_"):], ".sql")
		out = append(out, appliedMigration{version: i + 1, name: name})
	}
	return out
}

// checkSchemaMigrations opens a store on an empty database, then again, and checks that every
// migration was recorded exactly once, by the first Open.
func checkSchemaMigrations(t *testing.T, dsn, dialect string, read func(t *testing.T) []appliedMigration) {
	for range 2 {
		s, err := store.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		first := read(t)
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		again := read(t)
		if !slices.Equal(first, again) {
			t.Fatalf("Migrate changed schema_migrations from %v to %v", first, again)
		}
		want := migrationFiles(t, dialect)
		if len(again) != len(want) {
			t.Fatalf("schema_migrations holds %v, want the %d migrations of %s", again, len(want), dialect)
		}
		for i := range want {
			if again[i].version != want[i].version || again[i].name != want[i].name || again[i].appliedAt == "" {
				t.Errorf("schema_migrations row %d = %+v, want %+v with a time", i, again[i], want[i])
			}
		}
	}
}

func TestSQLiteRecordsAppliedMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kizuna.db")
	checkSchemaMigrations(t, "sqlite:"+path, "sqlite", func(t *testing.T) []appliedMigration {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(t.Context(), "SELECT version, name, CAST(applied_at AS TEXT) FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []appliedMigration
		for rows.Next() {
			var m appliedMigration
			if err := rows.Scan(&m.version, &m.name, &m.appliedAt); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	})
}

func TestPostgresRecordsAppliedMigrations(t *testing.T) {
	dsn := newPostgresDatabase(t)
	checkSchemaMigrations(t, dsn, "postgres", func(t *testing.T) []appliedMigration {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, "SELECT version, name, applied_at::text FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (appliedMigration, error) {
			var m appliedMigration
			err := r.Scan(&m.version, &m.name, &m.appliedAt)
			return m, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
}
