package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Clock tells the store what time it is. k8s.io/utils/clock's clocks satisfy it; tests pass a fake
// one so that times written by a sync are known in advance.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Option changes how Open sets up a store.
type Option func(*options)

type options struct {
	clock Clock
}

// WithClock makes the store read the time from c instead of the system clock.
func WithClock(c Clock) Option {
	return func(o *options) { o.clock = c }
}

// Open connects to the store named by dsn and applies the migrations it lacks (Migrate), so a
// returned store always has the schema this binary expects.
//
//   - sqlite:PATH or sqlite://PATH: a SQLite file, created when missing.
//   - sqlite::memory: a private database that Close removes. It lives in a temporary file rather
//     than in SQLite's memory mode, so that readers see the last commit while a sync writes, as
//     they do with a file.
//   - postgres://... or postgresql://...: a PostgreSQL database, in pgx's connection string
//     format (pool_max_conns and the other pgxpool settings included).
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := options{clock: realClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	var (
		s   *sqlStore
		err error
	)
	switch scheme, rest, _ := strings.Cut(dsn, ":"); scheme {
	case "sqlite":
		s, err = openSQLite(ctx, sqlitePath(rest), o)
	case "postgres", "postgresql":
		s, err = openPostgres(ctx, dsn, o)
	default:
		// The rest of a DSN may hold a password: never repeat it.
		if !strings.Contains(dsn, ":") {
			scheme = ""
		}
		return nil, fmt.Errorf("open store: unsupported DSN scheme %q: use sqlite:PATH, sqlite::memory: or postgres://USER@HOST/DATABASE", scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// sqlitePath reads the part of a sqlite DSN after "sqlite:": "//PATH" and "PATH" both name PATH,
// so sqlite:///var/lib/kizuna.db and sqlite:/var/lib/kizuna.db are the same file.
func sqlitePath(rest string) string {
	if p, ok := strings.CutPrefix(rest, "//"); ok {
		return p
	}
	return rest
}
