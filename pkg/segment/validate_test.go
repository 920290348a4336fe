package segment

import (
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestRejectedRules: what cannot be compiled safely or meaningfully is refused, with a message
// that says where the problem is and what to write instead.
func TestRejectedRules(t *testing.T) {
	value := func(s string) *string { return &s }
	for _, c := range []struct {
		name string
		rule cdpv1alpha1.SegmentRule
		want []string
	}{
		{"a path with SQL in it", one(attr("name'); DROP TABLE profiles;--", "Exists")),
			[]string{"rule.attribute.path", "is not a valid profile attribute path", "lower-case letters"}},
		{"a path of five parts", one(attr("a.b.c.d.e", "Exists")), []string{"rule.attribute.path", "at most four parts"}},
		{"a path with a quote", one(attr(`name"`, "Exists")), []string{"is not a valid profile attribute path"}},
		{"an upper-case path", one(attr("Prefecture", "Exists")), []string{"is not a valid"}},
		{"an undeclared path", one(attr("nickname", "Exists")), []string{`profile attribute "nickname" is not declared`, "DataSource"}},
		{"an event property as a profile attribute", one(attr("amount", "Exists")), []string{`"amount" is not declared`}},
		{"an undeclared event property", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("colour", "Exists")}})),
			[]string{"rule.event.where[0].path", `event property "colour" is not declared`, "Events DataSource"}},
		{"an event property path with SQL", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("amount' OR 1=1 --", "Exists")}})),
			[]string{"is not a valid event property path"}},
		{"an event type with SQL", one(event(cdpv1alpha1.EventCondition{Type: "purchase' OR '1'='1"})), []string{"rule.event.type", "is not a valid event type"}},
		{"a sum of text", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Sum: sum("category", "GreaterThan", "1")})), []string{"rule.event.sum.property", "is a String, not a Number"}},
		{"a sum of nothing declared", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Sum: sum("total", "GreaterThan", "1")})), []string{`"total" is not declared`}},
		{"a sum that is no number", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Sum: sum("amount", "GreaterThan", "lots")})), []string{"rule.event.sum.value", "is not a number"}},
		{"a count comparison that is not one", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("Between", 1)})), []string{"rule.event.count.operator", "is not a comparison"}},
		{"a negative count", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("LessThan", -1)})), []string{"is negative"}},
		{"within and between", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("1d"), Between: &cdpv1alpha1.DateRange{From: "2026-01-01", To: "2026-01-02"}})), []string{"at most one of within and between"}},
		{"a range backwards", one(event(cdpv1alpha1.EventCondition{Type: "purchase", Between: &cdpv1alpha1.DateRange{From: "2026-02-01", To: "2026-01-01"}})), []string{"rule.event.between", "is after"}},
		{"both first performed bounds", one(event(cdpv1alpha1.EventCondition{Type: "purchase", FirstPerformed: &cdpv1alpha1.RelativeTime{Within: duration("1d"), NotWithin: duration("2d")}})), []string{"rule.event.firstPerformed", "exactly one of within and notWithin"}},
		{"an operator of another type", one(attr("age", "Contains", "3")), []string{"rule.attribute.operator", `Contains does not apply to profile attribute "age", a Number`}},
		{"a relative operator on text", one(attr("name", "WithinLast", "3d")), []string{"applies to Date and Timestamp"}},
		{"an operator that is none", one(attr("age", "Like", "3")), []string{`"Like" is not an operator`}},
		{"a number that is none", one(attr("age", "GreaterThan", "thirty")), []string{"rule.attribute.value", "age is a Number", `"thirty" is not a number`}},
		{"a boolean that is none", one(attr("vip", "Equals", "yes")), []string{"write true or false"}},
		{"a date that is none", one(attr("birthday", "Equals", "2026/01/31")), []string{"is not a date or a time"}},
		{"a year out of range", one(attr("birthday", "Equals", "0001-01-01")), []string{"out of range"}},
		{"a list item that is no number", one(attr("age", "In", "1", "two")), []string{"rule.attribute.values[1]", `"two" is not a number`}},
		{"bounds backwards", one(attr("age", "Between", "10", "1")), []string{"the lower bound \"10\" is above the upper bound \"1\""}},
		{"a duration that is none", one(attr("last_login", "WithinLast", "30 days")), []string{"rule.attribute.duration", "is not a duration"}},
		{"a duration of zero", one(attr("last_login", "WithinLast", "0d")), []string{"is not a duration"}},
		{"a duration too long", one(attr("last_login", "WithinLast", "999999w")), []string{"longer than 200 years"}},
		{"a value where values are wanted", one(cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{Path: "age", Operator: "In", Value: value("1")}}), []string{"In takes values"}},
		{"no value", one(cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{Path: "age", Operator: "Equals"}}), []string{"Equals takes one value"}},
		{"a value to Exists", one(cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{Path: "age", Operator: "Exists", Value: value("1")}}), []string{"Exists takes no value"}},
		{"an empty list", one(cdpv1alpha1.Condition{Attribute: &cdpv1alpha1.AttributeCondition{Path: "age", Operator: "In", Values: []string{}}}), []string{"In takes 1 to 1000 values"}},
		{"three bounds", one(attr("age", "Between", "1", "2", "3")), []string{"exactly two values"}},
		{"a NUL character", one(attr("name", "Equals", "a\x00b")), []string{"NUL"}},
		{"an empty rule", cdpv1alpha1.SegmentRule{}, []string{"rule: set exactly one of"}},
		{"two conditions", cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{Attribute: attrTest("age", "Exists"), Segment: &cdpv1alpha1.SegmentMembershipCondition{Name: "a"}}}, []string{"rule: set exactly one of"}},
		{"a group and a condition", cdpv1alpha1.SegmentRule{All: []cdpv1alpha1.NestedRule{nested(attr("age", "Exists"))}, Condition: attr("age", "Exists")}, []string{"rule: set exactly one of"}},
		{"an empty leaf", allOf(nestedAll(cdpv1alpha1.LeafRule{Negate: true})), []string{"rule.all[0].all[0]", "cannot nest deeper"}},
		{"deep errors say where", anyOf(nested(attr("age", "Exists")), nestedNot(leaf(attr("age", "Equals", "x")))), []string{"rule.any[1].not.attribute.value"}},
		{"an identifier type that is none", one(identifier("Fax")), []string{"rule.identifier.type", `"Fax" is not an identifier type`}},
		{"a segment name that is none", one(member("Bad_Name")), []string{"rule.segment.name", "is not a Segment name"}},
		{"rfm monetary without an amount", one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Monetary: scores(1, 2)})), []string{"rule.rfm.amountProperty", "required"}},
		{"rfm amount of text", one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", AmountProperty: "category", Monetary: scores(1, 2)})), []string{"is a String, not a Number"}},
		{"rfm without a score", one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase"})), []string{"at least one of recency, frequency and monetary"}},
		{"rfm scores out of range", one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Recency: scores(0, 6)})), []string{"rule.rfm.recency", "from 1 to 5"}},
		{"buckets backwards", one(bucket("a", 50, 10)), []string{"rule.randomBucket", "from must not be above to"}},
		{"a bucket beyond 99", one(bucket("a", 0, 100)), []string{"buckets run from 0 to 99"}},
		{"a bucket without salt", one(bucket("", 0, 10)), []string{"rule.randomBucket.salt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, run := range []struct {
				name string
				err  func() error
			}{
				{"Compile", func() error { _, err := Compile(&c.rule, fixtureOptions(PostgreSQL)); return err }},
				{"Evaluate", func() error { _, err := Evaluate(&c.rule, fixture(), fixtureOptions(0)); return err }},
			} {
				err := run.err()
				if err == nil {
					t.Fatalf("%s accepted the rule", run.name)
				}
				for _, want := range c.want {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: %q does not say %q", run.name, err, want)
					}
				}
			}
		})
	}
}

