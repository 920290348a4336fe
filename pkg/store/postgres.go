package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresBatchRows rows go into one COPY: large enough that the round trip and the COPY's
// start-up cost vanish, small enough to keep a sync's buffer at a few megabytes.
const postgresBatchRows = 5000

type postgresBackend struct {
	pool *pgxpool.Pool
}

func openPostgres(ctx context.Context, dsn string, o options) (*sqlStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx leaves the password out of its parse errors.
		return nil, fmt.Errorf("open store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Connect now, so that a wrong address or password fails here rather than at the first sync.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return newSQLStore(&postgresBackend{pool: pool}, postgresDialect, o.clock), nil
}

func (b *postgresBackend) read() querier { return pgxQuerier{db: b.pool} }

// readOnly runs fn in a READ ONLY transaction, which PostgreSQL keeps from writing.
func (b *postgresBackend) readOnly(ctx context.Context, fn func(querier) error) error {
	tx, err := b.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	// Nothing to keep: the rollback only ends the transaction.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	return fn(pgxQuerier{db: tx})
}

func (b *postgresBackend) session(ctx context.Context) (session, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire a connection: %w", err)
	}
	return &postgresSession{conn: conn}, nil
}

func (b *postgresBackend) close() error {
	b.pool.Close()
	return nil
}

// pgxDB is what a pool, a connection and a transaction share.
type pgxDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgxQuerier struct{ db pgxDB }

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.db.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgxQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.db.Query(ctx, query, args...)
}

// postgresSession is one pooled connection, held for one sync or migration.
type postgresSession struct {
	conn *pgxpool.Conn
	tx   pgx.Tx
}

// querier runs on the transaction when one is open.
func (s *postgresSession) querier() pgxQuerier {
	if s.tx != nil {
		return pgxQuerier{db: s.tx}
	}
	return pgxQuerier{db: s.conn}
}

func (s *postgresSession) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return s.querier().exec(ctx, query, args...)
}

func (s *postgresSession) query(ctx context.Context, query string, args ...any) (rows, error) {
	return s.querier().query(ctx, query, args...)
}

func (s *postgresSession) begin(ctx context.Context, lock string) error {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	s.tx = tx
	if lock == noLock {
		return nil
	}
	// A transaction-level lock ends with the transaction, however it ends, even if this process
	// dies: no unlock to forget.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("kizuna", lock)); err != nil {
		return errors.Join(fmt.Errorf("wait for the lock: %w", err), s.rollback(ctx))
	}
	return nil
}

func (s *postgresSession) commit(ctx context.Context) error {
	if s.tx == nil {
		return errors.New("no transaction to commit")
	}
	err := s.tx.Commit(ctx)
	s.tx = nil
	return err
}

func (s *postgresSession) rollback(ctx context.Context) error {
	if s.tx == nil {
		return nil
	}
	// A cancelled context must not keep the transaction, and the source's lock, open.
	err := s.tx.Rollback(context.WithoutCancel(ctx))
	s.tx = nil
	return err
}

func (s *postgresSession) release() {
	// The pool destroys a connection returned inside a transaction, so a failed rollback cannot
	// leak a lock.
	_ = s.rollback(context.Background())
	s.conn.Release()
}

func (s *postgresSession) batchRows() int { return postgresBatchRows }

func (s *postgresSession) stageRecords(ctx context.Context, rows []stagedRecord) error {
	src := &copySource[stagedRecord]{rows: rows, values: func(r *stagedRecord, v []any) []any {
		return append(v, r.key, r.identifiers, r.attributes, r.hash[:])
	}}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "kizuna_stage_records"}, stageRecordColumns, src)
	return err
}

// insertRecords copies a source's first load straight into the records table.
func (s *postgresSession) insertRecords(ctx context.Context, namespace, source string, rows []stagedRecord, at any) error {
	src := &copySource[stagedRecord]{rows: rows, values: func(r *stagedRecord, v []any) []any {
		return append(v, namespace, source, r.key, r.identifiers, r.attributes, r.hash[:], at, at)
	}}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{"records"}, directRecordColumns, src)
	return err
}

func (s *postgresSession) stageEvents(ctx context.Context, rows []stagedEvent) error {
	src := &copySource[stagedEvent]{rows: rows, values: func(e *stagedEvent, v []any) []any {
		return append(v, e.id, e.eventType, e.occurredAt, e.identifierType, e.identifierValue,
			e.properties, e.receivedAt)
	}}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "kizuna_stage_events"}, stageEventColumns, src)
	return err
}

// insertRows copies rows into a table: args holds the columns of each row in turn.
func (s *postgresSession) insertRows(ctx context.Context, table string, columns []string, args []any) error {
	src := &slotCopySource{values: args, cols: len(columns), n: len(args) / len(columns)}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{table}, columns, src)
	return err
}

// insertSlotRows copies rows into a generation-scoped table.
func (s *postgresSession) insertSlotRows(ctx context.Context, t *slotTable, args []any, shared, n int) error {
	src := &slotCopySource{shared: args[:shared], values: args[shared:], cols: len(t.columns()) - shared, n: n}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns(), src)
	return err
}

