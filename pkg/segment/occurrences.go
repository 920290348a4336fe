package segment

import (
	"fmt"
	"slices"
	"strings"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Occurrences are the events that start a run of a campaign triggered by an event: events of
// one type whose properties pass Where, among those the store received in a window. The window
// is of receipt, not of occurrence, so that consecutive windows see every event once, however
// late it arrives: an event that a nightly import brings from the day before is received today.
type Occurrences struct {
	// EventType is the type of the events.
	EventType string
	// Where filters the events by their properties, exactly as the where of a segment's event
	// condition does (the same operators and the same missing values).
	Where []cdpv1alpha1.AttributeCondition
	// ReceivedAfter and ReceivedThrough bound the events' receipt: strictly after the one, up to
	// and including the other. A zero ReceivedAfter has no lower bound.
	ReceivedAfter, ReceivedThrough time.Time
	// Field is where the test is written in its resource, e.g. spec.trigger.event: errors name
	// it.
	Field string
}

// parseOccurrences validates the event type and Where against the declared event properties,
// with the parser of event conditions, and returns the event test that reads them. Only its
// type and where are set: the window is o's, not a test's.
func parseOccurrences(o Occurrences, opts Options) (*eventTest, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("segment options: %w", err)
	}
	if o.ReceivedThrough.IsZero() {
		return nil, fmt.Errorf("occurrences: the end of the receipt window (ReceivedThrough) is not set")
	}
	if !o.ReceivedAfter.IsZero() && !o.ReceivedThrough.After(o.ReceivedAfter) {
		return nil, fmt.Errorf("occurrences: the receipt window ends at %s, not after it starts at %s",
			o.ReceivedThrough.Format(time.RFC3339Nano), o.ReceivedAfter.Format(time.RFC3339Nano))
	}
	field := o.Field
	if field == "" {
		field = "event"
	}
	p := parser{opts: opts, reads: map[string]bool{}}
	return p.eventTest(&cdpv1alpha1.EventCondition{Type: cdpv1alpha1.AttributeName(o.EventType), Where: o.Where}, field)
}

// CompileOccurrences writes one SELECT that returns, in the column profile_id, each profile of
// opts.Resolution that the events of o reach through identity_links, once, in profile ID order.
// opts.Now is the clock of the time operators in Where (WithinLast ...), and opts.Location
// where their dates are read. Unlike an event condition's, the window bounds received_at, and an
// event that occurred after Now still counts: what matters is that it arrived. The profiles
// need not be published any more: a campaign intersects them with its segments' members.
func CompileOccurrences(o Occurrences, opts Options) (Query, error) {
	c, filters, err := compileOccurrenceFilters(o, opts)
	if err != nil {
		return Query{}, err
	}
	c.res = c.text(opts.Resolution)
	return Query{SQL: c.eventsByProfile(filters, nil) + "\nORDER BY l.profile_id", Args: c.args}, nil
}

// CompileArrivals writes a query that returns one row, the type of one of the events of o,
// when at least one arrived, whoever it belongs to, and no row otherwise: a check that costs one
// probe of the events_by_receipt index, without the identity links being up to date, so that a
// campaign whose events did not come starts no run.
func CompileArrivals(o Occurrences, opts Options) (Query, error) {
	c, filters, err := compileOccurrenceFilters(o, opts)
	if err != nil {
		return Query{}, err
	}
	return Query{SQL: "SELECT e.event_type FROM events e\nWHERE " + strings.Join(filters, " AND ") + "\nLIMIT 1", Args: c.args}, nil
}

// compileOccurrenceFilters returns the compiler and the conditions on the events e of o.
func compileOccurrenceFilters(o Occurrences, opts Options) (*compiler, []string, error) {
	if opts.Dialect != SQLite && opts.Dialect != PostgreSQL {
		return nil, nil, fmt.Errorf("segment options: unknown dialect %v", opts.Dialect)
	}
	t, err := parseOccurrences(o, opts)
	if err != nil {
		return nil, nil, err
	}
	c := &compiler{opts: opts, loc: opts.location(), pg: opts.Dialect == PostgreSQL}
	c.ns = c.text(opts.Namespace)
	filters := []string{"e.namespace = " + c.ns, "e.event_type = " + c.text(t.eventType)}
	// Received times are whole microseconds: after t is after t's microsecond, up to t is up to
	// it.
	if !o.ReceivedAfter.IsZero() {
		filters = append(filters, "e.received_at > "+c.micros(floorMicro(o.ReceivedAfter)))
	}
	filters = append(filters, "e.received_at <= "+c.micros(floorMicro(o.ReceivedThrough)))
	for _, w := range t.where {
		filters = append(filters, c.attribute("e.properties", w))
	}
	return c, filters, nil
}

// EvaluateOccurrences returns, sorted, the profiles that the events of o reach through
// data.Links: the answer of CompileOccurrences, computed in memory. An event's receipt is its
// ReceivedAt, or its OccurredAt when that is zero.
func EvaluateOccurrences(o Occurrences, data Dataset, opts Options) ([]string, error) {
	t, err := parseOccurrences(o, opts)
	if err != nil {
		return nil, err
	}
	e := &evaluator{now: opts.Now, loc: opts.location(), data: data}
	after, through := o.ReceivedAfter.Truncate(time.Microsecond), o.ReceivedThrough.Truncate(time.Microsecond)
	var ids []string
	for _, ev := range data.Events {
		received := ev.ReceivedAt
		if received.IsZero() {
			received = ev.OccurredAt
		}
		received = received.Truncate(time.Microsecond)
		if ev.Type != t.eventType || received.After(through) || !o.ReceivedAfter.IsZero() && !received.After(after) {
			continue
		}
		kept := true
		for _, w := range t.where {
			kept = kept && e.attribute(ev.Properties, w)
		}
		profile, linked := data.Links[[2]string{ev.IdentifierType, ev.IdentifierValue}]
		if kept && linked {
			ids = append(ids, profile)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
