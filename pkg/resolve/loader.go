package resolve

import (
	"runtime"
	"slices"
	"sync"
)

// loaderBatch is how many records a Loader hands to a normalising goroutine at once.
const loaderBatch = 4096

// Loader collects a run's records as store scans yield them, normalising their identifiers on
// every core while the scans go on. Only the normalised identifiers are kept: holding every
// record's raw identifier map until the run starts took about a kilobyte per record, ten
// gigabytes at ten million. Records arrive through Parts, one per concurrent scan.
type Loader struct {
	cfg *Config

	// mu guards the names shared by every part: identifier types and attribute names, each
	// numbered once.
	mu    sync.Mutex
	kinds map[string]uint16
	types []string
	attrs *attributeTable // names only until Input gathers the parts' values

	parts []*LoaderPart
	work  chan loaderWork
	done  sync.WaitGroup
	resMu sync.Mutex
}

// LoaderPart takes the records of one scan. A part is used by one goroutine at a time; parts
// of one Loader can be used concurrently.
type LoaderPart struct {
	l       *Loader
	kinds   map[string]uint16 // the part's copy of what it looked up
	names   map[string]uint16
	records []Record
	// attrChunks and attrLocs are the part's encoded attributes (chunk indexes local to the
	// part); attrOthers its values of other types, by the part's record index.
	attrChunks [][]byte
	attrLocs   []idLoc
	attrOthers map[int32][]attrValue
	row        []attrValue

	batch      []rawID
	batchStart []int32
	first      int
	results    []loaderWork
}

type rawID struct {
	kind  uint16
	value string
}

type loaderWork struct {
	part  *LoaderPart
	first int
	raw   []rawID
	start []int32
	// chunk and locs are the batch's normalised identifiers; locs' chunk index is set by Input.
	chunk []byte
	locs  []idLoc
}

// NewLoader starts a loader; call Input when every record has been added.
func NewLoader(cfg *Config) *Loader {
	l := &Loader{cfg: cfg, kinds: map[string]uint16{}, attrs: newAttributeTable(), work: make(chan loaderWork, 4)}
	for range runtime.GOMAXPROCS(0) {
		l.done.Go(l.normalize)
	}
	return l
}

// Part returns a new part. Input puts the parts' records in the order the parts were made.
func (l *Loader) Part() *LoaderPart {
	p := &LoaderPart{l: l, kinds: map[string]uint16{}, names: map[string]uint16{}, attrOthers: map[int32][]attrValue{}}
	l.mu.Lock()
	l.parts = append(l.parts, p)
	l.mu.Unlock()
	return p
}

// Add adds a record through a part of its own: for a single scan.
func (l *Loader) Add(r Record) {
	if len(l.parts) == 0 {
		l.Part()
	}
	l.parts[len(l.parts)-1].Add(r)
}

func (l *Loader) kind(t string) uint16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.kinds[t]
	if !ok {
		k = uint16(len(l.types))
		l.kinds[t] = k
		l.types = append(l.types, t)
	}
	return k
}

func (l *Loader) attrName(name string) uint16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attrs.nameIndex(name)
}

// Add takes a record. Its raw identifiers are normalised and then dropped, and its attributes
// kept in a compact table rather than its map.
func (p *LoaderPart) Add(r Record) {
	p.row = p.row[:0]
	for name, v := range r.Attributes {
		if isEmpty(v) {
			continue
		}
		i, ok := p.names[name]
		if !ok {
			i = p.l.attrName(name)
			p.names[name] = i
		}
		p.row = append(p.row, attrValue{i, v})
	}
	rec := int32(len(p.records))
	var loc idLoc
	p.attrChunks, loc = appendAttrs(p.attrChunks, p.row, func(v attrValue) { p.attrOthers[rec] = append(p.attrOthers[rec], v) })
	p.attrLocs = append(p.attrLocs, loc)

	p.batchStart = append(p.batchStart, int32(len(p.batch)))
	for t, values := range r.Identifiers {
		kind, ok := p.kinds[t]
		if !ok {
			kind = p.l.kind(t)
			p.kinds[t] = kind
		}
		for _, v := range values {
			p.batch = append(p.batch, rawID{kind, v})
		}
	}
	r.Identifiers, r.Attributes = nil, nil
	p.records = append(p.records, r)
	if len(p.batchStart) == loaderBatch {
		p.flush()
	}
}

