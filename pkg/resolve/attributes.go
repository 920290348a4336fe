package resolve

import "slices"

// attrValue is one attribute of one record: its name's index and its value.
type attrValue struct {
	name  uint16
	value any
}

// attributeTable holds every record's attributes compactly: a short slice per record instead
// of a map, which at ten million records saves about 250 bytes each.
type attributeTable struct {
	names []string
	index map[string]uint16
	rows  [][]attrValue
}

func newAttributeTable() *attributeTable { return &attributeTable{index: map[string]uint16{}} }

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
	t.rows = append(t.rows, row)
}

// value returns one attribute of record rec, nil when it has none.
func (t *attributeTable) value(rec int32, name string) any {
	i, ok := t.index[name]
	if !ok {
		return nil
	}
	for _, a := range t.rows[rec] {
		if a.name == i {
			return a.value
		}
	}
	return nil
}

// appendNames appends the names of record rec's attributes that names lacks.
func (t *attributeTable) appendNames(rec int32, names []string) []string {
	for _, a := range t.rows[rec] {
		if n := t.names[a.name]; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// reorder puts the rows in a new order: rows[to] = old rows[order[to]].
func (t *attributeTable) reorder(order []int32) {
	rows := make([][]attrValue, len(order))
	for to, from := range order {
		rows[to] = t.rows[from]
	}
	t.rows = rows
}
