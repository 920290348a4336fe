package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"sort"
)

// spillSorter sorts rows of (key, value) bytes by key in bounded memory, for a publish whose rows
// arrive in another order than the one its tables keep them in: memberships come profile by
// profile, their table wants them by record. Rows are buffered until the buffer holds budget
// bytes; a full buffer is sorted and written, by a goroutine of its own while the next one
// fills, as a run to a temporary file; merge reads the runs back as one sorted stream.
//
// Sorting in Go and merging at the end measured far faster than staging the rows in a database
// table and inserting them with ORDER BY: SQLite then writes every row twice, and its sorter
// reads them all again.
//
// A sorter also answers whether it holds a key, exactly, for the rare key that a writer's Bloom
// filter says it may have seen: the buffer is scanned by hash, and each run has a sparse index
// of its blocks, so that a lookup reads one block per run.
type spillSorter struct {
	dir    string
	budget int
	seed   maphash.Seed

	buf   *sortBuffer
	spare *sortBuffer
	// inflight receives the run being written, if any, once it is.
	inflight chan spillResult
	file     *os.File
	size     int64
	runs     []*sortRun
	err      error
	scratch  []byte
}

// sortBuffer holds rows in memory: keys and values back to back in arena.
type sortBuffer struct {
	arena   []byte
	entries []sortEntry
}

type spillResult struct {
	run *sortRun
	err error
}

type sortEntry struct {
	hash   uint64
	off    uint32
	keyLen uint32
	valLen uint32
}

func (b *sortBuffer) key(e *sortEntry) []byte {
	return b.arena[e.off : e.off+e.keyLen : e.off+e.keyLen]
}

func (b *sortBuffer) value(e *sortEntry) []byte {
	start := e.off + e.keyLen
	return b.arena[start : start+e.valLen : start+e.valLen]
}

func (b *sortBuffer) reset() {
	b.arena = b.arena[:0]
	b.entries = b.entries[:0]
}

func (b *sortBuffer) sort() {
	slices.SortFunc(b.entries, func(x, y sortEntry) int { return bytes.Compare(b.key(&x), b.key(&y)) })
}

// sortRun is one sorted run in the file, from start to end, with the first key of every block
// of about runBlockBytes.
type sortRun struct {
	start, end  int64
	blocks      []runBlock
	keys        []byte
	first, last []byte
}

type runBlock struct {
	keyOff, keyLen uint32
	off            int64
}

// runBlockBytes is the granularity of a run's index: a lookup reads this much of each run, and
// the index costs one key per block.
const runBlockBytes = 16 << 10

// newSpillSorter returns a sorter whose hashes of keys use seed.
func newSpillSorter(dir string, budget int, seed maphash.Seed) *spillSorter {
	return &spillSorter{dir: dir, budget: budget, seed: seed, buf: &sortBuffer{}, spare: &sortBuffer{}}
}

// add buffers a row. It refuses rows of 4 GiB or more, which no table row comes near.
func (s *spillSorter) add(key, value []byte) error {
	return s.addHashed(key, value, maphash.Bytes(s.seed, key))
}

// addHashed is add for a key hashed with the sorter's seed already.
func (s *spillSorter) addHashed(key, value []byte, hash uint64) error {
	if s.err != nil {
		return s.err
	}
	if uint64(len(s.buf.arena))+uint64(len(key))+uint64(len(value)) > 1<<32-1 {
		return errors.New("sort: row too large")
	}
	b := s.buf
	b.entries = append(b.entries, sortEntry{
		hash: hash, off: uint32(len(b.arena)), //nolint:gosec // checked above
		keyLen: uint32(len(key)), valLen: uint32(len(value)), //nolint:gosec // checked above
	})
	b.arena = append(b.arena, key...)
	b.arena = append(b.arena, value...)
	return nil
}

// bytes is how much the buffer holds.
func (s *spillSorter) bytes() int { return len(s.buf.arena) + len(s.buf.entries)*24 }

// full tells whether the buffer should be spilled.
func (s *spillSorter) full() bool { return s.bytes() >= s.budget }

