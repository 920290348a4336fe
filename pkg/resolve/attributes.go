package resolve

import (
	"encoding/binary"
	"math"
	"slices"
	"time"
	"unsafe"
)

// attrValue is one attribute of one record: its name's index and its value.
type attrValue struct {
	name  uint16
	value any
}

// Encoded attribute kinds.
const (
	attrString byte = iota
	attrNumber
	attrBool
	attrTime
	attrOther // a value of another type, kept aside in others
)

// attrChunkSize bounds a chunk of encoded attributes; a new one starts beyond it.
const attrChunkSize = 1 << 20

// attributeTable holds every record's attributes encoded in byte chunks, like idTable, rather
// than in a map or a slice of interfaces per record: at ten million records those were most of
// the heap and most of what the garbage collector marked. Values are decoded when survivorship
// asks for them.
type attributeTable struct {
	names  []string
	index  map[string]uint16
	chunks [][]byte
	locs   []idLoc
	// others holds the rare values of other types (nested JSON), by record.
	others map[int32][]attrValue
}

func newAttributeTable() *attributeTable {
	return &attributeTable{index: map[string]uint16{}, others: map[int32][]attrValue{}}
}

// nameIndex numbers an attribute name.
func (t *attributeTable) nameIndex(name string) uint16 {
	i, ok := t.index[name]
	if !ok {
		i = uint16(len(t.names))
		t.index[name] = i
		t.names = append(t.names, name)
	}
	return i
}

// add appends a record's attributes, without the empty ones.
func (t *attributeTable) add(attrs map[string]any) {
	var row []attrValue
	for name, v := range attrs {
		if !isEmpty(v) {
			row = append(row, attrValue{t.nameIndex(name), v})
		}
	}
	rec := int32(len(t.locs))
	var loc idLoc
	t.chunks, loc = appendAttrs(t.chunks, row, func(v attrValue) { t.others[rec] = append(t.others[rec], v) })
	t.locs = append(t.locs, loc)
}

// appendAttrs encodes a record's attributes onto the last chunk (starting a new one when it is
// full) and returns where they are; values of other types go to other.
func appendAttrs(chunks [][]byte, row []attrValue, other func(attrValue)) ([][]byte, idLoc) {
	if len(chunks) == 0 || len(chunks[len(chunks)-1]) > attrChunkSize {
		chunks = append(chunks, make([]byte, 0, attrChunkSize+attrChunkSize/8))
	}
	last := len(chunks) - 1
	b := chunks[last]
	off := len(b)
	for _, a := range row {
		switch v := a.value.(type) {
		case string:
			b = binary.LittleEndian.AppendUint16(b, a.name)
			b = append(b, attrString)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case float64:
			b = binary.LittleEndian.AppendUint16(b, a.name)
			b = binary.LittleEndian.AppendUint64(append(b, attrNumber), math.Float64bits(v))
		case bool:
			b = binary.LittleEndian.AppendUint16(b, a.name)
			flag := byte(0)
			if v {
				flag = 1
			}
			b = append(b, attrBool, flag)
		case time.Time:
			b = binary.LittleEndian.AppendUint16(b, a.name)
			b = binary.LittleEndian.AppendUint64(append(b, attrTime), uint64(v.Unix()))
			b = binary.LittleEndian.AppendUint32(b, uint32(v.Nanosecond()))
		default:
			other(a)
		}
	}
	chunks[last] = b
	return chunks, idLoc{chunk: uint32(last), off: uint32(off), size: uint32(len(b) - off)}
}

// row decodes record rec's attributes.
func (t *attributeTable) row(rec int32, dst []attrValue) []attrValue {
	loc := t.locs[rec]
	b := t.chunks[loc.chunk][loc.off : loc.off+loc.size]
	for len(b) > 0 {
		name, kind := binary.LittleEndian.Uint16(b), b[2]
		b = b[3:]
		var v any
		switch kind {
		case attrString:
			n, k := binary.Uvarint(b)
			s := ""
			if n > 0 {
				s = unsafe.String(&b[k], int(n)) // chunks are never written again
			}
			v, b = s, b[k+int(n):]
		case attrNumber:
			v, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
		case attrBool:
			v, b = b[0] == 1, b[1:]
		case attrTime:
			v = time.Unix(int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint32(b[8:]))).UTC()
			b = b[12:]
		}
		dst = append(dst, attrValue{name, v})
	}
	return append(dst, t.others[rec]...)
}

// value returns one attribute of record rec, nil when it has none.
func (t *attributeTable) value(rec int32, name string) any {
	i, ok := t.index[name]
	if !ok {
		return nil
	}
	var scratch [8]attrValue
	for _, a := range t.row(rec, scratch[:0]) {
		if a.name == i {
			return a.value
		}
	}
	return nil
}

// appendNames appends the names of record rec's attributes that names lacks.
func (t *attributeTable) appendNames(rec int32, names []string) []string {
	var scratch [8]attrValue
	for _, a := range t.row(rec, scratch[:0]) {
		if n := t.names[a.name]; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// reorder puts the records in a new order: record to is old record order[to].
func (t *attributeTable) reorder(order []int32) {
	locs := make([]idLoc, len(order))
	others := make(map[int32][]attrValue, len(t.others))
	for to, from := range order {
		locs[to] = t.locs[from]
		if o, ok := t.others[from]; ok {
			others[int32(to)] = o
		}
	}
	t.locs, t.others = locs, others
}
