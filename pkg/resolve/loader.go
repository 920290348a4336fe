package resolve

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/kizuna-dev/kizuna/pkg/store"
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
	l     *Loader
	kinds map[string]uint16 // the part's copy of what it looked up
	names map[string]uint16
	// records are the part's records, in batches of loaderBatch: appending to one slice of
	// millions copied it again and again. n counts them.
	records [][]Record
	n       int
	// attrChunks and attrLocs are the part's encoded attributes (chunk indexes local to the
	// part); attrOthers its values of other types, by the part's record index.
	attrChunks [][]byte
	attrLocs   []idLoc
	attrOthers map[int32][]attrValue
	row        []attrValue

	// batch is the current batch's raw identifiers, their values in rawBytes.
	batch      []rawID
	rawBytes   []byte
	batchStart []int32
	first      int
	results    []loaderWork
}

type rawID struct {
	kind     uint16
	off, len uint32
}

type loaderWork struct {
	part     *LoaderPart
	first    int
	raw      []rawID
	rawBytes []byte
	start    []int32
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
	p.addAttributes(r.Attributes)
	p.batchStart = append(p.batchStart, int32(len(p.batch)))
	for t, values := range r.Identifiers {
		for _, v := range values {
			p.addIdentifier(t, v)
		}
	}
	r.Identifiers, r.Attributes = nil, nil
	p.addRecord(r)
}

// AddScanned takes a record as a store scan yields it, without maps of its identifiers: each
// is given to the function that each calls, and copied.
func (p *LoaderPart) AddScanned(ref store.RecordRef, updatedAt time.Time, attributes map[string]any, each func(func(idType, value string)) error) error {
	p.addAttributes(attributes)
	p.batchStart = append(p.batchStart, int32(len(p.batch)))
	if err := each(p.addIdentifier); err != nil {
		return err
	}
	p.addRecord(Record{Ref: ref, UpdatedAt: updatedAt})
	return nil
}

func (p *LoaderPart) addIdentifier(idType, value string) {
	kind, ok := p.kinds[idType]
	if !ok {
		idType = strings.Clone(idType) // kept: the caller's string may be a view of its buffer
		kind = p.l.kind(idType)
		p.kinds[idType] = kind
	}
	p.batch = append(p.batch, rawID{kind: kind, off: uint32(len(p.rawBytes)), len: uint32(len(value))})
	p.rawBytes = append(p.rawBytes, value...)
}

func (p *LoaderPart) addRecord(r Record) {
	if len(p.records) == 0 || len(p.records[len(p.records)-1]) == loaderBatch {
		p.records = append(p.records, make([]Record, 0, loaderBatch))
	}
	last := &p.records[len(p.records)-1]
	*last = append(*last, r)
	p.n++
	if len(p.batchStart) == loaderBatch {
		p.flush()
	}
}

func (p *LoaderPart) addAttributes(attributes map[string]any) {
	p.row = p.row[:0]
	for name, v := range attributes {
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
	rec := int32(p.n)
	var loc idLoc
	p.attrChunks, loc = appendAttrs(p.attrChunks, p.row, func(v attrValue) { p.attrOthers[rec] = append(p.attrOthers[rec], v) })
	p.attrLocs = append(p.attrLocs, loc)
}

func (p *LoaderPart) flush() {
	if len(p.batchStart) == 0 {
		return
	}
	p.l.work <- loaderWork{part: p, first: p.first, raw: p.batch, rawBytes: p.rawBytes, start: p.batchStart}
	p.first = p.n
	// The next batch is sized like this one: growing it from nothing was a copy per doubling.
	p.batch = make([]rawID, 0, cap(p.batch))
	p.rawBytes = make([]byte, 0, cap(p.rawBytes))
	p.batchStart = make([]int32, 0, loaderBatch)
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
				// A view of the batch's bytes, which nothing writes once the batch is sent;
				// normalised values are copied into the chunk.
				var value string
				if raw.len > 0 {
					value = unsafe.String(&w.rawBytes[raw.off], int(raw.len))
				}
				n, ok := l.cfg.Normalizer.Normalize(types[raw.kind], value)
				if ok && !slices.Contains(ids, normalizedID{raw.kind, n}) {
					ids = append(ids, normalizedID{raw.kind, n})
				}
			}
			slices.SortFunc(ids, compareNormalized)
			var off, size uint32
			w.chunk, off, size = appendEntries(w.chunk, ids)
			w.locs[i] = idLoc{off: off, size: size}
		}
		w.raw, w.rawBytes, w.start = nil, nil, nil
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
		n += p.n
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
		for _, batch := range p.records {
			records = append(records, batch...)
		}
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
