package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// The SQLite driver: pure Go, so the binary needs no C toolchain or shared library.
	_ "modernc.org/sqlite"
)

// SQLite settings, applied to every connection:
//   - WAL lets readers work while a sync writes, and makes a commit cheap;
//   - synchronous=NORMAL is safe with WAL (a power cut may lose the last commits, never corrupt);
//   - busy_timeout makes a writer of another process wait for the write lock rather than fail;
//     writers of one process queue for the one writer connection instead;
//   - foreign_keys is off by default in SQLite;
//   - journal_size_limit shrinks the WAL back after a large sync has been checkpointed;
//   - page_size (set when the file is created) of 16 KiB suits rows of several hundred bytes:
//     against 4 KiB, a publish of profiles takes a tenth less CPU, a load of records as much or
//     less.
//
// WAL is set apart (sqliteDSN): the driver runs this list in alphabetical order, and a file
// takes its page size when it switches to WAL, so journal_mode in the list made every file 4 KiB.
//
// The writer does not checkpoint the WAL itself (wal_autocheckpoint=0): a goroutine does, on a
// reader connection, after each commit, so that a sync's Commit does not wait for the copy into
// the database file and its fsync.
var sqlitePragmas = []string{
	"busy_timeout(60000)",
	"page_size(16384)",
	"synchronous(NORMAL)",
	"foreign_keys(1)",
	"journal_size_limit(67108864)",
}

// Page cache per connection, for the database and for its temporary tables, in KiB (negative in
// SQLite's terms). The writer's larger cache keeps a sync's staging and merge in memory for
// longer; both are bounds, not allocations.
const (
	sqliteWriterCacheKiB = 65536
	sqliteReaderCacheKiB = 8192
	sqliteReaders        = 8
	// sqliteBatchRows rows are buffered, then staged by a goroutine of their own, in one
	// multi-row INSERT, while the next batch fills. 500 rows of 7 columns stay well under
	// SQLite's limit of 32766 parameters per statement, and a batch this small is still in the
	// CPU's caches when it is inserted: larger ones load measurably slower.
	sqliteBatchRows = 500
)

type sqliteBackend struct {
	// writer has one connection: a sync or migration holds it from start to end, and the next
	// one waits for it, honouring its context.
	writer *sql.DB
	reader *sql.DB
	// tempDir is removed by close: the folder of a sqlite::memory: database.
	tempDir string
	// checkpoint asks the checkpointer goroutine for a checkpoint; checkpointerDone is closed
	// when it has stopped.
	checkpoint       chan struct{}
	checkpointerDone chan struct{}
	// repeated are the statements sessions prepare once (repeat), on the driver connection
	// repeatedOn; only the session that holds the writer uses them.
	repeated   map[string]driver.Stmt
	repeatedOn any
}

func openSQLite(ctx context.Context, path string, o options) (*sqlStore, error) {
	b := &sqliteBackend{}
	if path == ":memory:" {
		dir, err := os.MkdirTemp("", "kizuna-store-")
		if err != nil {
			return nil, fmt.Errorf("open store: create a temporary folder for sqlite::memory: %w", err)
		}
		b.tempDir = dir
		path = filepath.Join(dir, "kizuna.db")
	}
	if path == "" {
		return nil, errors.New("open store: the sqlite DSN names no file: use sqlite:PATH")
	}
	var err error
	if b.writer, err = sql.Open("sqlite", sqliteDSN(path, sqliteWriterCacheKiB, false)); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), b.close())
	}
	b.writer.SetMaxOpenConns(1)
	b.writer.SetMaxIdleConns(1)
	b.writer.SetConnMaxLifetime(0)
	b.writer.SetConnMaxIdleTime(0)
	// Connect now, so that a wrong path fails here rather than at the first sync.
	if err := b.writer.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), b.close())
	}
	if b.reader, err = sql.Open("sqlite", sqliteDSN(path, sqliteReaderCacheKiB, true)); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), b.close())
	}
	b.reader.SetMaxOpenConns(sqliteReaders)
	b.reader.SetMaxIdleConns(sqliteReaders)
	b.checkpoint = make(chan struct{}, 1)
	b.checkpointerDone = make(chan struct{})
	go b.checkpointer()
	return newSQLStore(b, sqliteDialect, o.clock), nil
}

