package segment

import (
	"slices"
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// ruleCase is a rule and the fixture's profiles it must select. now and loc, when set,
// replace the fixture's clock and location.
type ruleCase struct {
	name string
	rule cdpv1alpha1.SegmentRule
	now  time.Time
	loc  *time.Location
	want []string
}

func ids(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Fields(s)
}

const everyone = "c01 c02 c03 c04 c05 c06 c07 c08"

var attributeCases = []ruleCase{
	// String.
	{name: "string equals", rule: one(attr("prefecture", "Equals", "東京都")), want: ids("c01 c05")},
	{name: "string not equals skips the missing", rule: one(attr("prefecture", "NotEquals", "東京都")), want: ids("c02 c03 c06 c07")},
	{name: "string in", rule: one(attr("prefecture", "In", "東京都", "神奈川県")), want: ids("c01 c02 c05")},
	{name: "string not in skips the missing", rule: one(attr("prefecture", "NotIn", "東京都", "神奈川県")), want: ids("c03 c06 c07")},
	{name: "string contains", rule: one(attr("prefecture", "Contains", "京")), want: ids("c01 c05 c07")},
	{name: "string prefix", rule: one(attr("prefecture", "Prefix", "東京")), want: ids("c01 c05 c07")},
	{name: "string exists", rule: one(attr("prefecture", "Exists")), want: ids("c01 c02 c03 c05 c06 c07")},
	{name: "string not exists", rule: one(attr("prefecture", "NotExists")), want: ids("c04 c08")},
	{name: "string greater than, byte order", rule: one(attr("name", "GreaterThan", "Ann")), want: ids("c01 c03")},
	{name: "string greater than or equal", rule: one(attr("name", "GreaterThanOrEqual", "Ann")), want: ids("c01 c03 c08")},
	{name: "string less than", rule: one(attr("name", "LessThan", "Ann")), want: ids("c02 c06")},
	{name: "string less than or equal", rule: one(attr("name", "LessThanOrEqual", "Ann")), want: ids("c02 c06 c08")},
	{name: "string between", rule: one(attr("name", "Between", "1", "O'Brien")), want: ids("c01 c02 c08")},
	{name: "percent is no wildcard", rule: one(attr("name", "Contains", "%")), want: ids("c02")},
	{name: "underscore is no wildcard", rule: one(attr("name", "Contains", "_")), want: ids("c02")},
	{name: "prefix with percent", rule: one(attr("name", "Prefix", "100%")), want: ids("c02")},
	{name: "prefix of a percent", rule: one(attr("name", "Prefix", "%")), want: ids("")},
	{name: "backslash", rule: one(attr("name", "Contains", `\`)), want: ids("c03")},
	{name: "quote", rule: one(attr("name", "Contains", "'")), want: ids("c01 c06")},
	{name: "injection attempt is a value", rule: one(attr("name", "Equals", "'; DROP TABLE profiles;--")), want: ids("c06")},
	{name: "prefix injection attempt", rule: one(attr("name", "Prefix", "'; DROP")), want: ids("c06")},
	{name: "empty text is in every text", rule: one(attr("name", "Contains", "")), want: ids("c01 c02 c03 c06 c08")},
	{name: "dotted path is one key", rule: one(attr("address.city", "Equals", "渋谷区")), want: ids("c01")},

	// Number; c05 holds its age as text, which is no number.
	{name: "number equals", rule: one(attr("age", "Equals", "34")), want: ids("c01")},
	{name: "number equals negative", rule: one(attr("age", "Equals", "-3")), want: ids("c08")},
	{name: "number not equals", rule: one(attr("age", "NotEquals", "34")), want: ids("c02 c03 c06 c07 c08")},
	{name: "number in", rule: one(attr("age", "In", "25", "60")), want: ids("c02 c06")},
	{name: "number not in", rule: one(attr("age", "NotIn", "25", "60")), want: ids("c01 c03 c07 c08")},
	{name: "number greater than", rule: one(attr("age", "GreaterThan", "34")), want: ids("c03 c06")},
	{name: "number greater than or equal", rule: one(attr("age", "GreaterThanOrEqual", "34")), want: ids("c01 c03 c06")},
	{name: "number less than", rule: one(attr("age", "LessThan", "25")), want: ids("c07 c08")},
	{name: "number less than or equal", rule: one(attr("age", "LessThanOrEqual", "25")), want: ids("c02 c07 c08")},
	{name: "number between", rule: one(attr("age", "Between", "0", "41.5")), want: ids("c01 c02 c03 c07")},
	{name: "number exists", rule: one(attr("age", "Exists")), want: ids("c01 c02 c03 c06 c07 c08")},
	{name: "number not exists, wrong type included", rule: one(attr("age", "NotExists")), want: ids("c04 c05")},
	{name: "not equals is not not", rule: notRule(nested(attr("age", "Equals", "34"))), want: ids("c02 c03 c04 c05 c06 c07 c08")},

	// Boolean; c05 holds "true" as text.
	{name: "boolean true", rule: one(attr("vip", "Equals", "true")), want: ids("c01 c07")},
	{name: "boolean false", rule: one(attr("vip", "Equals", "false")), want: ids("c02 c06")},
	{name: "boolean not equals", rule: one(attr("vip", "NotEquals", "true")), want: ids("c02 c06")},
	{name: "boolean in", rule: one(attr("vip", "In", "true")), want: ids("c01 c07")},
	{name: "boolean not in", rule: one(attr("vip", "NotIn", "false")), want: ids("c01 c07")},
	{name: "boolean exists", rule: one(attr("vip", "Exists")), want: ids("c01 c02 c06 c07")},
	{name: "boolean not exists", rule: one(attr("vip", "NotExists")), want: ids("c03 c04 c05 c08")},

	// Date: calendar days, compared with the dates operands are written on.
	{name: "date equals", rule: one(attr("birthday", "Equals", "1990-03-20")), want: ids("c01")},
	{name: "date equals the date a time is written on", rule: one(attr("birthday", "Equals", "1990-03-20T23:00:00-05:00")), want: ids("c01")},
	{name: "date equals, not the UTC date", rule: one(attr("birthday", "Equals", "1990-03-21T01:00:00+09:00")), want: ids("")},
	{name: "date not equals", rule: one(attr("birthday", "NotEquals", "1990-03-20")), want: ids("c02 c03 c05 c06 c07 c08")},
	{name: "date in", rule: one(attr("birthday", "In", "1985-03-14", "2000-02-29")), want: ids("c02 c03")},
	{name: "date not in", rule: one(attr("birthday", "NotIn", "1985-03-14", "2000-02-29")), want: ids("c01 c05 c06 c07 c08")},
	{name: "date greater than", rule: one(attr("birthday", "GreaterThan", "1999-04-02")), want: ids("c03 c07 c08")},
	{name: "date greater than or equal", rule: one(attr("birthday", "GreaterThanOrEqual", "1999-04-02")), want: ids("c03 c06 c07 c08")},
	{name: "date less than", rule: one(attr("birthday", "LessThan", "1985-03-14")), want: ids("c05")},
	{name: "date less than or equal", rule: one(attr("birthday", "LessThanOrEqual", "1985-03-14")), want: ids("c02 c05")},
	{name: "date between", rule: one(attr("birthday", "Between", "1990-01-01", "2000-02-29")), want: ids("c01 c03 c06")},
	{name: "date exists", rule: one(attr("joined_on", "Exists")), want: ids("c01 c02 c03 c05 c06 c08")},
	// Today is 15 March in Tokyo: the last 30 days run from 13 February.
	{name: "date within last", rule: one(attr("joined_on", "WithinLast", "30d")), want: ids("c01 c02 c03")},
	{name: "date not within last", rule: one(attr("joined_on", "NotWithinLast", "30d")), want: ids("c05 c08")},
	{name: "date within last in UTC", loc: time.UTC, rule: one(attr("joined_on", "WithinLast", "30d")), want: ids("c02 c03 c05")},
	{name: "date anniversary this month", rule: one(attr("birthday", "AnniversaryThisMonth")), want: ids("c01 c02 c08")},
	{name: "date anniversary within a week", rule: one(attr("birthday", "AnniversaryWithinNext", "7d")), want: ids("c01")},
	{name: "date anniversary within three weeks", rule: one(attr("birthday", "AnniversaryWithinNext", "3w")), want: ids("c01 c06 c08")},
	{name: "date anniversary includes today", loc: time.UTC, rule: one(attr("birthday", "AnniversaryWithinNext", "1h")), want: ids("c02")},
	{name: "date anniversary across the new year", now: utc("2026-12-30T00:00:00Z"), rule: one(attr("birthday", "AnniversaryWithinNext", "5d")), want: ids("c05")},
	{name: "date anniversary of a whole year", rule: one(attr("birthday", "AnniversaryWithinNext", "52w")), want: ids("c01 c02 c03 c05 c06 c07 c08")},
	{name: "29 February falls between 28 February and 1 March", now: utc("2027-02-27T03:00:00Z"), rule: one(attr("birthday", "AnniversaryWithinNext", "3d")), want: ids("c03")},
	{name: "29 February is not 28 February", now: utc("2027-02-27T03:00:00Z"), rule: one(attr("birthday", "AnniversaryWithinNext", "1d")), want: ids("")},
	{name: "29 February in a leap year", now: utc("2028-02-29T03:00:00Z"), rule: one(attr("birthday", "AnniversaryWithinNext", "1h")), want: ids("c03")},

	// Timestamp: instants; a date is its whole day in Tokyo.
	{name: "timestamp within last, both ends", rule: one(attr("last_login", "WithinLast", "30d")), want: ids("c01 c06 c08")},
	{name: "timestamp not within last", rule: one(attr("last_login", "NotWithinLast", "30d")), want: ids("c02 c05")},
	{name: "timestamp within a year", rule: one(attr("last_login", "WithinLast", "365d")), want: ids("c01 c02 c05 c06 c08")},
	{name: "timestamp equals a day in Tokyo", rule: one(attr("last_login", "Equals", "2026-03-15")), want: ids("c01 c06 c07")},
	{name: "timestamp equals a day in UTC", loc: time.UTC, rule: one(attr("last_login", "Equals", "2026-03-14")), want: ids("c01 c06 c07")},
	{name: "timestamp equals an instant", rule: one(attr("last_login", "Equals", "2026-03-14T16:30:00Z")), want: ids("c01")},
	{name: "timestamp equals the instant in another offset", rule: one(attr("last_login", "Equals", "2026-03-15T01:30:00+09:00")), want: ids("c01")},
	{name: "timestamp not equals a day", rule: one(attr("last_login", "NotEquals", "2026-03-15")), want: ids("c02 c05 c08")},
	{name: "timestamp after a day", rule: one(attr("last_login", "GreaterThan", "2026-03-14")), want: ids("c01 c06 c07")},
	{name: "timestamp before a day", rule: one(attr("last_login", "LessThan", "2026-03-15")), want: ids("c02 c05 c08")},
	{name: "timestamp at or before an instant", rule: one(attr("last_login", "LessThanOrEqual", "2026-03-14T20:00:00Z")), want: ids("c01 c02 c05 c06 c08")},
	{name: "timestamp after an instant, by a nanosecond", rule: one(attr("last_login", "GreaterThan", "2026-03-14T20:00:00Z")), want: ids("c07")},
	{name: "timestamp at or after an instant", rule: one(attr("last_login", "GreaterThanOrEqual", "2026-03-14T19:59:59.999999999Z")), want: ids("c06 c07")},
	{name: "timestamp between a day and an instant", rule: one(attr("last_login", "Between", "2026-01-01", "2026-02-12T20:00:00Z")), want: ids("c02 c08")},
	{name: "timestamp in instants", rule: one(attr("last_login", "In", "2026-01-01T00:00:00Z", "2025-03-14T20:00:00Z")), want: ids("c02 c05")},
	{name: "timestamp not in", rule: one(attr("last_login", "NotIn", "2026-03-15", "2026-01-01")), want: ids("c05 c08")},
	{name: "timestamp not exists", rule: one(attr("last_login", "NotExists")), want: ids("c03 c04")},
	{name: "timestamp anniversary this month in Tokyo", rule: one(attr("last_login", "AnniversaryThisMonth")), want: ids("c01 c05 c06 c07")},
	{name: "timestamp anniversary within a day", rule: one(attr("last_login", "AnniversaryWithinNext", "1d")), want: ids("c01 c05 c06 c07")},
	{name: "timestamp anniversary in UTC", loc: time.UTC, rule: one(attr("last_login", "AnniversaryWithinNext", "1h")), want: ids("c01 c05 c06 c07")},
}

var identifierCases = []ruleCase{
	{name: "has an e-mail address, not an empty list", rule: one(identifier("Email")), want: ids("c01 c02 c07 c08")},
	{name: "has a phone", rule: one(identifier("Phone")), want: ids("c01 c03")},
	{name: "has a customer ID", rule: one(identifier("CustomerID")), want: ids("c05")},
	{name: "has a LINE user", rule: one(identifier("LineUserID")), want: ids("c06")},
	{name: "reachable by e-mail", rule: one(cdpv1alpha1.Condition{Identifier: &cdpv1alpha1.IdentifierCondition{Type: "Email", Reachable: true}}), want: ids("c01 c02 c07 c08")},
	{name: "has no e-mail address", rule: notRule(nested(identifier("Email"))), want: ids("c03 c04 c05 c06")},
}

var eventCases = []ruleCase{
	{name: "performed", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase"})), want: ids("c01 c02 c03 c05 c07 c08")},
	{name: "never performed", rule: notRule(nested(event(cdpv1alpha1.EventCondition{Type: "purchase"}))), want: ids("c04 c06")},
	{name: "performed within", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d")})), want: ids("c01 c05 c07 c08")},
	{name: "twice in 90 days", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("90d"), Count: count("GreaterThanOrEqual", 2)})), want: ids("c01 c02 c05")},
	{name: "twice in 90 days, none in 30, in Tokyo or Kanagawa", rule: allOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("90d"), Count: count("GreaterThanOrEqual", 2)})),
		nestedNot(leaf(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d")}))),
		nested(attr("prefecture", "In", "東京都", "神奈川県")),
	), want: ids("c02")},
	{name: "count below one includes those without events", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d"), Count: count("LessThan", 1)})), want: ids("c02 c03 c04 c06")},
	{name: "count equals zero", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("Equals", 0)})), want: ids("c04 c06")},
	{name: "count at most one", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("LessThanOrEqual", 1)})), want: ids("c03 c04 c06 c07 c08")},
	{name: "count not two", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("NotEquals", 2)})), want: ids("c01 c03 c04 c06 c07 c08")},
	{name: "count above three", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("GreaterThan", 3)})), want: ids("c01")},
	{name: "sum at least", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Sum: sum("amount", "GreaterThanOrEqual", "3000")})), want: ids("c01 c02")},
	{name: "sum below includes those without events", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Sum: sum("amount", "LessThan", "100")})), want: ids("c04 c06 c07 c08")},
	{name: "sum skips events without the property", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Sum: sum("amount", "Equals", "800")})), want: ids("c05")},
	{name: "where a property equals", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("category", "Equals", "books")}})), want: ids("c01 c02 c05 c07")},
	{name: "where and count", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("category", "Equals", "books")}, Count: count("GreaterThanOrEqual", 2)})), want: ids("c01")},
	{name: "where a boolean property", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("coupon", "Equals", "true")}})), want: ids("c01")},
	{name: "where a number property", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("amount", "GreaterThan", "1000")}})), want: ids("c01 c02")},
	{name: "where not equals skips events without the property", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("category", "NotEquals", "books")}})), want: ids("c01 c02 c05 c08")},
	{name: "between days in Tokyo", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Between: &cdpv1alpha1.DateRange{From: "2026-01-01", To: "2026-02-01"}})), want: ids("c01 c02")},
	{name: "between today in Tokyo", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Between: &cdpv1alpha1.DateRange{From: "2026-03-15", To: "2026-03-15"}})), want: ids("c07")},
	{name: "between a UTC day that has not begun", loc: time.UTC, rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Between: &cdpv1alpha1.DateRange{From: "2026-03-15", To: "2026-03-15"}})), want: ids("")},
	{name: "between instants, both included", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Between: &cdpv1alpha1.DateRange{From: "2026-01-28T20:00:00Z", To: "2026-02-02T20:00:00Z"}})), want: ids("c01 c02")},
	{name: "last performed within", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", LastPerformed: within("7d")})), want: ids("c01 c07 c08")},
	{name: "last performed longer ago", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", LastPerformed: notWithin("30d")})), want: ids("c02 c03")},
	{name: "first performed within", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", FirstPerformed: within("50d")})), want: ids("c05 c07 c08")},
	{name: "first performed longer ago", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", FirstPerformed: notWithin("90d")})), want: ids("c01 c03")},
	{name: "count below three and recently", rule: one(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("LessThan", 3), LastPerformed: within("30d")})), want: ids("c05 c07 c08")},
	// Tests of one event type share a scan, each with its own window.
	{name: "purchased, but not in the last week", rule: allOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Count: count("GreaterThanOrEqual", 1)})),
		nestedNot(leaf(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("7d")}))),
	), want: ids("c02 c03 c05")},
	{name: "spent in 30 days or first bought long ago", rule: anyOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d"), Sum: sum("amount", "GreaterThanOrEqual", "800")})),
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", FirstPerformed: notWithin("90d")})),
	), want: ids("c01 c03 c05")},
	{name: "bought in January, and less than twice in 30 days", rule: allOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Between: &cdpv1alpha1.DateRange{From: "2026-01-01", To: "2026-02-01"}})),
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d"), Count: count("LessThan", 2)})),
	), want: ids("c01 c02")},
	{name: "another event type", rule: one(event(cdpv1alpha1.EventCondition{Type: "email_opened", Within: duration("7d")})), want: ids("c01 c08")},
	{name: "an event type nobody performed", rule: one(event(cdpv1alpha1.EventCondition{Type: "refund"})), want: ids("")},
}

var otherCases = []ruleCase{
	{name: "segment member", rule: one(member("loyal")), want: ids("c01 c03")},
	{name: "not a segment member", rule: notRule(nested(member("loyal"))), want: ids("c02 c04 c05 c06 c07 c08")},
	{name: "member of an empty segment", rule: one(member("ghost")), want: ids("")},
	// Purchases in 365 days: days since the last c07 0, c08 3, c01 5, c05 10, c02 45, c03 100;
	// counts c01 4, c02 2, c05 2, the others 1; amounts c07 1, c08 50, c03 500, c05 800, c02
	// 3000, c01 20700.
	{name: "rfm most recent", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Recency: scores(5, 5)})), want: ids("c07 c08")},
	{name: "rfm least recent", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Recency: scores(1, 2)})), want: ids("c02 c03")},
	{name: "rfm frequency ties score alike", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Frequency: scores(5, 5)})), want: ids("c01 c02 c05")},
	{name: "rfm low frequency", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Frequency: scores(1, 3)})), want: ids("c03 c07 c08")},
	{name: "rfm monetary", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", AmountProperty: "amount", Monetary: scores(4, 5)})), want: ids("c01 c02 c05")},
	{name: "rfm recent and valuable", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", AmountProperty: "amount", Recency: scores(4, 5), Monetary: scores(4, 5)})), want: ids("c01")},
	{name: "rfm window", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Window: duration("30d"), Frequency: scores(5, 5)})), want: ids("c05")},
	{name: "rfm without events has no score", rule: one(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", Recency: scores(1, 5)})), want: ids("c01 c02 c03 c05 c07 c08")},
	{name: "every bucket", rule: one(bucket("spring", 0, 99)), want: ids(everyone)},
	{name: "all of", rule: allOf(nested(attr("prefecture", "Equals", "東京都")), nested(identifier("Email"))), want: ids("c01")},
	{name: "any of", rule: anyOf(nested(attr("prefecture", "Equals", "北海道")), nested(member("loyal"))), want: ids("c01 c03 c06")},
	{name: "nested groups and negation", rule: anyOf(
		nestedAll(leaf(attr("vip", "Equals", "true")), negated(attr("prefecture", "Equals", "東京都"))),
		nestedAny(leaf(attr("age", "LessThan", "0")), negated(attr("age", "Exists"))),
	), want: ids("c04 c05 c07 c08")},
}

// TestRules runs every case through Evaluate and through the compiled query on SQLite and
// PostgreSQL: all three must select exactly the profiles the case expects.
func TestRules(t *testing.T) {
	dbs := openDatabases(t)
	data := fixture()
	for _, d := range dbs {
		d.write(t, data)
	}
	for _, group := range []struct {
		name  string
		cases []ruleCase
	}{{"attribute", attributeCases}, {"identifier", identifierCases}, {"event", eventCases}, {"other", otherCases}} {
		t.Run(group.name, func(t *testing.T) {
			for _, c := range group.cases {
				t.Run(c.name, func(t *testing.T) {
					opts := fixtureOptions(0)
					if !c.now.IsZero() {
						opts.Now = c.now
					}
					if c.loc != nil {
						opts.Location = c.loc
					}
					got, err := Evaluate(&c.rule, data, opts)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, c.want) {
						t.Errorf("Evaluate: got %v, want %v", got, c.want)
					}
					for _, d := range dbs {
						opts.Dialect = d.dialect
						q, err := Compile(&c.rule, opts)
						if err != nil {
							t.Fatal(err)
						}
						if got := d.query(t, q, false); !slices.Equal(got, c.want) {
							t.Errorf("%s: got %v, want %v\n%s\nargs: %v", d.dialect, got, c.want, q.SQL, q.Args)
						}
					}
				})
			}
		})
	}
}

func TestReads(t *testing.T) {
	rule := allOf(
		nested(attr("prefecture", "Equals", "東京都")),
		nestedAny(leaf(attr("age", "GreaterThan", "3")), leaf(attr("prefecture", "Exists"))),
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Where: []cdpv1alpha1.AttributeCondition{*attrTest("category", "Equals", "books")}})),
	)
	q, err := Compile(&rule, fixtureOptions(SQLite))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"age", "prefecture"}; !slices.Equal(q.Reads, want) {
		t.Errorf("Reads = %v, want %v (profile attributes only, once each, sorted)", q.Reads, want)
	}
}
