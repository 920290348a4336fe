package resolve

import (
	"fmt"
	"slices"
)

// Strategy picks one value for a profile attribute among its records' values.
type Strategy string

// Strategies, as the API spells them.
const (
	MostRecent     Strategy = "MostRecent"
	SourcePriority Strategy = "SourcePriority"
	MostFrequent   Strategy = "MostFrequent"
	FirstNonEmpty  Strategy = "FirstNonEmpty"
)

// Survivorship configures how attribute values are chosen.
type Survivorship struct {
	// Default applies to attributes not listed; MostRecent when empty.
	Default Strategy
	// Attributes maps attribute names to their own strategy.
	Attributes map[string]Strategy
}

func (s Survivorship) strategy(attribute string) Strategy {
	if st, ok := s.Attributes[attribute]; ok {
		return st
	}
	if s.Default != "" {
		return s.Default
	}
	return MostRecent
}

// ProfileAttributes chooses the surviving value of every attribute of profile p (an index in
// Profiles). Profiles do not keep them: at millions of profiles their maps would be most of the
// memory, so the worker asks for them as it writes each profile.
func (r *Result) ProfileAttributes(p int) map[string]any {
	return r.FillProfileAttributes(p, nil)
}

// FillProfileAttributes is ProfileAttributes into attrs, which it clears first, or into a new
// map when attrs is nil and the profile has attributes: a writer that reuses one map for
// millions of profiles spares the garbage collector millions of maps.
func (r *Result) FillProfileAttributes(p int, attrs map[string]any) map[string]any {
	clear(attrs)
	members := r.Profiles[p].Records
	if len(members) == 1 {
		// Most profiles have one record: its values survive as they are.
		var scratch [8]attrValue
		row := r.attrs.row(members[0], scratch[:0])
		if len(row) == 0 {
			return attrs
		}
		if attrs == nil {
			attrs = make(map[string]any, len(row))
		}
		for _, a := range row {
			attrs[r.attrs.names[a.name]] = a.value
		}
		return attrs
	}
	var names []string
	for _, i := range members {
		names = r.attrs.appendNames(i, names)
	}
	if len(names) == 0 {
		return attrs
	}
	ranker := recordRanker{records: r.Records, attrs: r.attrs, order: r.sourceOrder, priority: r.sourcePriority}
	if attrs == nil {
		attrs = make(map[string]any, len(names))
	}
	for _, name := range names {
		attrs[name] = ranker.choose(r.cfg.Survivorship.strategy(name), name, members)
	}
	return attrs
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == ""
}

// ProfileIdentifiers collects the distinct normalised identifiers of profile p's records, sorted:
// where a campaign finds the profile's email address or phone number.
func (r *Result) ProfileIdentifiers(p int) map[string][]string {
	return r.FillProfileIdentifiers(p, nil)
}

// FillProfileIdentifiers is ProfileIdentifiers into ids, reusing its map and slices (emptied
// first), or into a new map when ids is nil.
func (r *Result) FillProfileIdentifiers(p int, ids map[string][]string) map[string][]string {
	for t, values := range ids {
		ids[t] = values[:0]
	}
	records := r.Profiles[p].Records
	for _, i := range records {
		for it := r.ids.iter(i); ; {
			kind, v, ok := it.next()
			if !ok {
				break
			}
			if ids == nil {
				ids = map[string][]string{}
			}
			t := r.idTypes[kind]
			if !slices.Contains(ids[t], v) {
				ids[t] = append(ids[t], v)
			}
		}
	}
	for t, values := range ids {
		switch {
		case len(values) == 0:
			delete(ids, t) // a type a reused map held for an earlier profile
		case len(records) > 1:
			slices.Sort(values)
		}
	}
	return ids
}

// recordRanker orders a profile's records for the strategies.
type recordRanker struct {
	records  []Record
	attrs    *attributeTable
	order    map[string]int
	priority map[string]int
}

// newer reports whether record a is more recent than b; ties go to the higher-priority source,
// then the source listed first, then the lower record index.
func (k recordRanker) newer(a, b int32) bool {
	ra, rb := &k.records[a], &k.records[b]
	if !ra.UpdatedAt.Equal(rb.UpdatedAt) {
		return ra.UpdatedAt.After(rb.UpdatedAt)
	}
	return k.preferred(a, b)
}

// preferred reports whether record a's source outranks b's: higher priority, then listed first;
// within one source the lower record index wins.
func (k recordRanker) preferred(a, b int32) bool {
	sa, sb := k.records[a].Ref.Source, k.records[b].Ref.Source
	if k.priority[sa] != k.priority[sb] {
		return k.priority[sa] > k.priority[sb]
	}
	if k.order[sa] != k.order[sb] {
		return k.order[sa] < k.order[sb]
	}
	return a < b
}

// listedFirst reports whether record a comes before b in source-listing order, then key order.
func (k recordRanker) listedFirst(a, b int32) bool {
	sa, sb := k.records[a].Ref.Source, k.records[b].Ref.Source
	if k.order[sa] != k.order[sb] {
		return k.order[sa] < k.order[sb]
	}
	return a < b
}

func (k recordRanker) choose(st Strategy, name string, members []int32) any {
	best := int32(-1)
	switch st {
	case MostFrequent:
		counts := map[string]int{}
		for _, i := range members {
			if v := k.attrs.value(i, name); !isEmpty(v) {
				counts[valueKey(v)]++
			}
		}
		for _, i := range members {
			v := k.attrs.value(i, name)
			if isEmpty(v) {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			cv, cb := counts[valueKey(v)], counts[valueKey(k.attrs.value(best, name))]
			if cv > cb || (cv == cb && k.newer(i, best)) {
				best = i
			}
		}
	default:
		better := k.newer
		switch st {
		case SourcePriority:
			better = func(a, b int32) bool {
				sa, sb := k.records[a].Ref.Source, k.records[b].Ref.Source
				if k.priority[sa] != k.priority[sb] || k.order[sa] != k.order[sb] {
					return k.preferred(a, b)
				}
				return k.newer(a, b)
			}
		case FirstNonEmpty:
			better = k.listedFirst
		}
		for _, i := range members {
			if isEmpty(k.attrs.value(i, name)) {
				continue
			}
			if best < 0 || better(i, best) {
				best = i
			}
		}
	}
	if best < 0 {
		return nil
	}
	return k.attrs.value(best, name)
}

// valueKey tells values apart by type and content, for counting.
func valueKey(v any) string { return fmt.Sprintf("%T:%v", v, v) }