// spill sorts the buffer and writes it as a run, in the background.
func (s *spillSorter) spill() error {
	if err := s.wait(); err != nil {
		return err
	}
	if len(s.buf.entries) == 0 {
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "kizuna-sort-*")
		if err != nil {
			return s.fail(fmt.Errorf("sort: %w", err))
		}
		// The file needs no name: it goes away with the process, however the process ends.
		_ = os.Remove(f.Name())
		s.file = f
	}
	b := s.buf
	s.buf, s.spare = s.spare, b
	s.buf.reset()
	if cap(s.buf.arena) < s.budget {
		// Once a sorter spills, its buffers fill to budget: growing this one by doubling would
		// allocate it twice over.
		s.buf.arena = make([]byte, 0, s.budget+s.budget/8)
		s.buf.entries = make([]sortEntry, 0, cap(b.entries))
	}
	run := &sortRun{start: s.size}
	done := make(chan spillResult, 1)
	s.inflight = done
	go func() { done <- spillResult{run, s.writeRun(b, run)} }()
	return nil
}

// writeRun runs on a goroutine of its own: it touches only the buffer, the run and the file.
func (s *spillSorter) writeRun(b *sortBuffer, run *sortRun) error {
	b.sort()
	w := bufio.NewWriterSize(io.NewOffsetWriter(s.file, run.start), 256<<10)
	off := run.start
	nextBlock := off
	var head [2 * binary.MaxVarintLen64]byte
	for i := range b.entries {
		e := &b.entries[i]
		key := b.key(e)
		if off >= nextBlock {
			run.blocks = append(run.blocks, runBlock{keyOff: uint32(len(run.keys)), keyLen: e.keyLen, off: off}) //nolint:gosec // keys of a run stay far below 4 GiB
			run.keys = append(run.keys, key...)
			nextBlock = off + runBlockBytes
		}
		n := binary.PutUvarint(head[:], uint64(e.keyLen))
		n += binary.PutUvarint(head[n:], uint64(e.valLen))
		if _, err := w.Write(head[:n]); err != nil {
			return fmt.Errorf("sort: write a run: %w", err)
		}
		_, _ = w.Write(key)
		_, _ = w.Write(b.value(e))
		off += int64(n) + int64(e.keyLen) + int64(e.valLen)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sort: write a run: %w", err)
	}
	run.end = off
	run.first = slices.Clone(b.key(&b.entries[0]))
	run.last = slices.Clone(b.key(&b.entries[len(b.entries)-1]))
	b.reset()
	return nil
}

// wait waits for the run being written, if any.
func (s *spillSorter) wait() error {
	if s.inflight != nil {
		res := <-s.inflight
		s.inflight = nil
		if res.err != nil {
			return s.fail(res.err)
		}
		s.runs = append(s.runs, res.run)
		s.size = res.run.end
	}
	return s.err
}

