package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
)

// migrationFiles holds the schema of each dialect as numbered, forward-only steps. A released step
// never changes: a change to the schema is a new file with the next number, in both folders.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads a dialect's migrations in version order and checks that they are numbered
// 1, 2, 3... with no gap, so that a missing file cannot go unnoticed.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration %s: the name must look like 0001_what_it_does.sql", path.Join(dir, e.Name()))
		}
		version, _ := strconv.Atoi(m[1])
		text, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: version, name: m[2], sql: string(text)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations of %s: expected version %d, found %04d_%s", dir, i+1, m.version, m.name)
		}
	}
	return out, nil
}

// migrationLock is the lock migrations take, so that processes starting at once apply each step
// exactly once: the second waits, then finds nothing left to do.
const migrationLock = "migrate"

// Migrate applies, in one transaction, the migrations the database has not recorded in
// schema_migrations. A database with steps this binary does not know (a newer version ran) is
// left alone: steps only add, so an older binary keeps working during a rolling upgrade.
func (s *sqlStore) Migrate(ctx context.Context) error {
	all, err := loadMigrations(migrationFiles, s.d.migrations)
	if err != nil {
		return err
	}
	return s.applyMigrations(ctx, all)
}

func (s *sqlStore) applyMigrations(ctx context.Context, all []migration) error {
	sess, err := s.b.session(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer sess.release()
	if err := sess.begin(ctx, migrationLock); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := s.migrate(ctx, sess, all); err != nil {
		return errors.Join(fmt.Errorf("migrate: %w", err), sess.rollback(ctx))
	}
	if err := sess.commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

func (s *sqlStore) migrate(ctx context.Context, q querier, all []migration) error {
	if _, err := q.exec(ctx, s.d.createMigrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, q)
	if err != nil {
		return err
	}
	insert := s.d.sql(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`)
	for _, m := range all {
		if applied[m.version] {
			continue
		}
		if _, err := q.exec(ctx, m.sql); err != nil {
			return fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := q.exec(ctx, insert, m.version, m.name, s.d.timeArg(s.now())); err != nil {
			return fmt.Errorf("record %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rs, err := q.query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rs.Close()
	applied := map[int]bool{}
	for rs.Next() {
		var v int
		if err := rs.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	return applied, rs.Err()
}