func TestRejectedOptions(t *testing.T) {
	rule := one(attr("age", "Exists"))
	for _, c := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no dialect", func(o *Options) { o.Dialect = 0 }, "unknown dialect"},
		{"no namespace", func(o *Options) { o.Namespace = "" }, "the namespace is empty"},
		{"no resolution", func(o *Options) { o.Resolution = "" }, "the resolution is empty"},
		{"a slot beyond 1", func(o *Options) { o.Slot = 2 }, "slot 2 is not 0 or 1"},
		{"no clock", func(o *Options) { o.Now = time.Time{} }, "Now"},
		{"an unknown type", func(o *Options) { o.Attributes = map[string]cdpv1alpha1.AttributeType{"age": "Integer"} }, `attribute "age" is declared with unknown type "Integer"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := fixtureOptions(SQLite)
			c.change(&opts)
			_, err := Compile(&rule, opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// TestValuesAreParameters: no value of a rule reaches the SQL text, however it is written;
// the values are parameters, and the SQL holds only what the compiler wrote and checked paths.
func TestValuesAreParameters(t *testing.T) {
	hostile := []string{"'; DROP TABLE profiles;--", `\'); DELETE FROM events; --`, "%_%", "東京都'--", "a\" OR 1=1"}
	for _, d := range []Dialect{SQLite, PostgreSQL} {
		for _, v := range hostile {
			rule := anyOf(
				nested(attr("name", "Equals", v)),
				nested(attr("name", "Contains", v)),
				nested(attr("name", "Prefix", v)),
				nested(attr("prefecture", "In", v, v+v)),
				nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("category", "NotEquals", v)}})),
				nested(bucket(v, 0, 10)),
			)
			q, err := Compile(&rule, fixtureOptions(d))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(q.SQL, v) {
				t.Errorf("%s: the value %q is in the SQL text:\n%s", d, v, q.SQL)
			}
		}
	}
}
