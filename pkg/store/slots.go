package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// slotTable describes a generation-scoped table of profiles: its rows are keyed by namespace,
// resolution, slot, then keyColumns. A publish handles a row as two byte strings: its key (the
// key columns joined by NUL bytes, which sorts as the columns do) and its value (what the value
// columns hold, packed as the table's appendRow reads it).
type slotTable struct {
	name         string
	keyColumns   []string
	valueColumns []string
	// compareColumn is the column a publish reads from the rows it may replace, to tell whether
	// a new row differs; same compares a new row's value with it.
	compareColumn string
	same          func(value, old []byte) bool
	// appendRow appends the key and value columns of a row, but for the first skip key columns;
	// text comes from keyText and valueText, numbers from value.
	appendRow func(args []any, keyText, valueText string, value []byte, skip int) []any
	// groupable is whether a batch whose rows share their first key column (memberships of one
	// source) binds it once.
	groupable bool
	// argsOnPipeline: the pipeline's goroutine builds the rows' arguments, which for profiles
	// includes hashing them, while the caller goes on encoding the next ones. Profiles are
	// written while the caller puts them, and the caller is then the slower of the two;
	// memberships are written at Commit, when the pipeline is.
	argsOnPipeline bool

	// Queries, compiled for the store's dialect: deleteKey deletes one row, deleteKeys (not
	// compiled: deleteQuery completes it) as many as it gets key groups.
	scanSlot, hasKey, keysUpTo, deleteKey string
	deleteKeys, keyGroup                  string
}

func (t *slotTable) columns() []string {
	cols := append([]string{"namespace", "resolution", "slot"}, t.keyColumns...)
	return append(cols, t.valueColumns...)
}

// appendKey appends the key columns of a key.
func (t *slotTable) appendKey(args []any, key string) []any {
	for range len(t.keyColumns) - 1 {
		part, rest, _ := strings.Cut(key, "\x00")
		args = append(args, part)
		key = rest
	}
	return append(args, key)
}

// slotTables are the three generation-scoped tables.
type slotTables struct {
	profiles, memberships, aliases *slotTable
}

// The value of a profile row: room for its content hash (8 bytes, big-endian, as the slot's rows
// are read back), computed only when the row is compared or written, then its created generation,
// then its identifiers, attributes and records as JSON, each text preceded by its length.
const profileHashBytes = 8

func newSlotTables(d *dialect) slotTables {
	tables := slotTables{
		profiles: &slotTable{
			name:          "profiles",
			keyColumns:    []string{"profile_id"},
			valueColumns:  []string{"created_generation", "identifiers", "attributes", "records", "content_hash"},
			compareColumn: "content_hash",
			same: func(value, old []byte) bool {
				sum := profileHash(value[profileHashBytes:])
				return bytes.Equal(sum[:], old)
			},
			appendRow:      appendProfileRow,
			argsOnPipeline: true,
		},
		memberships: &slotTable{
			name:          "profile_memberships",
			keyColumns:    []string{"source", "record_key"},
			valueColumns:  []string{"profile_id"},
			compareColumn: "profile_id",
			same:          bytes.Equal,
			appendRow: func(args []any, keyText, valueText string, _ []byte, skip int) []any {
				source, key, _ := strings.Cut(keyText, "\x00")
				if skip == 1 {
					return append(args, key, valueText)
				}
				return append(args, source, key, valueText)
			},
			groupable: true,
		},
		aliases: &slotTable{
			name:          "profile_aliases",
			keyColumns:    []string{"alias"},
			valueColumns:  []string{"profile_id"},
			compareColumn: "profile_id",
			same:          bytes.Equal,
			appendRow: func(args []any, keyText, valueText string, _ []byte, _ int) []any {
				return append(args, keyText, valueText)
			},
		},
	}
	for _, t := range tables.all() {
		keys := strings.Join(t.keyColumns, ", ")
		var match []string
		for _, c := range t.keyColumns {
			match = append(match, c+" = ?")
		}
		t.scanSlot = d.sql(`SELECT ` + keys + `, ` + t.compareColumn + ` FROM ` + t.name + `
			WHERE namespace = ? AND resolution = ? AND slot = ? ORDER BY ` + keys)
		t.hasKey = d.sql(`SELECT 1 FROM ` + t.name + `
			WHERE namespace = ? AND resolution = ? AND slot = ? AND ` + strings.Join(match, " AND "))
		t.deleteKey = d.sql(`DELETE FROM ` + t.name + `
			WHERE namespace = ? AND resolution = ? AND slot = ? AND ` + strings.Join(match, " AND "))
		t.keysUpTo = d.sql(`SELECT ` + keys + ` FROM ` + t.name + `
			WHERE namespace = ? AND resolution = ? AND slot = ?
				AND (` + keys + `) <= (` + strings.TrimSuffix(strings.Repeat("?, ", len(t.keyColumns)), ", ") + `)`)
		t.deleteKeys = `DELETE FROM ` + t.name + ` WHERE namespace = ? AND resolution = ? AND slot = ? AND `
		if len(t.keyColumns) == 1 {
			t.deleteKeys += t.keyColumns[0] + ` IN (`
			t.keyGroup = "?"
		} else {
			t.deleteKeys += `(` + keys + `) IN (VALUES `
			t.keyGroup = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.keyColumns)), ", ") + ")"
		}
	}
	return tables
}

