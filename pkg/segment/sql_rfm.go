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
	perIdentifier := []string{"e.identifier_type", "e.identifier_value", "COUNT(*) AS n", "MAX(e.occurred_at) AS last_at"}
	perProfile := []string{"l.profile_id", "SUM(x.n) AS n"}
	now := c.micros(floorMicro(c.opts.Now))
	// Recency counts whole days since the latest event, so that two purchases of the same day
	// rank the same.
	if c.pg {
		perProfile = append(perProfile, "div(EXTRACT(EPOCH FROM "+now+" - MAX(x.last_at)), 86400) AS days")
	} else {
		perProfile = append(perProfile, fmt.Sprintf("(%s - MAX(x.last_at)) / %d AS days", now, microsPerDay))
	}
	if t.monetary != nil {
		amount := c.value("e.properties", t.amount, cdpv1alpha1.AttributeNumber)
		if c.pg {
			perIdentifier = append(perIdentifier, "COALESCE(SUM("+amount+"), 0) AS s")
			perProfile = append(perProfile, "SUM(x.s) AS m")
		} else {
			perIdentifier = append(perIdentifier, "TOTAL("+amount+") AS s")
			perProfile = append(perProfile, "TOTAL(x.s) AS m")
		}
	}
	filters := []string{
		"e.namespace = " + c.ns, "e.event_type = " + c.text(t.eventType),
		"e.occurred_at >= " + c.micros(ceilMicro(c.opts.Now.Add(-t.window))), "e.occurred_at <= " + now,
	}
	grouped := "SELECT " + strings.Join(perProfile, ", ") + "\n" + c.linkedEvents(
		"SELECT "+strings.Join(perIdentifier, ", ")+" FROM events e WHERE "+strings.Join(filters, " AND ")+
			" GROUP BY e.identifier_type, e.identifier_value") + "\nGROUP BY l.profile_id"

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
