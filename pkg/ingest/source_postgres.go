package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// PostgresSource runs a query against a PostgreSQL database. With a cursor column it reads only
// rows newer than the last sync: the query gets the largest cursor value read so far as $1 (NULL
// on the first sync), e.g.
//
//	SELECT * FROM orders WHERE ($1::timestamptz IS NULL OR ordered_at > $1) ORDER BY ordered_at
type PostgresSource struct {
	DSN          string
	Query        string
	CursorColumn string

	state  store.SourceState
	cursor any
}

// Open implements Source.
func (s *PostgresSource) Open(ctx context.Context, prev store.SourceState) (RowReader, error) {
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		return nil, &SourceError{Reason: ReasonSourceUnavailable, Temporary: true,
			Message: fmt.Sprintf("connect to the source database: %v", redact(err, s.DSN))}
	}
	var args []any
	if s.CursorColumn != "" {
		if prev.Cursor == "" {
			args = append(args, nil)
		} else {
			args = append(args, prev.Cursor)
		}
	}
	s.state = prev
	// A read-only transaction: the query cannot change the source database, whatever it says.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		_ = conn.Close(ctx)
		return nil, &SourceError{Reason: ReasonSourceUnavailable, Temporary: true, Message: fmt.Sprintf("begin a read-only transaction: %v", err)}
	}
	rows, err := tx.Query(ctx, s.Query, args...)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, &SourceError{Reason: ReasonUnreadableSource, Message: fmt.Sprintf("run the query: %v", err)}
	}
	return &postgresRows{ctx: ctx, conn: conn, tx: tx, rows: rows, source: s}, nil
}

// State implements Source.
func (s *PostgresSource) State() store.SourceState { return s.state }

func (s *PostgresSource) String() string { return "PostgreSQL query" }

// redact removes the connection string (and its password) from an error message.
func redact(err error, dsn string) string {
	return strings.ReplaceAll(err.Error(), dsn, "<connection string>")
}

type postgresRows struct {
	ctx    context.Context
	conn   *pgx.Conn
	tx     pgx.Tx
	rows   pgx.Rows
	source *PostgresSource
	n      int64
}

func (r *postgresRows) Next() (*Row, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, &SourceError{Reason: ReasonUnreadableSource, Message: fmt.Sprintf("read the query's rows: %v", err)}
		}
		return nil, io.EOF
	}
	values, err := r.rows.Values()
	r.n++
	if err != nil {
		return nil, &RowError{Row: r.n, Reason: err.Error()}
	}
	fields := make(map[string]any, len(values))
	for i, fd := range r.rows.FieldDescriptions() {
		fields[fd.Name] = plainValue(values[i])
	}
	raw, _ := json.Marshal(fields)
	if col := r.source.CursorColumn; col != "" {
		if v, ok := fields[col]; ok && v != nil && cursorLess(r.source.cursor, v) {
			r.source.cursor = v
			r.source.state.Cursor = cursorText(v)
		}
	}
	return &Row{Number: r.n, Fields: fields, Raw: string(raw)}, nil
}

func (r *postgresRows) Close() error {
	r.rows.Close()
	_ = r.tx.Rollback(r.ctx)
	return r.conn.Close(r.ctx)
}

// plainValue turns driver values into the kinds the mapping reads.
func plainValue(v any) any {
	switch x := v.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case [16]byte: // uuid
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case pgtype.Numeric:
		if f, err := x.Float64Value(); err == nil && f.Valid {
			return f.Float64
		}
		return nil
	}
	return v
}

// cursorLess compares cursor values of the same column.
func cursorLess(current, v any) bool {
	if current == nil {
		return true
	}
	switch c := current.(type) {
	case time.Time:
		t, ok := v.(time.Time)
		return ok && t.After(c)
	case int64:
		n, ok := v.(int64)
		return ok && n > c
	case float64:
		f, ok := v.(float64)
		return ok && f > c
	}
	return fmt.Sprint(v) > fmt.Sprint(current)
}

func cursorText(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
