package v1alpha1

import "slices"

// ReferencedSegments returns the names of the Segments the rule tests membership of, sorted and
// without repeats.
func (r *SegmentRule) ReferencedSegments() []string {
	var names []string
	visit := func(c Condition) {
		if c.Segment != nil {
			names = append(names, c.Segment.Name)
		}
	}
	visit(r.Condition)
	nested := append(append([]NestedRule{}, r.All...), r.Any...)
	if r.Not != nil {
		nested = append(nested, *r.Not)
	}
	for _, n := range nested {
		visit(n.Condition)
		leaves := append(append([]LeafRule{}, n.All...), n.Any...)
		if n.Not != nil {
			leaves = append(leaves, *n.Not)
		}
		for _, l := range leaves {
			visit(l.Condition)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
