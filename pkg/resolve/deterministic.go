package resolve

import (
	"cmp"
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxIgnoredReported bounds the ignored values a run reports: the worst offenders are what a
// user needs to see.
const maxIgnoredReported = 100

// keySeparator joins the values of a rule over several identifier types. It cannot appear in a
// normalised value: normalisers drop control characters.
const keySeparator = "\x1f"

// keyEntry is one key of one record under one rule: the key's two hashes (sorted by the
// first, told apart by both), the record, and which of the record's keys it is (a record with
// two emails has two).
type keyEntry struct {
	hash, check uint64
	rec         int32
	nth         int32
}

// linkDeterministic links, rule by rule, the records that share a normalised key, except on keys
// shared by more records than the rule allows.
//
// Records are grouped by sorting their keys' 64-bit hashes with a radix sort rather than by a
// map of strings: at ten million records a map's cache misses cost several times more, and
// its memory several times more too. Records whose hashes are equal are compared by a second,
// independent 64-bit hash of their keys, kept beside the first: reading the keys themselves
// meant a cache miss per record, a third of the linking's time at ten million records. Linking
// two strangers would take two different keys colliding in 128 bits, about one chance in 10^24
// for thirty million keys.
func (r *Result) linkDeterministic(ctx context.Context) error {
	seeds := [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	// Most records have one key per rule: sized so, the entries rarely grow, which at ten
	// million records was copying gigabytes.
	entries := make([]keyEntry, 0, len(r.Records)+len(r.Records)/8)
	var buf []keyEntry
	for _, rule := range r.cfg.Deterministic {
		if err := ctx.Err(); err != nil {
			return err
		}
		kinds, ok := r.ruleKinds(rule)
		if !ok {
			continue // no record has one of the rule's identifier types
		}
		entries = r.ruleEntries(kinds, seeds, entries[:0])
		buf = slices.Grow(buf[:0], len(entries))[:len(entries)]
		radixSort(entries, buf)
		r.linkGroups(rule, kinds, entries)
	}
	slices.SortFunc(r.Ignored, func(a, b IgnoredValue) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Value, b.Value))
	})
	if len(r.Ignored) > maxIgnoredReported {
		r.Ignored = r.Ignored[:maxIgnoredReported]
	}
	return nil
}

// ruleKinds returns the kinds of a rule's identifier types, or false when a type is unknown.
func (r *Result) ruleKinds(rule DeterministicRule) ([]uint16, bool) {
	kinds := make([]uint16, len(rule.Identifiers))
	for i, t := range rule.Identifiers {
		k, ok := r.kindOf(t)
		if !ok {
			return nil, false
		}
		kinds[i] = k
	}
	return kinds, true
}

func (r *Result) ruleEntries(kinds []uint16, seeds [2]maphash.Seed, entries []keyEntry) []keyEntry {
	var keys []string
	for i := range r.Records {
		keys = r.ruleKeys(kinds, int32(i), keys[:0])
		for nth, k := range keys {
			entries = append(entries, keyEntry{
				hash: maphash.String(seeds[0], k), check: maphash.String(seeds[1], k), rec: int32(i), nth: int32(nth),
			})
		}
	}
	r.Stats.IdentifierValues += int64(len(entries))
	return entries
}

// linkGroups walks sorted entries, group by group of equal keys, and links each group's records
// unless the group is larger than the rule allows.
func (r *Result) linkGroups(rule DeterministicRule, kinds []uint16, entries []keyEntry) {
	limit := rule.MaxRecordsPerValue
	if limit <= 0 {
		limit = DefaultMaxRecordsPerValue
	}
	link := func(group []keyEntry) {
		if len(group) > limit {
			k := r.ruleKeys(kinds, group[0].rec, nil)[group[0].nth]
			r.Stats.IgnoredValueRecords += int64(len(group))
			r.Ignored = append(r.Ignored, IgnoredValue{
				Rule: rule.Name, Type: strings.Join(rule.Identifiers, "+"), Value: mask(k), Records: int64(len(group)),
			})
			return
		}
		for _, e := range group[1:] {
			if r.links.union(group[0].rec, e.rec) {
				r.Stats.DeterministicLinks++
			}
		}
	}
	for start := 0; start < len(entries); {
		end := start + 1
		for end < len(entries) && entries[end].hash == entries[start].hash {
			end++
		}
		run := entries[start:end]
		start = end
		if len(run) == 1 {
			continue
		}
		// Equal hashes nearly always mean equal keys; when the second hashes differ, split the
		// run by them.
		same := true
		for _, e := range run[1:] {
			if e.check != run[0].check {
				same = false
				break
			}
		}
		if same {
			link(run)
			continue
		}
		slices.SortFunc(run, func(a, b keyEntry) int { return cmp.Compare(a.check, b.check) })
		for s := 0; s < len(run); {
			e := s + 1
			for e < len(run) && run[e].check == run[s].check {
				e++
			}
			link(run[s:e])
			s = e
		}
	}
}

// ruleKeys appends a record's keys for a rule: its normalised values of the rule's identifier
// kinds, joined, for every combination (a record with two emails has two keys for an email
// rule). A record missing one of the kinds has none.
func (r *Result) ruleKeys(kinds []uint16, rec int32, keys []string) []string {
	if len(kinds) == 1 {
		for it := r.ids.iter(rec); ; {
			kind, v, ok := it.next()
			if !ok {
				return keys
			}
			if kind == kinds[0] {
				keys = append(keys, v)
			}
		}
	}
	start := len(keys)
	keys = append(keys, "")
	for t, kind := range kinds {
		n := len(keys)
		for _, prefix := range keys[start:n] {
			for it := r.ids.iter(rec); ; {
				k, v, ok := it.next()
				if !ok {
					break
				}
				if k != kind {
					continue
				}
				if t > 0 {
					v = prefix + keySeparator + v
				}
				keys = append(keys, v)
			}
		}
		keys = append(keys[:start], keys[n:]...)
		if len(keys) == start {
			return keys
		}
	}
	return keys
}

// radixSort sorts entries by hash, least significant 16 bits first, using buf (of the same
// length) as scratch space: four linear passes instead of a comparison sort's n log n.
func radixSort(entries, buf []keyEntry) {
	var counts [1 << 16]int
	src, dst := entries, buf
	for shift := 0; shift < 64; shift += 16 {
		clear(counts[:])
		for _, e := range src {
			counts[(e.hash>>shift)&0xffff]++
		}
		sum := 0
		for i, c := range counts {
			counts[i] = sum
			sum += c
		}
		for _, e := range src {
			d := (e.hash >> shift) & 0xffff
			dst[counts[d]] = e
			counts[d]++
		}
		src, dst = dst, src
	}
	// Four passes end in entries itself.
}

// mask keeps a value's first and last characters, so that status and logs can show which value
// was ignored without carrying the personal data itself.
func mask(v string) string {
	v = strings.ReplaceAll(v, keySeparator, "+")
	n := utf8.RuneCountInString(v)
	if n <= 2 {
		return strings.Repeat("*", n)
	}
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	return string(first) + strings.Repeat("*", min(n-2, 8)) + string(last)
}
