package resolve

import (
	"cmp"
	"context"
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

// linkDeterministic links, rule by rule, the records that share a normalised key, except on keys
// shared by more records than the rule allows. One rule's index is built and dropped before the
// next, so memory holds one rule's distinct values at a time.
func (r *Result) linkDeterministic(ctx context.Context) error {
	for _, rule := range r.cfg.Deterministic {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.linkRule(rule)
	}
	slices.SortFunc(r.Ignored, func(a, b IgnoredValue) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Value, b.Value))
	})
	if len(r.Ignored) > maxIgnoredReported {
		r.Ignored = r.Ignored[:maxIgnoredReported]
	}
	return nil
}

func (r *Result) linkRule(rule DeterministicRule) {
	limit := rule.MaxRecordsPerValue
	if limit <= 0 {
		limit = DefaultMaxRecordsPerValue
	}
	groups := map[string]int32{}
	var first, count []int32
	// entries pairs each record with the group of each of its keys.
	var entryRecord, entryGroup []int32
	var keys []string
	for i := range r.Records {
		keys = r.ruleKeys(rule, &r.Records[i], keys[:0])
		for _, k := range keys {
			g, ok := groups[k]
			if !ok {
				g = int32(len(first))
				groups[k] = g
				first = append(first, int32(i))
				count = append(count, 0)
			}
			count[g]++
			entryRecord = append(entryRecord, int32(i))
			entryGroup = append(entryGroup, g)
		}
	}
	r.Stats.IdentifierValues += int64(len(entryRecord))
	for e, g := range entryGroup {
		if int(count[g]) <= limit && r.links.union(entryRecord[e], first[g]) {
			r.Stats.DeterministicLinks++
		}
	}
	for k, g := range groups {
		if int(count[g]) > limit {
			r.Stats.IgnoredValueRecords += int64(count[g])
			r.Ignored = append(r.Ignored, IgnoredValue{
				Rule: rule.Name, Type: strings.Join(rule.Identifiers, "+"), Value: mask(k), Records: int64(count[g]),
			})
		}
	}
}

// ruleKeys appends a record's keys for a rule: its normalised values of the rule's identifier
// types, joined, for every combination (a record with two emails has two keys for an email rule).
// A record missing one of the types has none.
func (r *Result) ruleKeys(rule DeterministicRule, rec *Record, keys []string) []string {
	keys = append(keys, "")
	for t, idType := range rule.Identifiers {
		values := r.normalizedValues(idType, rec)
		if len(values) == 0 {
			return keys[:0]
		}
		n := len(keys)
		for _, prefix := range keys[:n] {
			for _, v := range values {
				if t > 0 {
					v = prefix + keySeparator + v
				}
				keys = append(keys, v)
			}
		}
		keys = keys[n:]
	}
	return keys
}

// normalizedValues returns a record's distinct normalised values of one identifier type.
func (r *Result) normalizedValues(idType string, rec *Record) []string {
	raw := rec.Identifiers[idType]
	var out []string
	for _, v := range raw {
		n, ok := r.cfg.Normalizer.Normalize(idType, v)
		if ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
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
