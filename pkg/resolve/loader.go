package resolve

import (
	"runtime"
	"slices"
	"sync"
)

// loaderBatch is how many records a Loader hands to a normalising goroutine at once.
const loaderBatch = 4096

// Loader collects a run's records as a store scan yields them, normalising their identifiers
// on every core while the scan goes on. Only the normalised identifiers are kept: holding every
// record's raw identifier map until the run starts took about a kilobyte per record, ten
// gigabytes at ten million.
type Loader struct {
	cfg     *Config
	kinds   map[string]uint16
	idTypes []string
	records []Record
	attrs   *attributeTable

	// batch is being filled: raw identifiers by kind, and where each record's start.
	batch      []rawID
	batchStart []int32
	first      int // index of the batch's first record

	work    chan loaderWork
	done    sync.WaitGroup
	mu      sync.Mutex
	results []loaderWork
}

type rawID struct {
	kind  uint16
	value string
}

type loaderWork struct {
	first int
	raw   []rawID
	start []int32
	ids   [][]normalizedID
}

// NewLoader starts a loader; call Input when every record has been added.
func NewLoader(cfg *Config) *Loader {
	l := &Loader{cfg: cfg, kinds: map[string]uint16{}, attrs: newAttributeTable(), work: make(chan loaderWork, 2)}
	for range runtime.GOMAXPROCS(0) {
		l.done.Go(l.normalize)
	}
	return l
}

// Add takes a record. Its raw identifiers are normalised and then dropped, and its attributes
// kept in a compact table rather than its map.
func (l *Loader) Add(r Record) {
	l.attrs.add(r.Attributes)
	r.Attributes = nil
	l.batchStart = append(l.batchStart, int32(len(l.batch)))
	for t, values := range r.Identifiers {
		kind, ok := l.kinds[t]
		if !ok {
			kind = uint16(len(l.idTypes))
			l.kinds[t] = kind
			l.idTypes = append(l.idTypes, t)
		}
		for _, v := range values {
			l.batch = append(l.batch, rawID{kind, v})
		}
	}
	r.Identifiers = nil
	l.records = append(l.records, r)
	if len(l.batchStart) == loaderBatch {
		l.flush()
	}
}

func (l *Loader) flush() {
	if len(l.batchStart) == 0 {
		return
	}
	l.work <- loaderWork{first: l.first, raw: l.batch, start: l.batchStart}
	l.first = len(l.records)
	l.batch, l.batchStart = nil, nil
}

// normalize is one normalising goroutine.
func (l *Loader) normalize() {
	for w := range l.work {
		w.ids = make([][]normalizedID, len(w.start))
		var ids []normalizedID
		for i, start := range w.start {
			end := int32(len(w.raw))
			if i+1 < len(w.start) {
				end = w.start[i+1]
			}
			ids = ids[:0]
			for _, raw := range w.raw[start:end] {
				n, ok := l.cfg.Normalizer.Normalize(l.idTypes[raw.kind], raw.value)
				if ok && !slices.Contains(ids, normalizedID{raw.kind, n}) {
					ids = append(ids, normalizedID{raw.kind, n})
				}
			}
			if len(ids) > 0 {
				slices.SortFunc(ids, compareNormalized)
				w.ids[i] = slices.Clone(ids)
			}
		}
		w.raw, w.start = nil, nil
		l.mu.Lock()
		l.results = append(l.results, w)
		l.mu.Unlock()
	}
}

// Input waits for the normalisation to finish and returns the run's input, its records sorted
// by reference (already so when they were added in that order, as a store scan does).
func (l *Loader) Input() Input {
	l.flush()
	close(l.work)
	l.done.Wait()
	norm := &normalized{idTypes: l.idTypes, ids: make([][]normalizedID, len(l.records))}
	for _, w := range l.results {
		copy(norm.ids[w.first:], w.ids)
	}
	if !slices.IsSortedFunc(l.records, compareRecords) {
		// Records added out of order are sorted together with their identifiers.
		order := make([]int32, len(l.records))
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortFunc(order, func(a, b int32) int { return compareRecords(l.records[a], l.records[b]) })
		records := make([]Record, len(order))
		ids := make([][]normalizedID, len(order))
		for to, from := range order {
			records[to], ids[to] = l.records[from], norm.ids[from]
		}
		l.records, norm.ids = records, ids
		l.attrs.reorder(order)
	}
	norm.attrs = l.attrs
	return Input{Records: l.records, normalized: norm}
}

// normalized is what a Loader computed ahead of the run.
type normalized struct {
	idTypes []string
	ids     [][]normalizedID
	attrs   *attributeTable
}
