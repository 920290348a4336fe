package segment

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// pg is the PostgreSQL server of this package's tests, started once by TestMain.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// The namespace, resolution and slot the test profiles are published in. The fixtures hold
// rows of other namespaces, resolutions and slots too, which no query may see.
const (
	testNamespace  = "shop"
	testResolution = "customers"
	testSlot       = 1
)

// database is a store's database, migrated by store.Open and then opened with database/sql to
// write fixtures directly and run compiled queries.
type database struct {
	dialect Dialect
	db      *sql.DB
}

var databases atomic.Int64

// openDatabases returns a migrated SQLite database and a migrated PostgreSQL database.
func openDatabases(t testing.TB) []*database {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kizuna.db")
	pgName := fmt.Sprintf("segment_%d", databases.Add(1))
	if err := pg.CreateDatabase(pgName); err != nil {
		t.Fatal(err)
	}
	var out []*database
	for _, d := range []struct {
		dialect          Dialect
		storeDSN, driver string
		dsn              string
	}{
		{SQLite, "sqlite:" + path, "sqlite", "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)"},
		{PostgreSQL, pg.DSN(pgName), "pgx", pg.DSN(pgName)},
	} {
		st, err := store.Open(ctx, d.storeDSN)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open(d.driver, d.dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		out = append(out, &database{dialect: d.dialect, db: db})
	}
	return out
}

// timeArg is a time as the event and member columns hold it.
func (d *database) timeArg(t time.Time) any {
	if d.dialect == SQLite {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// write stores a dataset as the published profiles of testNamespace/testResolution, with the
// noise of other namespaces, resolutions and slots around it (see noise).
func (d *database) write(t testing.TB, data Dataset) {
	t.Helper()
	ctx := context.Background()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	profiles := func(namespace, resolution string, slot int64, ps []Profile) {
		for _, p := range ps {
			exec(`INSERT INTO profiles (namespace, resolution, slot, profile_id, created_generation, identifiers, attributes, records, content_hash)
				VALUES ($1, $2, $3, $4, 1, `+d.jsonArg(5)+`, `+d.jsonArg(6)+`, '{}', 0)`,
				namespace, resolution, slot, p.ID, encodeJSON(t, p.Identifiers), encodeJSON(t, p.Attributes))
		}
	}
	events := func(namespace string, es []Event) {
		for i, e := range es {
			received := e.ReceivedAt
			if received.IsZero() {
				received = e.OccurredAt
			}
			exec(`INSERT INTO events (namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, received_at)
				VALUES ($1, 'tracker', $2, $3, $4, $5, $6, `+d.jsonArg(7)+`, $8)`,
				namespace, fmt.Sprintf("e%06d", i), e.Type, d.timeArg(e.OccurredAt), e.IdentifierType, e.IdentifierValue,
				encodeJSON(t, e.Properties), d.timeArg(received))
		}
	}
	links := func(namespace, resolution string, ls map[[2]string]string) {
		for id, profile := range ls {
			exec(`INSERT INTO identity_links (namespace, resolution, identifier_type, identifier_value, profile_id) VALUES ($1, $2, $3, $4, $5)`,
				namespace, resolution, id[0], id[1], profile)
		}
	}
	members := func(namespace string, ms map[string][]string) {
		for segment, ids := range ms {
			for _, id := range ids {
				exec(`INSERT INTO segment_members (namespace, segment, profile_id, entered_at) VALUES ($1, $2, $3, $4)`,
					namespace, segment, id, d.timeArg(time.Unix(0, 0)))
			}
		}
	}
	profiles(testNamespace, testResolution, testSlot, data.Profiles)
	events(testNamespace, data.Events)
	links(testNamespace, testResolution, data.Links)
	members(testNamespace, data.Members)

	n := noise(data)
	profiles(testNamespace, testResolution, 1-testSlot, n.Profiles)
	profiles("other", testResolution, testSlot, n.Profiles)
	profiles(testNamespace, "other", testSlot, n.Profiles)
	events("other", n.Events)
	links("other", testResolution, n.Links)
	links(testNamespace, "other", n.Links)
	members("other", n.Members)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// noise is data that would change every answer were it seen: profiles like every profile of
// data under other IDs, an event of every type with every property for each identifier, linked
// to the first profile, and every profile a member of every segment.
func noise(data Dataset) Dataset {
	var n Dataset
	for _, p := range data.Profiles {
		n.Profiles = append(n.Profiles, Profile{ID: "noise-" + p.ID, Identifiers: p.Identifiers, Attributes: p.Attributes})
	}
	n.Links = map[[2]string]string{}
	n.Members = map[string][]string{}
	for _, e := range data.Events {
		n.Events = append(n.Events, e)
		if len(data.Profiles) > 0 {
			n.Links[[2]string{e.IdentifierType, e.IdentifierValue}] = data.Profiles[0].ID
		}
	}
	for segment := range data.Members {
		for _, p := range data.Profiles {
			n.Members[segment] = append(n.Members[segment], p.ID)
		}
	}
	return n
}

// jsonArg is the placeholder of a JSON parameter.
func (d *database) jsonArg(i int) string {
	if d.dialect == PostgreSQL {
		return fmt.Sprintf("$%d::jsonb", i)
	}
	return fmt.Sprintf("$%d", i)
}

// encodeJSON writes a map as the store does (pkg/store/codec.go): a time becomes
// {"$time": "<UTC, nine fraction digits>"}, HTML characters stay as they are.
func encodeJSON[V any](t testing.TB, m map[string]V) string {
	t.Helper()
	tagged := map[string]any{}
	for k, v := range m {
		if tm, ok := any(v).(time.Time); ok {
			tagged[k] = map[string]string{"$time": tm.UTC().Format(storedTimeLayout)}
			continue
		}
		tagged[k] = v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tagged); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

// query runs a compiled query and returns the profile IDs it selects, in the order it returns
// them. wrapped runs the query as the store does, inside
// SELECT * FROM (...).
func (d *database) query(t testing.TB, q Query, wrapped bool) []string {
	t.Helper()
	text := q.SQL
	if wrapped {
		text = "SELECT * FROM (\n" + text + "\n) AS q"
	}
	rows, err := d.db.QueryContext(context.Background(), text, q.Args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s\nargs: %v", d.dialect, err, q.SQL, q.Args)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v\n%s", d.dialect, err, q.SQL)
	}
	return ids
}
