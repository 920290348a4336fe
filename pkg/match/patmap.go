package match

// patMap maps patterns to local ids: open addressing with linear probing over a power-of-two
// table. It is what pass one does per pair besides comparing, and Go's map costs several times
// more for a 24-byte key that is already well mixed.
type patMap struct {
	slots []patSlot
	mask  uint64
	n     int
}

type patSlot struct {
	key  patKey
	id   uint32
	used bool
}

func (m *patMap) reset() {
	if m.slots == nil {
		m.slots = make([]patSlot, 1024)
		m.mask = 1023
	}
	clear(m.slots)
	m.n = 0
}

// get returns the key's id, or adds it with id next; added says which.
func (m *patMap) get(k patKey, next uint32) (id uint32, added bool) {
	if 2*(m.n+1) > len(m.slots) {
		m.grow()
	}
	h := (k.lo*0x9e3779b97f4a7c15 ^ k.hi*0xc2b2ae3d27d4eb4f ^ uint64(k.rules)*0x165667b19e3779f9)
	h ^= h >> 29
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		if !s.used {
			*s = patSlot{key: k, id: next, used: true}
			m.n++
			return next, true
		}
		if s.key == k {
			return s.id, false
		}
	}
}

func (m *patMap) grow() {
	old := m.slots
	m.slots = make([]patSlot, 2*len(old))
	m.mask = uint64(len(m.slots) - 1)
	m.n = 0
	for _, s := range old {
		if s.used {
			m.get(s.key, s.id)
		}
	}
}