func (ts slotTables) all() []*slotTable { return []*slotTable{ts.profiles, ts.memberships, ts.aliases} }

// deleteQuery is the statement that deletes n rows by key.
func (t *slotTable) deleteQuery(d *dialect, n int) string {
	return d.sql(t.deleteKeys + strings.TrimSuffix(strings.Repeat(t.keyGroup+", ", n), ", ") + ")")
}

// appendProfileValue packs a profile's columns into the value of its row.
func appendProfileValue(buf []byte, created int64, identifiers, attributes, records []byte) []byte {
	buf = append(buf, make([]byte, profileHashBytes)...)
	buf = binary.AppendVarint(buf, created)
	buf = binary.AppendUvarint(buf, uint64(len(identifiers)))
	buf = append(buf, identifiers...)
	buf = binary.AppendUvarint(buf, uint64(len(attributes)))
	buf = append(buf, attributes...)
	return append(buf, records...)
}

// profileHash identifies a profile's content, as contentHash does a record's. Sixty-four bits
// suffice to tell whether a profile changed, and an integer costs SQLite less to bind than bytes.
func profileHash(content []byte) [profileHashBytes]byte {
	sum := contentHash(content, nil)
	return [profileHashBytes]byte(sum[:profileHashBytes])
}

func appendProfileRow(args []any, keyText, valueText string, value []byte, _ int) []any {
	sum := profileHash(value[profileHashBytes:])
	hash := int64(binary.BigEndian.Uint64(sum[:])) //nolint:gosec // the hash's bits, as they are
	i := profileHashBytes
	created, n := binary.Varint(value[i:])
	i += n
	idsLen, n := binary.Uvarint(value[i:])
	i += n
	ids := valueText[i : i+int(idsLen)] //nolint:gosec // lengths this process packed
	i += int(idsLen)                    //nolint:gosec // lengths this process packed
	attrsLen, n := binary.Uvarint(value[i:])
	i += n
	attrs := valueText[i : i+int(attrsLen)] //nolint:gosec // lengths this process packed
	records := valueText[i+int(attrsLen):]  //nolint:gosec // lengths this process packed
	return append(args, keyText, created, ids, attrs, records, hash)
}

// slotRows streams the rows a slot holds, in key order, from a reader connection: the rows a
// publish may replace. A goroutine reads them ahead in chunks, so that reading and comparing run
// on two cores. Reading from another connection sees the slot as it was committed, whatever the
// publish's own transaction has changed in it.
type slotRows struct {
	cancel context.CancelFunc
	chunks chan *slotChunk
	free   chan *slotChunk
	done   chan struct{}
	cur    *slotChunk
	pos    int
	err    error
}

type slotChunk struct {
	arena []byte
	rows  []slotRow
	err   error
}

type slotRow struct {
	keyOff, keyLen, cmpLen int
}

const slotChunkRows = 2048

