package segment

import (
	"fmt"
	"strings"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// microsPerDay turns a difference of occurred_at in SQLite into whole days.
const microsPerDay = 24 * 60 * 60 * 1000 * 1000

// rfm compiles an RFM test into a common table expression of the profiles whose scores lie in
// the ranges. The population is the profiles with at least one event of the type in the window.
// Each score is ceil(5 * k / n), where n is the population and k the number of profiles whose
// value is the same or worse: the best value scores 5, and equal values score the same (unlike
// NTILE, which splits ties by an arbitrary order: most customers buy once and would land in
// different frequency scores by chance).
func (c *compiler) rfm(t *rfmTest) string {
	name := c.name("rfm")
	now := c.micros(floorMicro(c.opts.Now))
	aggregates := []aggregate{{"n", "COUNT(*)"}, {"last_at", "MAX(e.occurred_at)"}}
	if t.monetary != nil {
		aggregates = append(aggregates, c.total("m", c.value("e.properties", t.amount, cdpv1alpha1.AttributeNumber)))
	}
	filters := []string{
		"e.namespace = " + c.ns, "e.event_type = " + c.text(t.eventType),
		"e.occurred_at >= " + c.micros(ceilMicro(c.opts.Now.Add(-t.window))), "e.occurred_at <= " + now,
	}
	// Recency counts whole days since the latest event, so that two purchases of the same day
	// rank the same.
	days := fmt.Sprintf("(%s - a.last_at) / %d", now, microsPerDay)
	if c.pg {
		days = "div(EXTRACT(EPOCH FROM " + now + " - a.last_at), 86400)"
	}
	grouped := "SELECT a.*, " + days + " AS days FROM (\n" + c.eventsByProfile(filters, aggregates) + "\n) a"

	score := func(order string) string {
		return "(5 * COUNT(*) OVER (ORDER BY " + order + ") + COUNT(*) OVER () - 1) / COUNT(*) OVER ()"
	}
	var scores, tests []string
	for _, s := range []struct {
		column, order string
		scores        *[2]int64
	}{
		// Fewer days since the latest event is better: the others at least as many days ago
		// are those at or before it in descending order.
		{"recency", "g.days DESC", t.recency},
		{"frequency", "g.n", t.frequency},
		{"monetary", "g.m", t.monetary},
	} {
		if s.scores == nil {
			continue
		}
		scores = append(scores, score(s.order)+" AS "+s.column)
		tests = append(tests, fmt.Sprintf("s.%s BETWEEN %s AND %s", s.column, c.integer(s.scores[0]), c.integer(s.scores[1])))
	}
	body := "SELECT s.profile_id FROM (\nSELECT g.profile_id, " + strings.Join(scores, ", ") + " FROM (\n" + grouped + "\n) g\n) s\nWHERE " + strings.Join(tests, " AND ")
	c.joinProfiles(name, body)
	return "(" + name + ".profile_id IS NOT NULL)"
}