func (p *LoaderPart) flush() {
	if len(p.batchStart) == 0 {
		return
	}
	p.l.work <- loaderWork{part: p, first: p.first, raw: p.batch, start: p.batchStart}
	p.first = len(p.records)
	p.batch, p.batchStart = nil, nil
}

// normalize is one normalising goroutine.
func (l *Loader) normalize() {
	for w := range l.work {
		l.mu.Lock()
		types := l.types // kinds only grow, and every kind in w was numbered before w was sent
		l.mu.Unlock()
		w.locs = make([]idLoc, len(w.start))
		var ids []normalizedID
		for i, start := range w.start {
			end := int32(len(w.raw))
			if i+1 < len(w.start) {
				end = w.start[i+1]
			}
			ids = ids[:0]
			for _, raw := range w.raw[start:end] {
				n, ok := l.cfg.Normalizer.Normalize(types[raw.kind], raw.value)
				if ok && !slices.Contains(ids, normalizedID{raw.kind, n}) {
					ids = append(ids, normalizedID{raw.kind, n})
				}
			}
			slices.SortFunc(ids, compareNormalized)
			var off, size uint32
			w.chunk, off, size = appendEntries(w.chunk, ids)
			w.locs[i] = idLoc{off: off, size: size}
		}
		w.raw, w.start = nil, nil
		l.resMu.Lock()
		w.part.results = append(w.part.results, w)
		l.resMu.Unlock()
	}
}

// Input waits for the normalisation to finish and returns the run's input, its records sorted
// by reference (already so when each part's records came in that order and the parts were
// made in source order, as the worker's scans are).
func (l *Loader) Input() Input {
	for _, p := range l.parts {
		p.flush()
	}
	close(l.work)
	l.done.Wait()

	n := 0
	for _, p := range l.parts {
		n += len(p.records)
	}
	records := make([]Record, 0, n)
	ids := &idTable{locs: make([]idLoc, n)}
	attrs := l.attrs
	attrs.locs = make([]idLoc, 0, n)
	for _, p := range l.parts {
		base := len(records)
		for _, w := range p.results {
			chunk := uint32(len(ids.chunks))
			ids.chunks = append(ids.chunks, w.chunk)
			for i, loc := range w.locs {
				loc.chunk = chunk
				ids.locs[base+w.first+i] = loc
			}
		}
		chunkBase := uint32(len(attrs.chunks))
		attrs.chunks = append(attrs.chunks, p.attrChunks...)
		for _, loc := range p.attrLocs {
			loc.chunk += chunkBase
			attrs.locs = append(attrs.locs, loc)
		}
		for rec, o := range p.attrOthers {
			attrs.others[int32(base)+rec] = o
		}
		records = append(records, p.records...)
		p.records, p.attrChunks, p.attrLocs, p.attrOthers, p.results = nil, nil, nil, nil, nil
	}
	norm := &normalized{idTypes: l.types, ids: ids, attrs: attrs}
	if !slices.IsSortedFunc(records, compareRecords) {
		// Records added out of order are sorted together with what was computed for them.
		order := make([]int32, len(records))
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortFunc(order, func(a, b int32) int { return compareRecords(records[a], records[b]) })
		sorted := make([]Record, len(order))
		for to, from := range order {
			sorted[to] = records[from]
		}
		records = sorted
		ids.reorder(order)
		attrs.reorder(order)
	}
	return Input{Records: records, normalized: norm}
}

// normalized is what a Loader computed ahead of the run.
type normalized struct {
	idTypes []string
	ids     *idTable
	attrs   *attributeTable
}
