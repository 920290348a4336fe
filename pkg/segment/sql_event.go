package segment

import (
	"strings"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// event compiles an event test into a common table expression of the profiles it concerns,
// left-joined to the profiles.
//
// The expression aggregates the matching events by identifier (read in the events_by_type
// index's order: namespace, type, time), takes the identifiers to profiles through
// identity_links, and aggregates again by profile. A profile without matching events has a
// count and a sum of zero and no first or last time. When that profile satisfies the test (a
// count below 1, a sum of at most 0), the expression lists the profiles with events that fail
// it, and the test is "not listed"; otherwise it lists those that pass, and the test is
// "listed". Either way profiles without events are decided without being enumerated.
func (c *compiler) event(t *eventTest) string {
	name := c.name("ev")
	from, hasFrom, through := c.eventWindow(t.within, t.between)
	filters := []string{"e.namespace = " + c.ns, "e.event_type = " + c.text(t.eventType)}
	if hasFrom {
		filters = append(filters, "e.occurred_at >= "+c.micros(from))
	}
	filters = append(filters, "e.occurred_at <= "+c.micros(through))
	for _, w := range t.where {
		filters = append(filters, c.attribute("e.properties", w))
	}

	perIdentifier := []string{"e.identifier_type", "e.identifier_value", "COUNT(*) AS n"}
	var tests []string
	if t.count != nil {
		tests = append(tests, compare("SUM(x.n)", t.count.op, c.integer(t.count.value)))
	}
	if t.sum != nil {
		amount := c.value("e.properties", t.sum.property, cdpv1alpha1.AttributeNumber)
		// A sum over no values (events without the property) is 0, not NULL.
		if c.pg {
			perIdentifier = append(perIdentifier, "COALESCE(SUM("+amount+"), 0) AS s")
			tests = append(tests, compare("SUM(x.s)", t.sum.op, c.number(t.sum.value)))
		} else {
			perIdentifier = append(perIdentifier, "TOTAL("+amount+") AS s")
			tests = append(tests, compare("TOTAL(x.s)", t.sum.op, c.number(t.sum.value)))
		}
	}
	if t.first != nil {
		perIdentifier = append(perIdentifier, "MIN(e.occurred_at) AS first_at")
		tests = append(tests, c.recency("MIN(x.first_at)", t.first))
	}
	if t.last != nil {
		perIdentifier = append(perIdentifier, "MAX(e.occurred_at) AS last_at")
		tests = append(tests, c.recency("MAX(x.last_at)", t.last))
	}

	body := "SELECT l.profile_id\n" + c.linkedEvents(
		"SELECT "+strings.Join(perIdentifier, ", ")+" FROM events e WHERE "+strings.Join(filters, " AND ")+
			" GROUP BY e.identifier_type, e.identifier_value") + "\nGROUP BY l.profile_id"
	withoutEvents := t.matchesWithoutEvents()
	switch {
	case withoutEvents:
		body += "\nHAVING NOT (" + strings.Join(tests, " AND ") + ")"
	case len(tests) > 0:
		body += "\nHAVING " + strings.Join(tests, " AND ")
	}
	c.joinProfiles(name, body)
	if withoutEvents {
		return "(" + name + ".profile_id IS NULL)"
	}
	return "(" + name + ".profile_id IS NOT NULL)"
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

// recency tests the time of an event, an aggregate of occurred_at.
func (c *compiler) recency(at string, r *recencyTest) string {
	bound := c.micros(ceilMicro(c.opts.Now.Add(-r.duration)))
	if r.within {
		return at + " >= " + bound
	}
	return at + " < " + bound
}

// eventWindow returns the first and the last microsecond of the events a test keeps: the last
// duration, or a range whose dates stand for whole days in Location, and never after Now.
func (c *compiler) eventWindow(within time.Duration, between *[2]timeOperand) (from int64, hasFrom bool, through int64) {
	through = floorMicro(c.opts.Now)
	if within > 0 {
		from, hasFrom = ceilMicro(c.opts.Now.Add(-within)), true
	}
	if between != nil {
		from, hasFrom = ceilMicro(between[0].start(c.loc)), true
		through = min(through, ceilMicro(between[1].end(c.loc))-1)
	}
	return from, hasFrom, through
}