// deleteSlotRows deletes rows one statement per key, all sent at once. Not one statement that
// lists the keys: right after a publish, the statistics can say the slot holds one row, and the
// planner then scans the whole slot once for each batch instead of looking each key up; a
// statement that names a whole key always uses the primary key.
func (s *postgresSession) deleteSlotRows(ctx context.Context, t *slotTable, args []any, n int) error {
	shared, keys := args[:3], args[3:]
	cols := len(t.keyColumns)
	batch := &pgx.Batch{}
	for i := range n {
		row := make([]any, 0, 3+cols)
		row = append(append(row, shared...), keys[i*cols:(i+1)*cols]...)
		batch.Queue(t.deleteKey, row...)
	}
	return s.tx.SendBatch(ctx, batch).Close()
}

func (s *postgresSession) slotBatchRows() int { return postgresBatchRows }

// identityLinks copies links into a staging table and merges them at the end, as a sync merges
// records: a rebuild deletes, updates and inserts only the links that changed, where deleting
// and inserting them all would leave the table and its index twice their size until vacuumed.
func (s *postgresSession) identityLinks(ctx context.Context, namespace, resolution string, replace bool) (linkWriter, error) {
	if _, err := s.tx.Exec(ctx, `CREATE TEMP TABLE kizuna_stage_links (
		seq              bigint NOT NULL,
		identifier_type  text COLLATE "C" NOT NULL,
		identifier_value text COLLATE "C" NOT NULL,
		profile_id       text COLLATE "C" NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create a staging table: %w", err)
	}
	return &postgresLinkWriter{s: s, namespace: namespace, resolution: resolution, replace: replace}, nil
}

type postgresLinkWriter struct {
	s                     *postgresSession
	namespace, resolution string
	replace               bool
	// staged numbers the links, so that the last of an identifier wins.
	staged int64
}

func (w *postgresLinkWriter) put(ctx context.Context, links []IdentityLink) error {
	seq := w.staged
	src := &copySource[IdentityLink]{rows: links, values: func(l *IdentityLink, v []any) []any {
		seq++
		return append(v, seq, l.Type, l.Value, l.ProfileID)
	}}
	_, err := w.s.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "kizuna_stage_links"},
		[]string{"seq", "identifier_type", "identifier_value", "profile_id"}, src)
	w.staged = seq
	return err
}

// The merge of staged links: the last link of each identifier, then the links that are gone
// (when replacing), those that changed, and those that are new.
var sqlMergeLinks = []struct{ what, query string }{
	{"keep the last link of each identifier", `CREATE TEMP TABLE kizuna_new_links AS
		SELECT DISTINCT ON (identifier_type, identifier_value) identifier_type, identifier_value, profile_id
		FROM pg_temp.kizuna_stage_links ORDER BY identifier_type, identifier_value, seq DESC`},
	{"analyze the links", `ANALYZE pg_temp.kizuna_new_links`},
	{"delete the links that are gone", `DELETE FROM identity_links AS l
		WHERE l.namespace = $1 AND l.resolution = $2 AND $3 AND NOT EXISTS (
			SELECT 1 FROM pg_temp.kizuna_new_links AS n
			WHERE n.identifier_type = l.identifier_type AND n.identifier_value = l.identifier_value)`},
	{"update the links that changed", `UPDATE identity_links AS l SET profile_id = n.profile_id
		FROM pg_temp.kizuna_new_links AS n
		WHERE l.namespace = $1 AND l.resolution = $2 AND l.identifier_type = n.identifier_type
			AND l.identifier_value = n.identifier_value AND l.profile_id <> n.profile_id`},
	{"insert the new links", `INSERT INTO identity_links (` + identityLinkColumns + `)
		SELECT $1, $2, n.identifier_type, n.identifier_value, n.profile_id FROM pg_temp.kizuna_new_links AS n
		WHERE NOT EXISTS (SELECT 1 FROM identity_links AS l
			WHERE l.namespace = $1 AND l.resolution = $2
				AND l.identifier_type = n.identifier_type AND l.identifier_value = n.identifier_value)`},
	{"drop the staging tables", `DROP TABLE pg_temp.kizuna_stage_links, pg_temp.kizuna_new_links`},
}

func (w *postgresLinkWriter) finish(ctx context.Context) error {
	for _, step := range sqlMergeLinks {
		var args []any
		switch {
		case strings.Contains(step.query, "$3"):
			args = []any{w.namespace, w.resolution, w.replace}
		case strings.Contains(step.query, "$1"):
			args = []any{w.namespace, w.resolution}
		}
		if _, err := w.s.tx.Exec(ctx, step.query, args...); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
	}
	return nil
}

// slotCopySource feeds COPY the rows of insertSlotRows, each led by the shared columns.
type slotCopySource struct {
	shared, values []any
	cols, n, next  int
	buf            []any
}

func (c *slotCopySource) Next() bool {
	c.next++
	return c.next <= c.n
}

func (c *slotCopySource) Values() ([]any, error) {
	row := c.values[(c.next-1)*c.cols : c.next*c.cols]
	c.buf = append(append(c.buf[:0], c.shared...), row...)
	return c.buf, nil
}

func (c *slotCopySource) Err() error { return nil }

// copySource feeds a batch to COPY without building a [][]any of it.
type copySource[T any] struct {
	rows   []T
	next   int
	buf    []any
	values func(*T, []any) []any
}

func (c *copySource[T]) Next() bool {
	c.next++
	return c.next <= len(c.rows)
}

func (c *copySource[T]) Values() ([]any, error) {
	c.buf = c.values(&c.rows[c.next-1], c.buf[:0])
	return c.buf, nil
}

func (c *copySource[T]) Err() error { return nil }