// checkpointer copies committed pages from the WAL into the database file when asked. A
// checkpoint that fails, or cannot finish because readers still use old pages, is tried again
// after the next commit.
func (b *sqliteBackend) checkpointer() {
	defer close(b.checkpointerDone)
	for range b.checkpoint {
		_, _ = b.reader.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		// Commits that come in the pause share the next checkpoint. A delivery commits the
		// outcomes of a few messages at a time, hundreds of times a second: a checkpoint per
		// commit rewrote the same pages each time and took a third of its CPU.
		time.Sleep(checkpointPause)
	}
}

// checkpointPause is the least time between two checkpoints.
const checkpointPause = 100 * time.Millisecond

// committed asks for a checkpoint, unless one is asked for already.
func (b *sqliteBackend) committed() {
	select {
	case b.checkpoint <- struct{}{}:
	default:
	}
}

// sqliteDSN is the modernc.org/sqlite connection string of a file: a file: URI, so that any
// character in the path is escaped, with the pragmas every connection runs when it opens.
func sqliteDSN(path string, cacheKiB int, readOnly bool) string {
	q := url.Values{}
	for _, p := range sqlitePragmas {
		q.Add("_pragma", p)
	}
	if !readOnly {
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	// After the _pragma list, page_size included.
	q.Set("_journal_mode", "WAL")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	q.Add("_pragma", fmt.Sprintf("temp.cache_size(-%d)", cacheKiB))
	if readOnly {
		// Readers cannot write by mistake; writes go through the one writer connection.
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

func (b *sqliteBackend) read() querier { return sqlQuerier{db: b.reader} }

// readOnly reads on the reader connections, which run with query_only.
func (b *sqliteBackend) readOnly(_ context.Context, fn func(querier) error) error {
	return fn(b.read())
}

func (b *sqliteBackend) session(ctx context.Context) (session, error) {
	conn, err := b.writer.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for the writer connection: %w", err)
	}
	return &sqliteSession{
		sqlQuerier: sqlQuerier{db: conn}, backend: b, conn: conn, stmts: map[string]*sql.Stmt{},
		slotInserts: map[slotInsertKey]string{}, driverStmts: map[string]driver.Stmt{}, committed: b.committed,
	}, nil
}

func (b *sqliteBackend) close() error {
	if b.checkpoint != nil {
		close(b.checkpoint)
		<-b.checkpointerDone
	}
	if b.writer != nil {
		b.closeRepeated()
	}
	var errs []error
	for _, db := range []*sql.DB{b.reader, b.writer} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if b.tempDir != "" {
		errs = append(errs, os.RemoveAll(b.tempDir))
	}
	return errors.Join(errs...)
}

// sqlDB is what *sql.DB and *sql.Conn share.
type sqlDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type sqlQuerier struct{ db sqlDB }

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// sqliteSession is the writer connection, held for one sync or migration.
type sqliteSession struct {
	sqlQuerier
	backend *sqliteBackend
	conn    *sql.Conn
	inTx    bool
	// stmts caches the multi-row INSERTs of a sync by their SQL; they are closed before the
	// transaction ends, because SQLite cannot drop a table that a statement still uses.
	stmts map[string]*sql.Stmt
	args  []any
	// slotInserts caches the text of the multi-row INSERTs (and DELETEs) of a publish,
	// driverStmts their statements, prepared on the driver's connection.
	slotInserts map[slotInsertKey]string
	driverStmts map[string]driver.Stmt
	named       []driver.NamedValue
	// committed is called after each commit.
	committed func()
}

func (s *sqliteSession) begin(ctx context.Context, _ string) error {
	// IMMEDIATE takes the write lock now, so that two processes serialize here instead of failing
	// later when a reader transaction tries to become a writer.
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		if ctx.Err() != nil {
			// The wait for another process's write lock ended with the context.
			return fmt.Errorf("begin: %w: %w", ctx.Err(), err)
		}
		return fmt.Errorf("begin: %w", err)
	}
	s.inTx = true
	return nil
}

func (s *sqliteSession) commit(ctx context.Context) error {
	s.closeStmts()
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	s.inTx = false
	s.committed()
	return nil
}

func (s *sqliteSession) rollback(ctx context.Context) error {
	s.closeStmts()
	if !s.inTx {
		return nil
	}
	// Without a live context the rollback could not run, and the writer connection would go
	// back to the pool inside a transaction.
	if _, err := s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		return err
	}
	s.inTx = false
	return nil
}

