package segment

import (
	"slices"
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestOccurrences selects, with EvaluateOccurrences and with the compiled query on SQLite and
// PostgreSQL, the profiles whose events of a type arrived in a window: the three must agree
// with the case. Besides the fixture's events, received when they occurred, c02's purchase of
// thirty days ago arrives an hour before the clock, and c03's phone opens an email "two days
// from now" (a device's wrong clock), received half an hour before it.
func TestOccurrences(t *testing.T) {
	data := fixture()
	lateAt, gAt := ago(time.Hour), utc("2026-03-14T15:30:00Z")
	data.Events = append(data.Events,
		Event{Type: "purchase", OccurredAt: ago(day(30)), ReceivedAt: lateAt, IdentifierType: "Email", IdentifierValue: "b@x.jp",
			Properties: map[string]any{"amount": 2500.0, "category": "books"}},
		Event{Type: "email_opened", OccurredAt: ago(day(-2)), ReceivedAt: ago(30 * time.Minute), IdentifierType: "Phone", IdentifierValue: "090-0000-0003"},
	)
	dbs := openDatabases(t)
	for _, d := range dbs {
		d.write(t, data)
	}
	books := *attrTest("category", "Equals", "books")
	for _, c := range []struct {
		name string
		o    Occurrences
		want []string
	}{
		{"received in the last four days, late ones too", Occurrences{EventType: "purchase", ReceivedAfter: ago(day(4)), ReceivedThrough: fixtureNow},
			ids("c02 c07 c08")},
		{"filtered by a property", Occurrences{EventType: "purchase", Where: []cdpv1alpha1.AttributeCondition{books},
			ReceivedAfter: ago(day(4)), ReceivedThrough: fixtureNow}, ids("c02 c07")},
		{"filtered by a number", Occurrences{EventType: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("amount", "GreaterThan", "100")},
			ReceivedAfter: ago(day(4)), ReceivedThrough: fixtureNow}, ids("c02")},
		{"an old event that arrived late", Occurrences{EventType: "purchase", ReceivedAfter: ago(2 * time.Hour), ReceivedThrough: fixtureNow},
			ids("c02")},
		{"without a start, and occurring after the clock", Occurrences{EventType: "email_opened", ReceivedThrough: fixtureNow},
			ids("c01 c03 c06 c08")},
		{"the end is included", Occurrences{EventType: "purchase", ReceivedAfter: gAt.Add(-time.Hour), ReceivedThrough: gAt}, ids("c07")},
		{"the start is not", Occurrences{EventType: "purchase", Where: []cdpv1alpha1.AttributeCondition{books},
			ReceivedAfter: gAt, ReceivedThrough: fixtureNow}, ids("c02")},
		{"nothing arrived", Occurrences{EventType: "purchase", ReceivedAfter: ago(50 * time.Minute), ReceivedThrough: fixtureNow}, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := fixtureOptions(0)
			got, err := EvaluateOccurrences(c.o, data, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(append([]string{}, got...), c.want) {
				t.Errorf("EvaluateOccurrences: got %v, want %v", got, c.want)
			}
			for _, d := range dbs {
				opts.Dialect = d.dialect
				q, err := CompileOccurrences(c.o, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got := d.query(t, q, true); !slices.Equal(got, c.want) {
					t.Errorf("%s: got %v, want %v\n%s\nargs: %v", d.dialect, got, c.want, q.SQL, q.Args)
				}
				arrivals, err := CompileArrivals(c.o, opts)
				if err != nil {
					t.Fatal(err)
				}
				// Arrivals ignore the links: the unknown address's purchase arrived a day ago.
				wantArrival := len(c.want) > 0 || c.o.EventType == "purchase" && c.o.Where == nil && !c.o.ReceivedAfter.After(ago(day(1)))
				if got := d.query(t, arrivals, true); (len(got) == 1) != wantArrival || len(got) > 1 {
					t.Errorf("%s: arrivals %v, want one row: %v\n%s", d.dialect, got, wantArrival, arrivals.SQL)
				}
			}
		})
	}
}

func TestRejectedOccurrences(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Occurrences
		want []string
	}{
		{"an undeclared property", Occurrences{EventType: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("colour", "Exists")}},
			[]string{"spec.trigger.event.where[0].path", `event property "colour" is not declared`}},
		{"an operator of another type", Occurrences{EventType: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("amount", "Prefix", "1")}},
			[]string{"spec.trigger.event.where[0].operator", "amount"}},
		{"an event type with SQL", Occurrences{EventType: "purchase' OR '1'='1"}, []string{"spec.trigger.event.type", "is not a valid event type"}},
		{"a window that ends before it starts", Occurrences{EventType: "purchase", ReceivedAfter: fixtureNow.Add(time.Minute)},
			[]string{"receipt window ends"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Field = "spec.trigger.event"
			c.o.ReceivedThrough = fixtureNow
			for _, d := range []Dialect{SQLite, PostgreSQL} {
				opts := fixtureOptions(d)
				_, err := CompileOccurrences(c.o, opts)
				if err == nil {
					t.Fatalf("%s: compiled", d)
				}
				for _, part := range c.want {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("%s: error %q does not contain %q", d, err, part)
					}
				}
			}
		})
	}
}
