package segment

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// eventScan is one common table expression that reads the events of one type and filter for
// every event test that needs them, each test aggregating its own time window. "Bought twice in
// 90 days but not in the last 30" then reads the index and aggregates once, not twice: the
// aggregation is most of the cost of a behavioural segment.
//
// The expression reads the events through the events_by_type index (namespace, type, time) and
// aggregates them by profile (see eventsByProfile). It lists every profile with at least one
// event in the union of the windows, with one set of columns per test: the count n<i>, and
// when the test needs them the sum s<i>, the first f<i> and the last l<i> time.
type eventScan struct {
	name      string
	eventType string
	where     []*attributeTest
	// key tells scans apart: the event type and the filter.
	key     string
	tests   []*eventTest
	windows []window
}

// window is the span of occurred_at an event test keeps, in microseconds, both ends included;
// without a lower bound when hasFrom is false.
type window struct {
	from    int64
	hasFrom bool
	through int64
}

// event returns the boolean SQL of an event test, over the columns of its scan. A profile
// without matching events has a count and a sum of 0 and no first or last time. When such a
// profile fails the test, the expression requires the profile to be listed by the scan, which
// also lets both planners turn the left join into an inner one and start from the events.
func (c *compiler) event(t *eventTest) string {
	s := c.scanFor(t)
	i := len(s.tests)
	s.tests = append(s.tests, t)
	s.windows = append(s.windows, c.eventWindow(t.within, t.between))
	column := func(prefix string) string { return s.name + "." + prefix + strconv.Itoa(i) }

	var parts []string
	switch {
	case t.count != nil:
		parts = append(parts, compare("COALESCE("+column("n")+", 0)", t.count.op, c.integer(t.count.value)))
	case t.sum != nil:
		parts = append(parts, compare("COALESCE("+column("s")+", 0)", t.sum.op, c.number(t.sum.value)))
	default:
		parts = append(parts, column("n")+" > 0")
	}
	if t.first != nil {
		parts = append(parts, c.recency(column("f"), t.first))
	}
	if t.last != nil {
		parts = append(parts, c.recency(column("l"), t.last))
	}
	if !t.matchesWithoutEvents() {
		// The columns of an unlisted profile are NULL; FALSE AND NULL is FALSE, so with this
		// term the expression is never NULL.
		parts = append([]string{s.name + ".profile_id IS NOT NULL"}, parts...)
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}

// scanFor returns the scan of the test's event type and filter, creating it on first use.
func (c *compiler) scanFor(t *eventTest) *eventScan {
	key := t.eventType
	for _, w := range t.where {
		key += fmt.Sprintf("\x00%v", *w)
	}
	for _, s := range c.scans {
		if s.key == key {
			return s
		}
	}
	s := &eventScan{name: c.name("ev"), eventType: t.eventType, where: t.where, key: key}
	c.scans = append(c.scans, s)
	return s
}

// matchesWithoutEvents tells whether a profile without matching events satisfies the test: its
// count and sum are 0, and it has no first or last time to test.
func (t *eventTest) matchesWithoutEvents() bool {
	if t.first != nil || t.last != nil {
		return false
	}
	switch {
	case t.count != nil:
		return holds(0, t.count.op, float64(t.count.value))
	case t.sum != nil:
		return holds(0, t.sum.op, t.sum.value)
	}
	return false
}

// holds compares two numbers.
func holds(a float64, op cdpv1alpha1.ComparisonOperator, b float64) bool {
	switch op {
	case "Equals":
		return a == b
	case "NotEquals":
		return a != b
	case "GreaterThan":
		return a > b
	case "GreaterThanOrEqual":
		return a >= b
	case "LessThan":
		return a < b
	case "LessThanOrEqual":
		return a <= b
	}
	return false
}

// total sums a numeric expression over events: 0, not NULL, when no event has a value.
func (c *compiler) total(alias, amount string) aggregate {
	if c.pg {
		return aggregate{alias, "COALESCE(SUM(" + amount + "), 0)"}
	}
	return aggregate{alias, "TOTAL(" + amount + ")"}
}

// recency tests the time of the first or the last event, NULL when there is none.
func (c *compiler) recency(at string, r *recencyTest) string {
	bound := c.micros(ceilMicro(c.opts.Now.Add(-r.duration)))
	if r.within {
		return "COALESCE(" + at + " >= " + bound + ", FALSE)"
	}
	return "COALESCE(" + at + " < " + bound + ", FALSE)"
}

// eventWindow returns the window an event test keeps: the last duration, or a range whose
// dates stand for whole days in Location, and never after Now.
func (c *compiler) eventWindow(within time.Duration, between *[2]timeOperand) window {
	w := window{through: floorMicro(c.opts.Now)}
	if within > 0 {
		w.from, w.hasFrom = ceilMicro(c.opts.Now.Add(-within)), true
	}
	if between != nil {
		w.from, w.hasFrom = ceilMicro(between[0].start(c.loc)), true
		w.through = min(w.through, ceilMicro(between[1].end(c.loc))-1)
	}
	return w
}

// finishScans writes the scans' common table expressions, once every test has its columns.
func (c *compiler) finishScans() {
	for _, s := range c.scans {
		union := s.windows[0]
		for _, w := range s.windows[1:] {
			union.hasFrom = union.hasFrom && w.hasFrom
			union.from = min(union.from, w.from)
			union.through = max(union.through, w.through)
		}
		filters := []string{"e.namespace = " + c.ns, "e.event_type = " + c.text(s.eventType)}
		if union.hasFrom {
			filters = append(filters, "e.occurred_at >= "+c.micros(union.from))
		}
		filters = append(filters, "e.occurred_at <= "+c.micros(union.through))
		for _, w := range s.where {
			filters = append(filters, c.attribute("e.properties", w))
		}

		var aggregates []aggregate
		for i, t := range s.tests {
			// inWindow keeps a test's own events, when its window is not the scan's.
			var inWindow []string
			if w := s.windows[i]; w != union {
				if w.hasFrom && (!union.hasFrom || w.from != union.from) {
					inWindow = append(inWindow, "e.occurred_at >= "+c.micros(w.from))
				}
				if w.through != union.through {
					inWindow = append(inWindow, "e.occurred_at <= "+c.micros(w.through))
				}
			}
			when := func(v string) string {
				if len(inWindow) == 0 {
					return v
				}
				return "CASE WHEN " + strings.Join(inWindow, " AND ") + " THEN " + v + " END"
			}
			n := strconv.Itoa(i)
			count := aggregate{"n" + n, "COUNT(*)"}
			if len(inWindow) > 0 {
				count.events = "COUNT(" + when("1") + ")"
			}
			aggregates = append(aggregates, count)
			if t.sum != nil {
				// A sum over no values (events without the property) is 0, not NULL.
				amount := when(c.value("e.properties", t.sum.property, cdpv1alpha1.AttributeNumber))
				aggregates = append(aggregates, c.total("s"+n, amount))
			}
			if t.first != nil {
				aggregates = append(aggregates, aggregate{"f" + n, "MIN(" + when("e.occurred_at") + ")"})
			}
			if t.last != nil {
				aggregates = append(aggregates, aggregate{"l" + n, "MAX(" + when("e.occurred_at") + ")"})
			}
		}
		c.joinProfiles(s.name, c.eventsByProfile(filters, aggregates))
	}
}