func (s *sqlStore) openSlotRows(ctx context.Context, t *slotTable, namespace, resolution string, slot int64) *slotRows {
	// The rows are read until the publish ends, not only while the call that needs them first.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &slotRows{
		cancel: cancel, chunks: make(chan *slotChunk, 2), free: make(chan *slotChunk, 3),
		done: make(chan struct{}),
	}
	for range 3 {
		r.free <- &slotChunk{}
	}
	go func() {
		defer close(r.done)
		defer close(r.chunks)
		err := s.readSlot(ctx, t, namespace, resolution, slot, r)
		if err != nil {
			select {
			case r.chunks <- &slotChunk{err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return r
}

func (s *sqlStore) readSlot(ctx context.Context, t *slotTable, namespace, resolution string, slot int64, r *slotRows) error {
	rs, err := s.b.read().query(ctx, t.scanSlot, namespace, resolution, slot)
	if err != nil {
		return fmt.Errorf("read the rows of %s to replace: %w", t.name, err)
	}
	defer rs.Close()
	cols := make([]scanBytes, len(t.keyColumns)+1)
	dest := make([]any, len(cols))
	for i := range cols {
		dest[i] = &cols[i]
	}
	var chunk *slotChunk
	for rs.Next() {
		if chunk == nil {
			select {
			case chunk = <-r.free:
			case <-ctx.Done():
				return ctx.Err()
			}
			chunk.arena, chunk.rows = chunk.arena[:0], chunk.rows[:0]
		}
		if err := rs.Scan(dest...); err != nil {
			return fmt.Errorf("read the rows of %s to replace: %w", t.name, err)
		}
		row := slotRow{keyOff: len(chunk.arena)}
		for i, c := range cols[:len(cols)-1] {
			if i > 0 {
				chunk.arena = append(chunk.arena, 0)
			}
			chunk.arena = append(chunk.arena, c...)
		}
		row.keyLen = len(chunk.arena) - row.keyOff
		chunk.arena = append(chunk.arena, cols[len(cols)-1]...)
		row.cmpLen = len(chunk.arena) - row.keyOff - row.keyLen
		chunk.rows = append(chunk.rows, row)
		if len(chunk.rows) == slotChunkRows {
			select {
			case r.chunks <- chunk:
			case <-ctx.Done():
				return ctx.Err()
			}
			chunk = nil
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read the rows of %s to replace: %w", t.name, err)
	}
	if chunk != nil {
		select {
		case r.chunks <- chunk:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// peek returns the current row; ok is false at the end.
func (r *slotRows) peek() (key, cmp []byte, ok bool, err error) {
	for r.cur == nil || r.pos == len(r.cur.rows) {
		if r.err != nil {
			return nil, nil, false, r.err
		}
		if r.cur != nil {
			r.free <- r.cur
			r.cur = nil
		}
		chunk, more := <-r.chunks
		if !more {
			return nil, nil, false, nil
		}
		if chunk.err != nil {
			r.err = chunk.err
			return nil, nil, false, r.err
		}
		r.cur, r.pos = chunk, 0
	}
	row := r.cur.rows[r.pos]
	a := r.cur.arena
	return a[row.keyOff : row.keyOff+row.keyLen], a[row.keyOff+row.keyLen : row.keyOff+row.keyLen+row.cmpLen], true, nil
}

func (r *slotRows) next() { r.pos++ }

// close stops the reading and waits for it.
func (r *slotRows) close() {
	r.cancel()
	// Drained, so that the reader ends.
	for chunk := range r.chunks {
		_ = chunk
	}
	<-r.done
}

// scanBytes reads a text or bytes column into a buffer it reuses.
type scanBytes []byte

func (b *scanBytes) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*b = binary.BigEndian.AppendUint64((*b)[:0], uint64(v)) //nolint:gosec // the bits, as they are
	case string:
		*b = append((*b)[:0], v...)
	case []byte:
		*b = append((*b)[:0], v...)
	default:
		return fmt.Errorf("scan %T into bytes", src)
	}
	return nil
}

// slotBatch is changes to a table waiting to be written: keys to delete, then rows to insert,
// each back to back in an arena.
type slotBatch struct {
	del, ins batchRows
}

type batchRows struct {
	arena []byte
	rows  []batchRow
	args  []any
	// shared is how many leading columns are bound once for all rows, for insertions.
	shared int
}

type batchRow struct {
	off, keyLen, valLen int
}

func (b *batchRows) add(key, value []byte) {
	b.rows = append(b.rows, batchRow{off: len(b.arena), keyLen: len(key), valLen: len(value)})
	b.arena = append(b.arena, key...)
	b.arena = append(b.arena, value...)
}

func (b *batchRows) reset() {
	b.arena, b.rows = b.arena[:0], b.rows[:0]
	clear(b.args)
	b.args = b.args[:0]
}

// slotBatchesInFlight bounds the batches of a table handed to the pipeline and not yet written:
// enough that the database never waits for the caller, few enough to bound memory.
const slotBatchesInFlight = 6

// slotApplier writes the changes of one table, in key order: keys to delete and rows to insert are
// batched, and batches are written by the writer's pipeline while the next ones fill. A batch
// deletes before it inserts, so that a changed row, deleted then inserted again, ends up
// inserted.
type slotApplier struct {
	w   *profileWriter
	t   *slotTable
	max int
	cur *slotBatch
	// free holds the batches not being filled nor written.
	free              chan *slotBatch
	inserted, deleted int64
}

func newSlotApplier(w *profileWriter, t *slotTable) *slotApplier {
	a := &slotApplier{
		w: w, t: t, max: w.sess.slotBatchRows(), cur: &slotBatch{},
		free: make(chan *slotBatch, slotBatchesInFlight),
	}
	for range slotBatchesInFlight - 1 {
		a.free <- &slotBatch{}
	}
	return a
}

func (a *slotApplier) delete(ctx context.Context, key []byte) error {
	a.cur.del.add(key, nil)
	a.deleted++
	if len(a.cur.del.rows) >= a.max {
		return a.flush(ctx)
	}
	return nil
}

func (a *slotApplier) insert(ctx context.Context, key, value []byte) error {
	a.cur.ins.add(key, value)
	a.inserted++
	if len(a.cur.ins.rows) >= a.max {
		return a.flush(ctx)
	}
	return nil
}

// flush hands the batch to the pipeline. The statements' arguments are built here, on the
// caller's goroutine, unless the table builds them on the pipeline's (argsOnPipeline).
func (a *slotApplier) flush(ctx context.Context) error {
	b := a.cur
	if len(b.del.rows) == 0 && len(b.ins.rows) == 0 {
		return nil
	}
	if !a.t.argsOnPipeline {
		a.buildArgs(b)
	}
	sess, t, free := a.w.sess, a.t, a.free
	release := func() {
		b.del.reset()
		b.ins.reset()
		free <- b
	}
	if err := a.w.pipe.run(ctx, func(ctx context.Context) error {
		if t.argsOnPipeline {
			a.buildArgs(b)
		}
		if len(b.del.rows) > 0 {
			if err := sess.deleteSlotRows(ctx, t, b.del.args, len(b.del.rows)); err != nil {
				return fmt.Errorf("delete rows of %s: %w", t.name, err)
			}
		}
		if len(b.ins.rows) > 0 {
			if err := sess.insertSlotRows(ctx, t, b.ins.args, b.ins.shared, len(b.ins.rows)); err != nil {
				return fmt.Errorf("insert rows into %s: %w", t.name, err)
			}
		}
		return nil
	}, release); err != nil {
		return a.w.fail(err)
	}
	select {
	case a.cur = <-free:
		return nil
	case <-ctx.Done():
		// The pipeline still returns the batch; the publish cannot go on.
		a.cur = &slotBatch{}
		return a.w.fail(ctx.Err())
	}
}

// buildArgs builds the arguments of a batch's statements. It touches only the batch and what
// does not change during a publish, so either goroutine may run it.
//
// The texts are views of the batch's arenas, not copies: both drivers copy an argument when they
// bind or encode it, and the arenas stay as they are until the batch is written and released.
func (a *slotApplier) buildArgs(b *slotBatch) {
	shared := a.w.shared[:]
	if len(b.del.rows) > 0 {
		text := arenaText(b.del.arena)
		b.del.args = append(b.del.args, shared...)
		for _, r := range b.del.rows {
			b.del.args = a.t.appendKey(b.del.args, text[r.off:r.off+r.keyLen])
		}
	}
	if len(b.ins.rows) > 0 {
		text := arenaText(b.ins.arena)
		b.ins.args = append(b.ins.args, shared...)
		b.ins.shared = len(shared)
		if group, ok := a.sharedGroup(text, b.ins.rows); ok {
			b.ins.args = append(b.ins.args, group)
			b.ins.shared++
		}
		skip := b.ins.shared - len(shared)
		for _, r := range b.ins.rows {
			v := r.off + r.keyLen
			b.ins.args = a.t.appendRow(b.ins.args, text[r.off:v], text[v:v+r.valLen], b.ins.arena[v:v+r.valLen:v+r.valLen], skip)
		}
	}
}

// arenaText views a batch's arena as a string without copying it.
func arenaText(arena []byte) string {
	if len(arena) == 0 {
		return ""
	}
	return unsafe.String(&arena[0], len(arena))
}

// sharedGroup returns the first key column when every row of a batch has the same.
func (a *slotApplier) sharedGroup(text string, rows []batchRow) (string, bool) {
	if !a.t.groupable {
		return "", false
	}
	first := func(r batchRow) string {
		k := text[r.off : r.off+r.keyLen]
		group, _, _ := strings.Cut(k, "\x00")
		return group
	}
	group := first(rows[0])
	if first(rows[len(rows)-1]) != group {
		// Rows are in key order: the first and the last share the group only if all do.
		return "", false
	}
	return group, true
}

// pipeline runs jobs one after the other on a goroutine of its own, each with the context of the
// call that handed it over. After a job fails, the others are skipped, and wait reports the
// failure.
type pipeline struct {
	jobs    chan pipelineJob
	pending sync.WaitGroup
	mu      sync.Mutex
	err     error
	stopped chan struct{}
	closing sync.Once
}

type pipelineJob struct {
	ctx context.Context
	run func(context.Context) error
	// release runs after run, or instead of it when the job is skipped.
	release func()
}

func newPipeline() *pipeline {
	p := &pipeline{jobs: make(chan pipelineJob, slotBatchesInFlight), stopped: make(chan struct{})}
	go func() {
		defer close(p.stopped)
		for job := range p.jobs {
			if p.failure() == nil {
				if err := job.run(job.ctx); err != nil {
					p.mu.Lock()
					p.err = err
					p.mu.Unlock()
				}
			}
			job.release()
			p.pending.Done()
		}
	}()
	return p
}

// run hands a job over, waiting while slotBatchesInFlight others wait.
func (p *pipeline) run(ctx context.Context, job func(context.Context) error, release func()) error {
	if err := p.failure(); err != nil {
		release()
		return err
	}
	p.pending.Add(1)
	select {
	case p.jobs <- pipelineJob{ctx, job, release}:
		return nil
	case <-ctx.Done():
		p.pending.Done()
		release()
		return ctx.Err()
	}
}

func (p *pipeline) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait waits until every job handed over has run.
func (p *pipeline) wait() error {
	p.pending.Wait()
	return p.failure()
}

// close stops the goroutine once it has run every job. It may be called more than once.
func (p *pipeline) close() {
	p.closing.Do(func() { close(p.jobs) })
	<-p.stopped
}

// slotDiff turns the new rows of a table, in key order, into changes to the rows its slot holds:
// a row that did not change is left alone, one that changed is replaced, one that is gone is
// deleted, one that is new is inserted.
type slotDiff struct {
	w         *profileWriter
	t         *slotTable
	apply     *slotApplier
	old       *slotRows
	unchanged int64
}

func (d *slotDiff) rows() *slotRows {
	if d.old == nil {
		run := d.w.run
		d.old = d.w.s.openSlotRows(context.Background(), d.t, run.Namespace, run.Resolution, d.w.slot)
	}
	return d.old
}

func (d *slotDiff) put(ctx context.Context, key, value []byte) error {
	old := d.rows()
	for {
		oldKey, oldCmp, ok, err := old.peek()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		c := bytes.Compare(oldKey, key)
		if c > 0 {
			break
		}
		if c == 0 && d.t.same(value, oldCmp) {
			d.unchanged++
			old.next()
			return nil
		}
		if err := d.apply.delete(ctx, oldKey); err != nil {
			return err
		}
		old.next()
		if c == 0 {
			break
		}
	}
	return d.apply.insert(ctx, key, value)
}

// finish deletes what the slot holds past the last new row.
func (d *slotDiff) finish(ctx context.Context) error {
	old := d.rows()
	for {
		oldKey, _, ok, err := old.peek()
		if err != nil || !ok {
			return err
		}
		if err := d.apply.delete(ctx, oldKey); err != nil {
			return err
		}
		old.next()
	}
}

func (d *slotDiff) close() {
	if d.old != nil {
		d.old.close()
		d.old = nil
	}
}

// tableWriter takes the new rows of one table in any order and writes them into the slot in key
// order. While rows come in key order, they are compared with the slot's rows as they come, a
// small buffer at a time, so that writing the table overlaps with the caller computing the rows.
// From the first row out of order, rows are sorted (spillSorter) and merged into the slot at
// Commit; rows already written whose key comes after a late row are not undone: the late row is
// inserted on its own.
//
// It also tells whether a key was already written, exactly: a Bloom filter rules out nearly every
// new key, and the rare "maybe" is checked against the buffer, the sorted runs, and the rows
// already written. While rows come in order, a new key is simply greater than the last, and the
// filter waits: it is filled from the buffer and the slot when a key first comes out of order.
type tableWriter struct {
	w      *profileWriter
	t      *slotTable
	filter *keyFilter
	sorter *spillSorter
	diff   *slotDiff
	apply  *slotApplier
	// ordered: every row so far came in key order, and none was spilled.
	ordered bool
	// filtering: the filter holds every key added.
	filtering bool
	last      []byte
	// streamed is the last key handed to diff, once one was.
	streamed    []byte
	hasStreamed bool
	rows        int64
}

// Buffer sizes of a publish. While rows come in order, a table hands them on every
// orderedFlushBytes; once they do not, each sorted run holds spillBytes.
var (
	orderedFlushBytes = 256 << 10
	spillBytes        = 16 << 20
)

// newTableWriter returns the writer of a table that expects about expected rows.
func newTableWriter(w *profileWriter, t *slotTable, expected int64) *tableWriter {
	filter := newKeyFilterFor(int(min(expected, 1<<40)))
	tw := &tableWriter{w: w, t: t, filter: filter, sorter: newSpillSorter("", spillBytes, filter.seed), ordered: true}
	tw.apply = newSlotApplier(w, t)
	tw.diff = &slotDiff{w: w, t: t, apply: tw.apply}
	return tw
}

// hash is the hash of a key, for has and add.
func (tw *tableWriter) hash(key []byte) uint64 { return tw.filter.hash(key) }

// has tells whether a row with key was added. It also remembers key in the Bloom filter, unless
// it did not need it (filtered is false), so that add, which mostly follows, need not look for
// the key a second time: a key remembered for a row that is not added only makes the filter
// answer "maybe" to it.
func (tw *tableWriter) has(ctx context.Context, key []byte, h uint64) (found, filtered bool, err error) {
	if tw.rows == 0 || (tw.ordered && bytes.Compare(key, tw.last) > 0) {
		return false, false, nil
	}
	if err := tw.startFiltering(ctx); err != nil {
		return false, false, err
	}
	if !tw.filter.addHash(h) {
		return false, true, nil
	}
	found, err = tw.exactlyHas(ctx, key)
	return found, true, err
}

// exactlyHas checks what the filter could only say maybe to.
func (tw *tableWriter) exactlyHas(ctx context.Context, key []byte) (bool, error) {
	if tw.hasStreamed && bytes.Compare(key, tw.streamed) <= 0 {
		// Up to the last key streamed, the slot holds exactly the rows written, once the
		// pending changes are.
		if err := tw.apply.flush(ctx); err != nil {
			return false, err
		}
		if err := tw.w.wait(); err != nil {
			return false, err
		}
		args := tw.t.appendKey(append([]any(nil), tw.w.shared[:]...), string(key))
		found, err := exists(ctx, tw.w.sess, tw.t.hasKey, args...)
		if err != nil {
			return false, tw.w.fail(fmt.Errorf("look up a key of %s: %w", tw.t.name, err))
		}
		if found {
			return true, nil
		}
	}
	found, err := tw.sorter.contains(key)
	if err != nil {
		return false, tw.w.fail(err)
	}
	return found, nil
}

// add adds a row whose key was not added before; filtered tells whether has put its hash h in
// the filter already.
func (tw *tableWriter) add(ctx context.Context, key, value []byte, h uint64, filtered bool) error {
	if tw.ordered && tw.rows > 0 && bytes.Compare(key, tw.last) <= 0 {
		tw.ordered = false
	}
	if !tw.ordered {
		if err := tw.startFiltering(ctx); err != nil {
			return err
		}
	}
	tw.rows++
	if tw.filtering && !filtered {
		tw.filter.insertHash(h)
	}
	if err := tw.sorter.addHashed(key, value, h); err != nil {
		return tw.w.fail(err)
	}
	tw.last = append(tw.last[:0], key...)
	switch {
	case tw.ordered && tw.sorter.bytes() >= orderedFlushBytes:
		return tw.flushOrdered(ctx)
	case !tw.ordered && tw.sorter.full():
		if err := tw.sorter.spill(); err != nil {
			return tw.w.fail(err)
		}
	}
	return nil
}

// startFiltering fills the filter with the keys added so far, which came in order: the buffered
// ones, and those handed to the diff, which the slot holds exactly up to the last one streamed.
func (tw *tableWriter) startFiltering(ctx context.Context) error {
	if tw.filtering {
		return nil
	}
	tw.filtering = true
	b := tw.sorter.sortedBuffer()
	for i := range b.entries {
		tw.filter.insertHash(b.entries[i].hash)
	}
	if !tw.hasStreamed {
		return nil
	}
	if err := tw.apply.flush(ctx); err != nil {
		return err
	}
	if err := tw.w.wait(); err != nil {
		return err
	}
	args := tw.t.appendKey(append([]any(nil), tw.w.shared[:]...), string(tw.streamed))
	rs, err := tw.w.sess.query(ctx, tw.t.keysUpTo, args...)
	if err != nil {
		return tw.w.fail(fmt.Errorf("read the keys of %s written so far: %w", tw.t.name, err))
	}
	defer rs.Close()
	cols := make([]scanBytes, len(tw.t.keyColumns))
	dest := make([]any, len(cols))
	for i := range cols {
		dest[i] = &cols[i]
	}
	var key []byte
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return tw.w.fail(fmt.Errorf("read the keys of %s written so far: %w", tw.t.name, err))
		}
		key = key[:0]
		for i, c := range cols {
			if i > 0 {
				key = append(key, 0)
			}
			key = append(key, c...)
		}
		tw.filter.insertHash(tw.filter.hash(key))
	}
	if err := rs.Err(); err != nil {
		return tw.w.fail(fmt.Errorf("read the keys of %s written so far: %w", tw.t.name, err))
	}
	return nil
}

// flushOrdered hands the buffered rows, which are in key order, to the diff.
func (tw *tableWriter) flushOrdered(ctx context.Context) error {
	b := tw.sorter.sortedBuffer()
	if len(b.entries) == 0 {
		return nil
	}
	for i := range b.entries {
		e := &b.entries[i]
		if err := tw.diff.put(ctx, b.key(e), b.value(e)); err != nil {
			return tw.w.fail(err)
		}
	}
	tw.streamed = append(tw.streamed[:0], b.key(&b.entries[len(b.entries)-1])...)
	tw.hasStreamed = true
	b.reset()
	return nil
}

// finish writes what is left: the rest of the rows, and the deletion of the slot's rows that
// are gone.
func (tw *tableWriter) finish(ctx context.Context) error {
	if err := tw.finishRows(ctx); err != nil {
		return tw.w.fail(err)
	}
	if err := tw.diff.finish(ctx); err != nil {
		return tw.w.fail(err)
	}
	if err := tw.apply.flush(ctx); err != nil {
		return tw.w.fail(err)
	}
	return nil
}

func (tw *tableWriter) finishRows(ctx context.Context) error {
	if tw.ordered {
		return tw.flushOrdered(ctx)
	}
	m, err := tw.sorter.merge()
	if err != nil {
		return err
	}
	for {
		key, value, ok, err := m.next()
		if err != nil || !ok {
			return err
		}
		if tw.hasStreamed && bytes.Compare(key, tw.streamed) <= 0 {
			// A late row: the diff went past its key, and deleted the slot's row of that key,
			// if there was one.
			err = tw.apply.insert(ctx, key, value)
		} else {
			err = tw.diff.put(ctx, key, value)
		}
		if err != nil {
			return err
		}
	}
}

func (tw *tableWriter) close() {
	tw.diff.close()
	tw.sorter.close()
}
