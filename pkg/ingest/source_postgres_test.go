package ingest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

func sourceDatabase(t *testing.T, name string, statements ...string) string {
	t.Helper()
	if err := pg.CreateDatabase(name); err != nil {
		t.Fatal(err)
	}
	dsn := pg.DSN(name)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	for _, s := range statements {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return dsn
}

func TestPostgresSourceReadsIncrementallyThroughItsCursor(t *testing.T) {
	dsn := sourceDatabase(t, "orders_src",
		`CREATE TABLE orders (order_id text PRIMARY KEY, email text, amount numeric(10,2), ordered_at timestamptz)`,
		`INSERT INTO orders VALUES ('O-1', 'a@example.jp', 3980.00, '2026-11-01T10:00:00+09:00'),
		                           ('O-2', 'b@example.jp', 1200.50, '2026-11-02T10:00:00+09:00')`)
	st := openStore(t)
	cfg := SyncConfig{
		Namespace: "shop", Source: "orders", Events: true, Mode: store.SyncAppend, Now: clock,
		Mapping: Mapping{Event: &EventColumns{
			Type: "purchase", IDColumn: "order_id",
			Timestamp:  AttributeColumn{Column: "ordered_at", Type: TypeTimestamp},
			Identifier: IdentifierColumn{Column: "email", Type: "Email"},
			Properties: []AttributeColumn{{Name: "amount", Column: "amount", Type: TypeNumber}},
		}},
	}
	source := func() *PostgresSource {
		return &PostgresSource{DSN: dsn, CursorColumn: "ordered_at",
			Query: `SELECT * FROM orders WHERE ($1::timestamptz IS NULL OR ordered_at > $1) ORDER BY ordered_at`}
	}

	cfg.RunID, cfg.Input = "run-1", source()
	first, err := Sync(context.Background(), st, cfg)
	if err != nil || first.Status != store.SyncSucceeded || first.Inserted != 2 {
		t.Fatalf("first sync: %+v, %v", first, err)
	}
	state, err := st.SourceState(context.Background(), "shop", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if state.Cursor != "2026-11-02T01:00:00Z" {
		t.Errorf("cursor = %q, want the latest ordered_at", state.Cursor)
	}

	sourceDatabaseExec(t, dsn, `INSERT INTO orders VALUES ('O-3', 'c@example.jp', 500, '2026-11-03T10:00:00+09:00')`)
	cfg.RunID, cfg.Input = "run-2", source()
	second, err := Sync(context.Background(), st, cfg)
	if err != nil || second.RowsRead != 1 || second.Inserted != 1 {
		t.Fatalf("second sync: %+v, %v; want only the new order read", second, err)
	}
	var amounts []string
	_ = st.ScanEvents(context.Background(), "shop", "orders", func(e store.Event) error {
		amounts = append(amounts, text(e.Properties["amount"]))
		return nil
	})
	if strings.Join(amounts, ",") != "3980,1200.5,500" {
		t.Errorf("amounts %v", amounts)
	}
}

func sourceDatabaseExec(t *testing.T, dsn, statement string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(context.Background(), statement); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresSourceQueryRunsReadOnlyAndHidesThePassword(t *testing.T) {
	dsn := sourceDatabase(t, "readonly_src", `CREATE TABLE contacts (id text, email text)`)
	st := openStore(t)
	cfg := recordsConfig("run-1", &PostgresSource{DSN: dsn, Query: `INSERT INTO contacts VALUES ('1', 'x') RETURNING *`})
	run, err := Sync(context.Background(), st, cfg)
	if err != nil || run.Status != store.SyncFailed || !strings.Contains(run.Message, "read-only") {
		t.Errorf("a writing query: %+v, %v; want a Failed run saying the transaction is read-only", run, err)
	}

	bad := "postgres://kizuna:hunter2@127.0.0.1:1/nowhere?connect_timeout=2"
	run, err = Sync(context.Background(), st, recordsConfig("run-2", &PostgresSource{DSN: bad, Query: "SELECT 1"}))
	if err == nil || strings.Contains(run.Message, "hunter2") {
		t.Errorf("an unreachable database: %+v, %v; want a retryable error and no password in the message", run, err)
	}
}