func (s *sqliteSession) closeStmts() {
	for k, st := range s.stmts {
		_ = st.Close()
		delete(s.stmts, k)
	}
	if len(s.driverStmts) > 0 {
		_ = s.conn.Raw(func(any) error {
			for k, st := range s.driverStmts {
				_ = st.Close()
				delete(s.driverStmts, k)
			}
			return nil
		})
	}
}

func (s *sqliteSession) release() {
	ctx := context.Background()
	if err := s.rollback(ctx); err != nil {
		// A connection whose state is unknown must not serve the next sync. Its prepared
		// statements are finalized first, or SQLite would keep the closed connection open.
		_ = s.conn.Raw(func(dc any) error {
			if b := s.backend; b.repeatedOn == dc {
				for _, st := range b.repeated {
					_ = st.Close()
				}
				b.repeated, b.repeatedOn = nil, nil
			}
			return driver.ErrBadConn
		})
	}
	_ = s.conn.Close()
}

func (s *sqliteSession) batchRows() int { return sqliteBatchRows }

func (s *sqliteSession) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// repeat returns a statement prepared on the writer's connection, once for the life of the
// connection: a transaction of a few outcomes would otherwise spend a fifth of its time
// preparing them again. It runs on the driver's connection directly, as execDriver does.
func (s *sqliteSession) repeat(ctx context.Context, query string) (statement, error) {
	var st driver.Stmt
	err := s.conn.Raw(func(dc any) error {
		b := s.backend
		if b.repeatedOn != dc {
			// A new connection (the last one was discarded): the statements died with it.
			b.repeated, b.repeatedOn = map[string]driver.Stmt{}, dc
		}
		if st = b.repeated[query]; st != nil {
			return nil
		}
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the SQLite driver cannot prepare statements with a context")
		}
		var err error
		if st, err = prep.PrepareContext(ctx, query); err != nil {
			return err
		}
		b.repeated[query] = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	cs, ok := st.(contextStmt)
	if !ok {
		return nil, fmt.Errorf("the SQLite driver cannot run statements with a context")
	}
	return &driverStatement{conn: s.conn, st: cs}, nil
}

// closeRepeated finalizes the statements of repeat, before the database closes.
func (b *sqliteBackend) closeRepeated() {
	if len(b.repeated) == 0 {
		return
	}
	conn, err := b.writer.Conn(context.Background())
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	_ = conn.Raw(func(dc any) error {
		if dc == b.repeatedOn {
			for _, st := range b.repeated {
				_ = st.Close()
			}
		}
		return nil
	})
	b.repeated = nil
}

// driverStatement runs a statement of repeat. A query reads its rows at once, while it holds the
// driver's connection: they are the few rows of a RETURNING clause.
type driverStatement struct {
	conn  *sql.Conn
	st    contextStmt
	named []driver.NamedValue
}

// contextStmt is a driver's statement that runs with a context, as modernc.org/sqlite's do.
type contextStmt interface {
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (p *driverStatement) bind(args []any) ([]driver.NamedValue, error) {
	p.named = p.named[:0]
	for i, a := range args {
		if !driver.IsValue(a) {
			// As database/sql would: an int becomes an int64, a nil pointer NULL.
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return nil, fmt.Errorf("parameter %d: %w", i+1, err)
			}
			a = v
		}
		p.named = append(p.named, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	return p.named, nil
}

func (p *driverStatement) exec(ctx context.Context, args ...any) (int64, error) {
	named, err := p.bind(args)
	if err != nil {
		return 0, err
	}
	var n int64
	err = p.conn.Raw(func(any) error {
		res, err := p.st.ExecContext(ctx, named)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (p *driverStatement) query(ctx context.Context, args ...any) (rows, error) {
	named, err := p.bind(args)
	if err != nil {
		return nil, err
	}
	var out valueRows
	err = p.conn.Raw(func(any) error {
		rs, err := p.st.QueryContext(ctx, named)
		if err != nil {
			return err
		}
		defer func() { _ = rs.Close() }()
		for {
			row := make([]driver.Value, len(rs.Columns()))
			if err := rs.Next(row); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			out.rows = append(out.rows, row)
		}
	})
	if err != nil {
		return nil, err
	}
	out.next = -1
	return &out, nil
}

// valueRows are rows read from the driver, scanned as database/sql would for the types the
// store reads: strings, integers, and scanners such as nullTime.
type valueRows struct {
	rows [][]driver.Value
	next int
}

func (r *valueRows) Next() bool {
	r.next++
	return r.next < len(r.rows)
}

func (r *valueRows) Scan(dest ...any) error {
	row := r.rows[r.next]
	if len(dest) != len(row) {
		return fmt.Errorf("scan %d columns into %d values", len(row), len(dest))
	}
	for i, v := range row {
		if err := scanValue(dest[i], v); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
	}
	return nil
}

func scanValue(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(v)
	case *string:
		switch v := v.(type) {
		case string:
			*d = v
		case []byte:
			*d = string(v)
		default:
			return fmt.Errorf("scan %T into a string", v)
		}
	case *int:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("scan %T into an int", v)
		}
		*d = int(n)
	case *int64:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("scan %T into an int64", v)
		}
		*d = n
	default:
		return fmt.Errorf("cannot scan into %T", dest)
	}
	return nil
}

func (r *valueRows) Err() error { return nil }
func (r *valueRows) Close()     {}

// insertRows inserts rows into a table with multi-row INSERTs of up to sqliteBatchRows
// rows: one statement costs far less than as many single-row ones.
func (s *sqliteSession) insertRows(ctx context.Context, table string, columns []string, args []any) error {
	cols := len(columns)
	for len(args) > 0 {
		n := min(len(args)/cols, sqliteBatchRows)
		query := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " + valuesList(n, cols)
		st, err := s.stmt(ctx, query)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

var (
	stageRecordColumns = []string{"record_key", "identifiers", "attributes", "content_hash"}
	stageEventColumns  = []string{"event_id", "event_type", "occurred_at", "identifier_type",
		"identifier_value", "properties", "received_at"}
)

func (s *sqliteSession) stageRecords(ctx context.Context, rows []stagedRecord) error {
	args := s.args[:0]
	for i := range rows {
		r := &rows[i]
		args = append(args, r.key, r.identifiers, r.attributes, r.hash[:])
	}
	s.args = args
	defer clear(args)
	return s.insertRows(ctx, "temp.kizuna_stage_records", stageRecordColumns, args)
}

var directRecordColumns = []string{"namespace", "source", "record_key", "identifiers", "attributes",
	"content_hash", "first_seen_at", "updated_at"}

// insertRecords writes records straight into the records table: the first load of a source,
// which has nothing to compare with, skips staging and the merge, and so writes each row once
// instead of twice.
func (s *sqliteSession) insertRecords(ctx context.Context, namespace, source string, rows []stagedRecord, at any) error {
	args := s.args[:0]
	for i := range rows {
		r := &rows[i]
		args = append(args, namespace, source, r.key, r.identifiers, r.attributes, r.hash[:], at, at)
	}
	s.args = args
	defer clear(args)
	return s.insertRows(ctx, "records", directRecordColumns, args)
}

// insertSlotRows inserts rows of a generation-scoped table with a multi-row INSERT that binds the
// shared columns once: for memberships of one source, two parameters a row instead of six, and
// binding a parameter costs SQLite about as much as inserting a row's worth of it. OR FAIL
// spares SQLite the statement journal it otherwise keeps to undo a multi-row statement alone,
// which copies every page the statement changes that the cache spills: a failed batch fails the
// whole publish anyway.
func (s *sqliteSession) insertSlotRows(ctx context.Context, t *slotTable, args []any, shared, n int) error {
	key := slotInsertKey{t, shared, n}
	query, ok := s.slotInserts[key]
	if !ok {
		cols := len(t.columns()) - shared
		var b strings.Builder
		b.WriteString("INSERT OR FAIL INTO " + t.name + " (" + strings.Join(t.columns(), ", ") + ") SELECT ")
		b.WriteString(strings.TrimSuffix(strings.Repeat("?, ", shared), ", "))
		for i := range cols {
			fmt.Fprintf(&b, ", column%d", i+1)
		}
		b.WriteString(" FROM (VALUES " + valuesList(n, cols) + ")")
		query = b.String()
		s.slotInserts[key] = query
	}
	return s.execDriver(ctx, query, args)
}

// execDriver runs a statement on the driver's connection directly, preparing it once: for the
// thousands of arguments of a multi-row INSERT, database/sql's check and conversion of each one
// is a tenth of the statement's cost.
func (s *sqliteSession) execDriver(ctx context.Context, query string, args []any) error {
	named := s.named[:0]
	for i, a := range args {
		named = append(named, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	s.named = named
	defer clear(named)
	return s.conn.Raw(func(dc any) error {
		st, ok := s.driverStmts[query]
		if !ok {
			prep, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("the SQLite driver cannot prepare statements with a context")
			}
			var err error
			if st, err = prep.PrepareContext(ctx, query); err != nil {
				return err
			}
			s.driverStmts[query] = st
		}
		exec, ok := st.(driver.StmtExecContext)
		if !ok {
			return fmt.Errorf("the SQLite driver cannot run statements with a context")
		}
		_, err := exec.ExecContext(ctx, named)
		return err
	})
}

// deleteSlotRows deletes rows with one statement that lists their keys: SQLite looks each one up
// by the primary key.
func (s *sqliteSession) deleteSlotRows(ctx context.Context, t *slotTable, args []any, n int) error {
	key := slotInsertKey{t, -1, n}
	query, ok := s.slotInserts[key]
	if !ok {
		query = t.deleteQuery(sqliteDialect, n)
		s.slotInserts[key] = query
	}
	return s.execDriver(ctx, query, args)
}

type slotInsertKey struct {
	t         *slotTable
	shared, n int
}

func (s *sqliteSession) slotBatchRows() int { return sqliteBatchRows }

func (s *sqliteSession) stageEvents(ctx context.Context, rows []stagedEvent) error {
	args := s.args[:0]
	for i := range rows {
		e := &rows[i]
		args = append(args, e.id, e.eventType, e.occurredAt.UnixMicro(), e.identifierType,
			e.identifierValue, e.properties, e.receivedAt.UnixMicro())
	}
	s.args = args
	defer clear(args)
	return s.insertRows(ctx, "temp.kizuna_stage_events", stageEventColumns, args)
}

// identityLinks upserts links straight into the table: SQLite writes a row in place, and a
// rebuild over links that did not change costs no more than one over none.
func (s *sqliteSession) identityLinks(ctx context.Context, namespace, resolution string, replace bool) (linkWriter, error) {
	if replace {
		if _, err := s.exec(ctx, `DELETE FROM identity_links WHERE namespace = ? AND resolution = ?`, namespace, resolution); err != nil {
			return nil, fmt.Errorf("delete the links to replace: %w", err)
		}
	}
	return &sqliteLinkWriter{s: s, namespace: namespace, resolution: resolution}, nil
}

type sqliteLinkWriter struct {
	s                     *sqliteSession
	namespace, resolution string
}

// put upserts links with one statement that binds the namespace and the resolution once, as
// insertSlotRows does. SQLite upserts the rows of a statement in order, so a later link of an
// identifier replaces an earlier one of the same batch too. A link that maps to the same profile
// again is not rewritten.
func (w *sqliteLinkWriter) put(ctx context.Context, links []IdentityLink) error {
	s := w.s
	args := s.args[:0]
	args = append(args, w.namespace, w.resolution)
	for _, l := range links {
		args = append(args, l.Type, l.Value, l.ProfileID)
	}
	s.args = args
	defer clear(args)
	// WHERE true tells SQLite's parser that ON CONFLICT starts the upsert, not a join.
	query := "INSERT INTO identity_links (" + identityLinkColumns + ") SELECT ?, ?, column1, column2, column3 FROM (VALUES " +
		valuesList(len(links), 3) + `) WHERE true
		ON CONFLICT (identifier_value, identifier_type, namespace, resolution) DO UPDATE SET profile_id = excluded.profile_id
		WHERE identity_links.profile_id <> excluded.profile_id`
	return s.execDriver(ctx, query, args)
}

func (w *sqliteLinkWriter) finish(context.Context) error { return nil }
