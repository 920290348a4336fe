package segment

import (
	"slices"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Dataset is what Evaluate reads: the published profiles of one resolution and what the
// namespace holds around them.
type Dataset struct {
	Profiles []Profile
	// Events are the namespace's events, of every type.
	Events []Event
	// Links takes an event's identifier, {type, value} as the event carries it, to its profile.
	Links map[[2]string]string
	// Members are the current members of the namespace's segments, by segment name.
	Members map[string][]string
}

// Profile is a published profile. Attribute values are string, float64 (or another Go number),
// bool or time.Time; anything else counts as missing.
type Profile struct {
	ID          string
	Identifiers map[string][]string
	Attributes  map[string]any
}

// Event is a behavioural event. OccurredAt is read to the microsecond, as the store keeps it.
// ReceivedAt, when the store received it, matters only to EvaluateOccurrences; zero stands for
// OccurredAt.
type Event struct {
	Type                            string
	OccurredAt                      time.Time
	IdentifierType, IdentifierValue string
	Properties                      map[string]any
	ReceivedAt                      time.Time
}

// Evaluate returns the IDs of the profiles of data that satisfy rule, sorted: the same answer
// as the query Compile returns, computed in memory, one profile at a time, with plain loops. It
// is the reference the compiled SQL is tested against, and serves small previews. The options
// are checked as for Compile; Dialect is ignored, and data stands for the profiles and events
// that Namespace, Resolution and Slot select.
func Evaluate(rule *cdpv1alpha1.SegmentRule, data Dataset, opts Options) ([]string, error) {
	n, _, err := parse(rule, opts)
	if err != nil {
		return nil, err
	}
	e := &evaluator{
		now: opts.Now, loc: opts.location(), data: data,
		events: map[*eventTest]map[string]*eventTotals{}, rfm: map[*rfmTest]map[string]bool{},
	}
	var ids []string
	for i := range data.Profiles {
		if e.matches(n, &data.Profiles[i]) {
			ids = append(ids, data.Profiles[i].ID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

type evaluator struct {
	now  time.Time
	loc  *time.Location
	data Dataset
	// events and rfm cache, per test, what every profile did.
	events map[*eventTest]map[string]*eventTotals
	rfm    map[*rfmTest]map[string]bool
}

func (e *evaluator) matches(n *node, p *Profile) bool {
	switch n.kind {
	case allNode:
		for _, c := range n.children {
			if !e.matches(c, p) {
				return false
			}
		}
		return true
	case anyNode:
		for _, c := range n.children {
			if e.matches(c, p) {
				return true
			}
		}
		return false
	case notNode:
		return !e.matches(n.children[0], p)
	case attributeNode:
		return e.attribute(p.Attributes, n.attribute)
	case identifierNode:
		return len(p.Identifiers[n.identifier]) > 0
	case eventNode:
		return e.event(n.event, p.ID)
	case segmentNode:
		return slices.Contains(e.data.Members[n.segment], p.ID)
	case rfmNode:
		return e.rfmMembers(n.rfm)[p.ID]
	case bucketNode:
		b := int64(Bucket(n.bucket.salt, p.ID))
		return n.bucket.from <= b && b <= n.bucket.to
	}
	return false
}

// eventTotals is what a profile did among the events a test keeps.
type eventTotals struct {
	count       int64
	sum         float64
	first, last time.Time
}

func (e *evaluator) event(t *eventTest, profile string) bool {
	totals, ok := e.events[t]
	if !ok {
		totals = e.totals(t)
		e.events[t] = totals
	}
	var did eventTotals
	if got := totals[profile]; got != nil {
		did = *got
	}
	if t.count == nil && t.sum == nil && did.count == 0 {
		return false
	}
	if t.count != nil && !holds(float64(did.count), t.count.op, float64(t.count.value)) {
		return false
	}
	if t.sum != nil && !holds(did.sum, t.sum.op, t.sum.value) {
		return false
	}
	for _, r := range []struct {
		test *recencyTest
		at   time.Time
	}{{t.first, did.first}, {t.last, did.last}} {
		if r.test == nil {
			continue
		}
		if did.count == 0 {
			return false
		}
		inside := !r.at.Before(e.now.Add(-r.test.duration))
		if inside != r.test.within {
			return false
		}
	}
	return true
}

// totals sums up, by profile, the events a test keeps.
func (e *evaluator) totals(t *eventTest) map[string]*eventTotals {
	totals := map[string]*eventTotals{}
	for _, ev := range e.data.Events {
		at := ev.OccurredAt.Truncate(time.Microsecond)
		if ev.Type != t.eventType || !e.inWindow(at, t) {
			continue
		}
		kept := true
		for _, w := range t.where {
			kept = kept && e.attribute(ev.Properties, w)
		}
		profile, linked := e.data.Links[[2]string{ev.IdentifierType, ev.IdentifierValue}]
		if !kept || !linked {
			continue
		}
		did := totals[profile]
		if did == nil {
			did = &eventTotals{first: at, last: at}
			totals[profile] = did
		}
		did.count++
		if t.sum != nil {
			if amount, ok := number(ev.Properties[t.sum.property]); ok {
				did.sum += amount
			}
		}
		if at.Before(did.first) {
			did.first = at
		}
		if at.After(did.last) {
			did.last = at
		}
	}
	return totals
}

// inWindow tells whether an event at that time is kept: not after now, and within the last
// duration or the range (whose dates are whole days in the location).
func (e *evaluator) inWindow(at time.Time, t *eventTest) bool {
	if at.After(e.now) {
		return false
	}
	if t.within > 0 && at.Before(e.now.Add(-t.within)) {
		return false
	}
	if t.between != nil {
		from, to := t.between[0], t.between[1]
		if from.dateOnly && dateOf(at.In(e.loc)).Before(dateOf(from.at)) || !from.dateOnly && at.Before(from.at) {
			return false
		}
		if to.dateOnly && dateOf(at.In(e.loc)).After(dateOf(to.at)) || !to.dateOnly && at.After(to.at) {
			return false
		}
	}
	return true
}

// rfmMembers scores the profiles with events of the type in the window and returns those whose
// scores lie in the ranges.
func (e *evaluator) rfmMembers(t *rfmTest) map[string]bool {
	if members, ok := e.rfm[t]; ok {
		return members
	}
	type values struct {
		days, count int64
		amount      float64
	}
	population := map[string]*values{}
	last := map[string]time.Time{}
	for _, ev := range e.data.Events {
		at := ev.OccurredAt.Truncate(time.Microsecond)
		if ev.Type != t.eventType || at.After(e.now) || at.Before(e.now.Add(-t.window)) {
			continue
		}
		profile, linked := e.data.Links[[2]string{ev.IdentifierType, ev.IdentifierValue}]
		if !linked {
			continue
		}
		v := population[profile]
		if v == nil {
			v = &values{}
			population[profile] = v
		}
		v.count++
		if amount, ok := number(ev.Properties[t.amount]); ok && t.amount != "" {
			v.amount += amount
		}
		if at.After(last[profile]) {
			last[profile] = at
		}
	}
	for profile, v := range population {
		v.days = int64(e.now.Sub(last[profile]) / (24 * time.Hour))
	}
	n := int64(len(population))
	// score: ceil(5 k / n), k the number of profiles whose value is the same or worse.
	score := func(sameOrWorse func(other *values) bool) int64 {
		var k int64
		for _, other := range population {
			if sameOrWorse(other) {
				k++
			}
		}
		return (5*k + n - 1) / n
	}
	inRange := func(r *[2]int64, sameOrWorse func(other *values) bool) bool {
		if r == nil {
			return true
		}
		s := score(sameOrWorse)
		return r[0] <= s && s <= r[1]
	}
	members := map[string]bool{}
	for profile, v := range population {
		members[profile] = inRange(t.recency, func(o *values) bool { return o.days >= v.days }) &&
			inRange(t.frequency, func(o *values) bool { return o.count <= v.count }) &&
			inRange(t.monetary, func(o *values) bool { return o.amount <= v.amount })
	}
	e.rfm[t] = members
	return members
}

// dateOf is t's calendar date in t's own location, as midnight UTC, for comparing dates.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// number reads a Go number as float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}
