package match

import (
	"cmp"
	"slices"
)

// RuleStats reports what one blocking rule produced.
type RuleStats struct {
	Name string
	// Groups of two or more records sharing a key, compared pairwise.
	Groups int
	// CandidatePairs this rule generated first (pairs an earlier rule found are not counted).
	CandidatePairs int64
	// SkippedGroups had more than Config.MaxBlockSize records; their pairs were not generated
	// by this rule (another rule may still find them).
	SkippedGroups  int
	SkippedRecords int64
	SkippedPairs   int64
	// LargestSkipped lists up to ten skipped groups, largest first.
	LargestSkipped []SkippedGroup
}

// SkippedGroup is a blocking key shared by too many records.
type SkippedGroup struct {
	Key     []string // the rule's field values
	Records int
}

const maxReportedSkips = 10

// ruleIndex is one blocking rule's grouping of the records.
type ruleIndex struct {
	BlockingRule
	// keys gives each record's group id; 0 when a key field is null or the group was
	// skipped, so such records never count as agreeing on this rule.
	keys []uint32
	// order lists the records of compared groups, group by group, ascending within a group,
	// so pairs come out with A < B. Group g is order[starts[g]:starts[g+1]].
	order  []int32
	starts []int32
	stats  RuleStats
	// skipped holds the joined keys of skipped groups, for explanations.
	skipped map[string]int
}

// buildRule groups the records on a rule's key with a counting sort over dense key ids.
func buildRule(r BlockingRule, cols map[string]*column, maxBlock int) *ruleIndex {
	keys, nkeys := ruleKeys(r, cols)
	ri := &ruleIndex{BlockingRule: r, keys: keys, stats: RuleStats{Name: r.Name}}
	size := make([]int32, nkeys+1)
	for _, k := range keys {
		size[k]++
	}
	size[0] = 0                       // null keys form no group
	var skipped, skippedSize []uint32 // key ids and their group sizes
	for k, s := range size {
		switch {
		case s < 2:
			size[k] = 0 // a lone record pairs with nobody: leave it out of order
		case int(s) > maxBlock:
			ri.stats.SkippedGroups++
			ri.stats.SkippedRecords += int64(s)
			ri.stats.SkippedPairs += int64(s) * int64(s-1) / 2
			skipped, skippedSize = append(skipped, uint32(k)), append(skippedSize, uint32(s))
			size[k] = -1 // marked: members get key 0 below
		default:
			ri.stats.Groups++
		}
	}
	if len(skipped) > 0 {
		ri.reportSkipped(skipped, skippedSize, size, cols)
	}
	// Prefix sums turn sizes into each group's start in order.
	offset := make([]int32, nkeys+1)
	var total int32
	ri.starts = make([]int32, 0, ri.stats.Groups+1)
	for k, s := range size {
		offset[k] = total
		if s > 0 {
			ri.starts = append(ri.starts, total)
			total += s
		}
	}
	ri.starts = append(ri.starts, total)
	ri.order = make([]int32, total)
	for i, k := range keys {
		switch s := size[k]; {
		case s == -1:
			keys[i] = 0
		case s > 0:
			ri.order[offset[k]] = int32(i)
			offset[k]++
		}
	}
	return ri
}

// reportSkipped records the skipped groups' values, for the result (the largest ones) and
// for explanations. It runs only when some group is skipped, so the common case pays nothing.
func (ri *ruleIndex) reportSkipped(ids, sizes []uint32, size []int32, cols map[string]*column) {
	member := make(map[uint32]int, len(ids)) // key id → a member record
	for i, k := range ri.keys {
		if size[k] == -1 {
			if _, ok := member[k]; !ok {
				member[k] = i
			}
		}
	}
	groups := make([]SkippedGroup, len(ids))
	ri.skipped = make(map[string]int, len(ids))
	for j, k := range ids {
		rec := member[k]
		vals := make([]string, len(ri.Fields))
		for f, name := range ri.Fields {
			c := cols[name]
			vals[f] = c.vals[c.ids[rec]].s
		}
		groups[j] = SkippedGroup{Key: vals, Records: int(sizes[j])}
		ri.skipped[joinKey(vals)] = groups[j].Records
	}
	slices.SortStableFunc(groups, func(a, b SkippedGroup) int {
		if c := cmp.Compare(b.Records, a.Records); c != 0 {
			return c
		}
		return slices.Compare(a.Key, b.Key)
	})
	ri.stats.LargestSkipped = groups[:min(len(groups), maxReportedSkips)]
}

// joinKey joins key values with a separator that normalised text does not contain.
func joinKey(vals []string) string {
	s := ""
	for i, v := range vals {
		if i > 0 {
			s += "\x1f"
		}
		s += v
	}
	return s
}

// ruleKeys gives every record a dense key id for the rule: 0 when any field is null, else an
// id shared exactly by the records with the same values. One field's dictionary ids already
// are such ids; each further field is folded in by foldKeys.
func ruleKeys(r BlockingRule, cols map[string]*column) ([]uint32, int) {
	first := cols[r.Fields[0]]
	keys, nkeys := slices.Clone(first.ids), len(first.vals)-1
	for _, f := range r.Fields[1:] {
		col := cols[f]
		keys, nkeys = foldKeys(keys, nkeys, col.ids, len(col.vals)-1)
	}
	return keys, nkeys
}

// foldKeys numbers the distinct non-null (key, id) pairs densely. A radix sort (two stable
// counting sorts, by id then by key) brings equal pairs together, and a new number starts
// wherever the pair changes: linear time, and several times faster than a hash map over a
// million records.
func foldKeys(keys []uint32, nkeys int, ids []uint32, nids int) ([]uint32, int) {
	recs := make([]int32, 0, len(keys))
	for i, k := range keys {
		if k != 0 && ids[i] != 0 {
			recs = append(recs, int32(i))
		}
	}
	recs = countingSort(countingSort(recs, ids, nids), keys, nkeys)
	out := make([]uint32, len(keys))
	var next, pk, pi uint32
	for _, i := range recs {
		if keys[i] != pk || ids[i] != pi {
			next++
			pk, pi = keys[i], ids[i]
		}
		out[i] = next
	}
	return out, int(next)
}

// countingSort orders records stably by by[record], whose values are at most k.
func countingSort(recs []int32, by []uint32, k int) []int32 {
	start := make([]int32, k+2)
	for _, i := range recs {
		start[by[i]+1]++
	}
	for v := 1; v < len(start); v++ {
		start[v] += start[v-1]
	}
	out := make([]int32, len(recs))
	for _, i := range recs {
		out[start[by[i]]] = i
		start[by[i]]++
	}
	return out
}
