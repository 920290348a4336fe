package segment

import (
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// The fixed fixture of the table-driven tests. Its clock reads 2026-03-14 20:00 UTC, which is
// already 2026-03-15 05:00 in Tokyo, so that a test tells UTC days from Tokyo days.
var (
	fixtureNow = time.Date(2026, 3, 14, 20, 0, 0, 0, time.UTC)
	tokyo      = time.FixedZone("JST", 9*60*60)
)

func day(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

func ago(d time.Duration) time.Time { return fixtureNow.Add(-d) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

var fixtureAttributes = map[string]cdpv1alpha1.AttributeType{
	"prefecture":   cdpv1alpha1.AttributeString,
	"name":         cdpv1alpha1.AttributeString,
	"address.city": cdpv1alpha1.AttributeString,
	"age":          cdpv1alpha1.AttributeNumber,
	"vip":          cdpv1alpha1.AttributeBoolean,
	"birthday":     cdpv1alpha1.AttributeDate,
	"joined_on":    cdpv1alpha1.AttributeDate,
	"last_login":   cdpv1alpha1.AttributeTimestamp,
}

var fixtureProperties = map[string]cdpv1alpha1.AttributeType{
	"amount":   cdpv1alpha1.AttributeNumber,
	"category": cdpv1alpha1.AttributeString,
	"coupon":   cdpv1alpha1.AttributeBoolean,
}

func fixtureOptions(d Dialect) Options {
	return Options{
		Dialect: d, Namespace: testNamespace, Resolution: testResolution, Slot: testSlot,
		Now: fixtureNow, Location: tokyo, Attributes: fixtureAttributes, EventProperties: fixtureProperties,
	}
}

// fixture is eight customers, c01 to c08. c04 has nothing at all; c05 holds its age and vip
// flag as text, of the wrong type, and an empty list of e-mail addresses.
func fixture() Dataset {
	return Dataset{
		Profiles: []Profile{
			{ID: "c01", Identifiers: map[string][]string{"Email": {"a@x.jp"}, "Phone": {"+819000000001"}}, Attributes: map[string]any{
				"prefecture": "東京都", "name": "O'Brien", "address.city": "渋谷区", "age": 34.0, "vip": true,
				"birthday": date("1990-03-20"), "joined_on": date("2026-03-15"), "last_login": utc("2026-03-14T16:30:00Z"),
			}},
			{ID: "c02", Identifiers: map[string][]string{"Email": {"b@x.jp"}}, Attributes: map[string]any{
				"prefecture": "神奈川県", "name": "100% natural_", "age": 25.0, "vip": false,
				"birthday": date("1985-03-14"), "joined_on": date("2026-03-14"), "last_login": utc("2026-01-01T00:00:00Z"),
			}},
			{ID: "c03", Identifiers: map[string][]string{"Phone": {"+819000000003"}}, Attributes: map[string]any{
				"prefecture": "大阪府", "name": `back\slash`, "age": 41.5,
				"birthday": date("2000-02-29"), "joined_on": date("2026-02-13"),
			}},
			{ID: "c04", Identifiers: map[string][]string{}, Attributes: map[string]any{}},
			{ID: "c05", Identifiers: map[string][]string{"Email": {}, "CustomerID": {"C5"}}, Attributes: map[string]any{
				"prefecture": "東京都", "age": "34", "vip": "true",
				"birthday": date("1970-12-31"), "joined_on": date("2026-02-12"), "last_login": utc("2025-03-14T20:00:00Z"),
			}},
			{ID: "c06", Identifiers: map[string][]string{"LineUserID": {"U6"}}, Attributes: map[string]any{
				"prefecture": "北海道", "name": "'; DROP TABLE profiles;--", "address.city": "札幌市", "age": 60.0, "vip": false,
				"birthday": date("1999-04-02"), "joined_on": date("2026-03-16"), "last_login": utc("2026-03-14T19:59:59.999999999Z"),
			}},
			{ID: "c07", Identifiers: map[string][]string{"Email": {"g@x.jp"}}, Attributes: map[string]any{
				"prefecture": "東京都 ", "age": 0.0, "vip": true,
				"birthday": date("2001-04-14"), "last_login": utc("2026-03-14T20:00:00.000000001Z"),
			}},
			{ID: "c08", Identifiers: map[string][]string{"Email": {"h@x.jp"}}, Attributes: map[string]any{
				"name": "Ann", "age": -3.0,
				"birthday": date("2010-03-31"), "joined_on": date("2025-03-15"), "last_login": utc("2026-02-12T20:00:00Z"),
			}},
		},
		Events: []Event{
			purchase("Email", "a@x.jp", ago(day(5)), map[string]any{"amount": 5000.0, "category": "books", "coupon": true}),
			purchase("Email", "a@x.jp", ago(day(40)), map[string]any{"amount": 3000.0, "category": "food"}),
			purchase("Email", "a@x.jp", ago(day(60)), map[string]any{"amount": 12000.0, "category": "books"}),
			// c01's phone, as the shop wrote it.
			purchase("Phone", "090-0000-0001", ago(day(100)), map[string]any{"amount": 700.0, "category": "food"}),
			purchase("Email", "b@x.jp", ago(day(45)), map[string]any{"amount": 2000.0, "category": "books"}),
			purchase("Email", "b@x.jp", ago(day(80)), map[string]any{"amount": 1000.0, "category": "food"}),
			purchase("Phone", "090-0000-0003", ago(day(100)), map[string]any{"amount": 500.0}),
			// In the future: not seen.
			purchase("Phone", "090-0000-0003", ago(day(-1)), map[string]any{"amount": 9999.0, "category": "books"}),
			purchase("CustomerID", "C5", ago(day(10)), map[string]any{"amount": 800.0, "category": "food"}),
			purchase("CustomerID", "C5", ago(day(20)), map[string]any{"category": "books"}),
			// Nobody's.
			purchase("Email", "unknown@x.jp", ago(day(1)), map[string]any{"amount": 100000.0, "category": "books"}),
			// 00:30 on 15 March in Tokyo, still the 14th in UTC.
			purchase("Email", "g@x.jp", utc("2026-03-14T15:30:00Z"), map[string]any{"amount": 1.0, "category": "books"}),
			purchase("Email", "h@x.jp", ago(day(3)), map[string]any{"amount": 50.0, "category": "toys"}),
			{Type: "email_opened", OccurredAt: ago(day(2)), IdentifierType: "Email", IdentifierValue: "a@x.jp"},
			{Type: "email_opened", OccurredAt: ago(day(200)), IdentifierType: "LineUserID", IdentifierValue: "U6"},
			{Type: "email_opened", OccurredAt: ago(time.Hour), IdentifierType: "Email", IdentifierValue: "h@x.jp"},
		},
		Links: map[[2]string]string{
			{"Email", "a@x.jp"}: "c01", {"Phone", "090-0000-0001"}: "c01", {"Email", "b@x.jp"}: "c02",
			{"Phone", "090-0000-0003"}: "c03", {"CustomerID", "C5"}: "c05", {"LineUserID", "U6"}: "c06",
			{"Email", "g@x.jp"}: "c07", {"Email", "h@x.jp"}: "c08",
		},
		Members: map[string][]string{"loyal": {"c01", "c03"}},
	}
}

func purchase(idType, value string, at time.Time, properties map[string]any) Event {
	return Event{Type: "purchase", OccurredAt: at, IdentifierType: idType, IdentifierValue: value, Properties: properties}
}

// Builders of rules, so that a test case reads like the YAML it stands for.

func one(c cdpv1alpha1.Condition) cdpv1alpha1.SegmentRule {
	return cdpv1alpha1.SegmentRule{Condition: c}
}

func allOf(rules ...cdpv1alpha1.NestedRule) cdpv1alpha1.SegmentRule {
	return cdpv1alpha1.SegmentRule{All: rules}
}

func anyOf(rules ...cdpv1alpha1.NestedRule) cdpv1alpha1.SegmentRule {
	return cdpv1alpha1.SegmentRule{Any: rules}
}

func notRule(rule cdpv1alpha1.NestedRule) cdpv1alpha1.SegmentRule {
	return cdpv1alpha1.SegmentRule{Not: &rule}
}

func nested(c cdpv1alpha1.Condition) cdpv1alpha1.NestedRule {
	return cdpv1alpha1.NestedRule{Condition: c}
}

func nestedAll(leaves ...cdpv1alpha1.LeafRule) cdpv1alpha1.NestedRule {
	return cdpv1alpha1.NestedRule{All: leaves}
}

func nestedAny(leaves ...cdpv1alpha1.LeafRule) cdpv1alpha1.NestedRule {
	return cdpv1alpha1.NestedRule{Any: leaves}
}

func nestedNot(leaf cdpv1alpha1.LeafRule) cdpv1alpha1.NestedRule {
	return cdpv1alpha1.NestedRule{Not: &leaf}
}

func leaf(c cdpv1alpha1.Condition) cdpv1alpha1.LeafRule { return cdpv1alpha1.LeafRule{Condition: c} }

func negated(c cdpv1alpha1.Condition) cdpv1alpha1.LeafRule {
	return cdpv1alpha1.LeafRule{Negate: true, Condition: c}
}

// attr tests an attribute: one value for the operators that take one, a list for In, NotIn
// and Between, nothing for Exists, NotExists and AnniversaryThisMonth.
func attr(path string, op cdpv1alpha1.Operator, values ...string) cdpv1alpha1.Condition {
	return cdpv1alpha1.Condition{Attribute: attrTest(path, op, values...)}
}

func attrTest(path string, op cdpv1alpha1.Operator, values ...string) *cdpv1alpha1.AttributeCondition {
	a := &cdpv1alpha1.AttributeCondition{Path: cdpv1alpha1.AttributeName(path), Operator: op}
	switch operators[op].operand {
	case oneValue:
		a.Value = &values[0]
	case valueList, twoValues:
		a.Values = values
	case aDuration:
		d := cdpv1alpha1.Duration(values[0])
		a.Duration = &d
	}
	return a
}

func identifier(idType cdpv1alpha1.IdentifierType) cdpv1alpha1.Condition {
	return cdpv1alpha1.Condition{Identifier: &cdpv1alpha1.IdentifierCondition{Type: idType}}
}

func event(e cdpv1alpha1.EventCondition) cdpv1alpha1.Condition {
	return cdpv1alpha1.Condition{Event: &e}
}

func duration(s string) *cdpv1alpha1.Duration {
	d := cdpv1alpha1.Duration(s)
	return &d
}

func count(op cdpv1alpha1.ComparisonOperator, n int64) *cdpv1alpha1.CountComparison {
	return &cdpv1alpha1.CountComparison{Operator: op, Value: n}
}

func sum(property string, op cdpv1alpha1.ComparisonOperator, value string) *cdpv1alpha1.SumComparison {
	return &cdpv1alpha1.SumComparison{Property: cdpv1alpha1.AttributeName(property), Operator: op, Value: value}
}

func within(d string) *cdpv1alpha1.RelativeTime {
	return &cdpv1alpha1.RelativeTime{Within: duration(d)}
}

func notWithin(d string) *cdpv1alpha1.RelativeTime {
	return &cdpv1alpha1.RelativeTime{NotWithin: duration(d)}
}

func member(segment string) cdpv1alpha1.Condition {
	return cdpv1alpha1.Condition{Segment: &cdpv1alpha1.SegmentMembershipCondition{Name: segment}}
}

func rfm(r cdpv1alpha1.RFMCondition) cdpv1alpha1.Condition { return cdpv1alpha1.Condition{RFM: &r} }

func scores(lo, hi int32) *cdpv1alpha1.ScoreRange { return &cdpv1alpha1.ScoreRange{Min: lo, Max: hi} }

func bucket(salt string, from, to int32) cdpv1alpha1.Condition {
	return cdpv1alpha1.Condition{RandomBucket: &cdpv1alpha1.RandomBucketCondition{Salt: salt, From: from, To: to}}
}
