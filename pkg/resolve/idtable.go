package resolve

import (
	"encoding/binary"
	"unsafe"
)

// idTable holds every record's normalised identifiers in a few large byte chunks, with no
// pointer per value. At ten million records a string and a slice per identifier made the heap
// several gigabytes dense with pointers, which the garbage collector marked again and again;
// here each record costs its bytes and twelve more.
//
// A record's identifiers are consecutive entries in one chunk, sorted by kind then value:
// the kind (two bytes, little-endian), the value's length (uvarint) and the value.
type idTable struct {
	chunks [][]byte
	locs   []idLoc
}

// idLoc is where a record's entries are.
type idLoc struct{ chunk, off, size uint32 }

// appendEntries encodes a record's identifiers onto a chunk and returns it with their location
// in it.
func appendEntries(chunk []byte, ids []normalizedID) ([]byte, uint32, uint32) {
	off := len(chunk)
	for _, id := range ids {
		chunk = binary.LittleEndian.AppendUint16(chunk, id.kind)
		chunk = binary.AppendUvarint(chunk, uint64(len(id.value)))
		chunk = append(chunk, id.value...)
	}
	return chunk, uint32(off), uint32(len(chunk) - off)
}

// idIter walks one record's identifiers.
type idIter struct{ data []byte }

func (t *idTable) iter(rec int32) idIter {
	loc := t.locs[rec]
	if loc.size == 0 {
		return idIter{}
	}
	return idIter{data: t.chunks[loc.chunk][loc.off : loc.off+loc.size]}
}

// next returns the next identifier. Its value is a view of the chunk, which is never written
// again once built, so the string stays valid as long as anything refers to it.
func (it *idIter) next() (kind uint16, value string, ok bool) {
	if len(it.data) == 0 {
		return 0, "", false
	}
	kind = binary.LittleEndian.Uint16(it.data)
	n, k := binary.Uvarint(it.data[2:])
	start := 2 + k
	if n > 0 {
		value = unsafe.String(&it.data[start], int(n))
	}
	it.data = it.data[start+int(n):]
	return kind, value, true
}

// reorder puts the locations in a new order: locs[to] = old locs[order[to]].
func (t *idTable) reorder(order []int32) {
	locs := make([]idLoc, len(order))
	for to, from := range order {
		locs[to] = t.locs[from]
	}
	t.locs = locs
}