func (s *spillSorter) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// contains tells whether a row with key was added.
func (s *spillSorter) contains(key []byte) (bool, error) {
	if err := s.wait(); err != nil {
		return false, err
	}
	h := maphash.Bytes(s.seed, key)
	b := s.buf
	for i := range b.entries {
		if e := &b.entries[i]; e.hash == h && bytes.Equal(b.key(e), key) {
			return true, nil
		}
	}
	for _, run := range s.runs {
		found, err := s.runContains(run, key)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

func (s *spillSorter) runContains(run *sortRun, key []byte) (bool, error) {
	if bytes.Compare(key, run.first) < 0 || bytes.Compare(key, run.last) > 0 {
		return false, nil
	}
	// The last block whose first key is not above key.
	i := sort.Search(len(run.blocks), func(i int) bool {
		bl := run.blocks[i]
		return bytes.Compare(run.keys[bl.keyOff:bl.keyOff+bl.keyLen], key) > 0
	}) - 1
	if i < 0 {
		return false, nil
	}
	end := run.end
	if i+1 < len(run.blocks) {
		end = run.blocks[i+1].off
	}
	data := s.scratch[:0]
	data = slices.Grow(data, int(end-run.blocks[i].off))[:end-run.blocks[i].off]
	s.scratch = data
	if _, err := s.file.ReadAt(data, run.blocks[i].off); err != nil {
		return false, s.fail(fmt.Errorf("sort: read a run: %w", err))
	}
	for len(data) > 0 {
		k, _, rest, err := parseRow(data)
		if err != nil {
			return false, s.fail(err)
		}
		switch c := bytes.Compare(k, key); {
		case c == 0:
			return true, nil
		case c > 0:
			return false, nil
		}
		data = rest
	}
	return false, nil
}

func parseRow(data []byte) (key, value, rest []byte, err error) {
	kl, n := binary.Uvarint(data)
	if n <= 0 {
		return nil, nil, nil, errors.New("sort: a run is corrupt")
	}
	vl, m := binary.Uvarint(data[n:])
	if m <= 0 || uint64(len(data)-n-m) < kl+vl {
		return nil, nil, nil, errors.New("sort: a run is corrupt")
	}
	data = data[n+m:]
	return data[:kl], data[kl : kl+vl], data[kl+vl:], nil
}

// sortedBuffer returns the buffered rows in key order, when nothing was spilled: a caller that
// knows its rows came in order takes them from here without a file.
func (s *spillSorter) sortedBuffer() *sortBuffer { return s.buf }

// merge returns all rows in key order. The sorter takes no more rows afterwards.
func (s *spillSorter) merge() (*sortMerge, error) {
	if err := s.wait(); err != nil {
		return nil, err
	}
	m := &sortMerge{}
	for _, run := range s.runs {
		src := &mergeSource{r: bufio.NewReaderSize(io.NewSectionReader(s.file, run.start, run.end-run.start), 64<<10)}
		m.sources = append(m.sources, src)
	}
	if len(s.buf.entries) > 0 {
		s.buf.sort()
		m.sources = append(m.sources, &mergeSource{buf: s.buf})
	}
	for _, src := range m.sources {
		if err := src.advance(); err != nil {
			return nil, s.fail(err)
		}
	}
	m.sources = slices.DeleteFunc(m.sources, func(src *mergeSource) bool { return src.done })
	for i := len(m.sources)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m, nil
}

// close removes the file.
func (s *spillSorter) close() {
	_ = s.wait()
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
	s.runs = nil
	s.buf, s.spare = &sortBuffer{}, &sortBuffer{}
}

// sortMerge merges the sorted runs with a binary heap of their next rows.
type sortMerge struct {
	sources []*mergeSource
	// advance is the source whose row was returned last: it moves on at the next call, so that
	// the row stays valid until then.
	advance *mergeSource
}

type mergeSource struct {
	// A run is read from r; the last, in-memory buffer from buf.
	r    *bufio.Reader
	buf  *sortBuffer
	next int
	done bool
	key  []byte
	val  []byte
	data []byte
}

func (src *mergeSource) advance() error {
	if src.buf != nil {
		if src.next == len(src.buf.entries) {
			src.done = true
			return nil
		}
		e := &src.buf.entries[src.next]
		src.next++
		src.key, src.val = src.buf.key(e), src.buf.value(e)
		return nil
	}
	kl, err := binary.ReadUvarint(src.r)
	if errors.Is(err, io.EOF) {
		src.done = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("sort: read a run: %w", err)
	}
	vl, err := binary.ReadUvarint(src.r)
	if err != nil {
		return fmt.Errorf("sort: read a run: %w", err)
	}
	src.data = slices.Grow(src.data[:0], int(kl+vl))[:kl+vl] //nolint:gosec // lengths this process wrote
	if _, err := io.ReadFull(src.r, src.data); err != nil {
		return fmt.Errorf("sort: read a run: %w", err)
	}
	src.key, src.val = src.data[:kl], src.data[kl:]
	return nil
}

// next returns the next row in key order; key and value stay valid until the next call.
func (m *sortMerge) next() (key, value []byte, ok bool, err error) {
	if src := m.advance; src != nil {
		m.advance = nil
		if err := src.advance(); err != nil {
			return nil, nil, false, err
		}
		if src.done {
			last := len(m.sources) - 1
			m.sources[0] = m.sources[last]
			m.sources = m.sources[:last]
		}
		if len(m.sources) > 0 {
			m.down(0)
		}
	}
	if len(m.sources) == 0 {
		return nil, nil, false, nil
	}
	src := m.sources[0]
	m.advance = src
	return src.key, src.val, true, nil
}

func (m *sortMerge) down(i int) {
	h := m.sources
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		least := l
		if r := l + 1; r < len(h) && bytes.Compare(h[r].key, h[l].key) < 0 {
			least = r
		}
		if bytes.Compare(h[least].key, h[i].key) >= 0 {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
