package store

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrationsOfBothDialectsMatch(t *testing.T) {
	sqlite, err := loadMigrations(migrationFiles, sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := loadMigrations(migrationFiles, postgresDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if len(sqlite) == 0 || !slices.Equal(names(sqlite), names(postgres)) {
		t.Errorf("migrations differ between dialects: sqlite %q, postgres %q", names(sqlite), names(postgres))
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		{"in version order", fstest.MapFS{
			"m/0002_second.sql": file("B"), "m/0001_first.sql": file("A"), "m/0003_third.sql": file("C"),
		}, []int{1, 2, 3}, ""},
		{"a gap", fstest.MapFS{"m/0001_first.sql": file("A"), "m/0003_third.sql": file("C")}, nil, "expected version 2"},
		{"not starting at 1", fstest.MapFS{"m/0002_second.sql": file("B")}, nil, "expected version 1"},
		{"two files of one version", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, nil, "expected version 2"},
		{"a name without a number", fstest.MapFS{"m/first.sql": file("A")}, nil, "0001_what_it_does.sql"},
		{"not SQL", fstest.MapFS{"m/0001_first.txt": file("A")}, nil, "0001_what_it_does.sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadMigrations(tc.files, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one that says %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.version)
			}
			if !slices.Equal(versions, tc.want) {
				t.Errorf("versions %v, want %v", versions, tc.want)
			}
		})
	}
}

// A migration that fails leaves the database as it was, steps before it included: the next start
// tries them all again.
func TestFailedMigrationChangesNothing(t *testing.T) {
	ctx := t.Context()
	s, err := openSQLite(ctx, filepath.Join(t.TempDir(), "kizuna.db"), options{clock: realClock{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []migration{
		{version: 1, name: "good", sql: "CREATE TABLE good (x INTEGER)"},
		{version: 2, name: "bad", sql: "CREATE TABLE bad (x INTEGER); INSERT INTO no_such_table VALUES (1)"},
	}
	if err := s.applyMigrations(ctx, steps); err == nil || !strings.Contains(err.Error(), "0002_bad") {
		t.Fatalf("applyMigrations = %v, want an error naming 0002_bad", err)
	}
	var tables []string
	rs, err := s.b.read().query(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rs.Close()
	if len(tables) != 0 {
		t.Errorf("tables after a failed migration: %q, want none", tables)
	}

	if err := s.applyMigrations(ctx, steps[:1]); err != nil {
		t.Fatalf("applying the good step alone: %v", err)
	}
	// A database with a step this binary does not know was migrated by a newer version: an
	// older binary, during a rolling upgrade, leaves it be.
	if err := s.applyMigrations(ctx, nil); err != nil {
		t.Fatalf("migrating a database a newer version migrated: %v", err)
	}
}
