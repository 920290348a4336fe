package segment

import (
	"fmt"
	"strings"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// storedTimeLayout is how the store writes a time inside JSON, {"$time": "..."}: UTC with nine
// fraction digits, so that stored times compare as text in both databases. Rules compare them
// as text too, with bounds written the same way: exact to the nanosecond, no parsing per row.
const storedTimeLayout = "2006-01-02T15:04:05.000000000Z"

func storedText(t time.Time) string { return t.UTC().Format(storedTimeLayout) }

// value is the SQL of a field of a JSON column (p.attributes, e.properties) when it holds a
// value of the declared type, and NULL when it is missing, null or of another type. The path
// passed checkName, so it holds only [a-z0-9_.] and is safe inside the quoted key; a path with
// dots is one flat key, as the mappings of DataSources write attributes.
func (c *compiler) value(column, path string, typ cdpv1alpha1.AttributeType) string {
	if c.pg {
		field := column + " -> '" + path + "'"
		switch typ {
		case cdpv1alpha1.AttributeNumber:
			return fmt.Sprintf("(CASE WHEN jsonb_typeof(%s) = 'number' THEN (%s)::float8 END)", field, field)
		case cdpv1alpha1.AttributeBoolean:
			return fmt.Sprintf("(CASE WHEN jsonb_typeof(%s) = 'boolean' THEN (%s)::boolean END)", field, field)
		case cdpv1alpha1.AttributeDate, cdpv1alpha1.AttributeTimestamp:
			return fmt.Sprintf(`((CASE WHEN jsonb_typeof(%s -> '$time') = 'string' THEN %s ->> '$time' END) COLLATE "C")`, field, field)
		default:
			// Byte order, as SQLite and Go compare text, whatever the database's locale.
			return fmt.Sprintf(`((CASE WHEN jsonb_typeof(%s) = 'string' THEN %s ->> '%s' END) COLLATE "C")`, field, column, path)
		}
	}
	key := `'$."` + path + `"'`
	switch typ {
	case cdpv1alpha1.AttributeNumber:
		return fmt.Sprintf("(CASE WHEN json_type(%s, %s) IN ('integer', 'real') THEN json_extract(%s, %s) END)", column, key, column, key)
	case cdpv1alpha1.AttributeBoolean:
		return fmt.Sprintf("(CASE json_type(%s, %s) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)", column, key)
	case cdpv1alpha1.AttributeDate, cdpv1alpha1.AttributeTimestamp:
		key = `'$."` + path + `"."$time"'`
		return fmt.Sprintf("(CASE WHEN json_type(%s, %s) = 'text' THEN json_extract(%s, %s) END)", column, key, column, key)
	default:
		return fmt.Sprintf("(CASE WHEN json_type(%s, %s) = 'text' THEN json_extract(%s, %s) END)", column, key, column, key)
	}
}

// attribute returns the boolean SQL of an attribute test, never NULL: a missing value fails
// every operator but NotExists.
func (c *compiler) attribute(column string, t *attributeTest) string {
	x := c.value(column, t.path, t.typ)
	switch t.op {
	case cdpv1alpha1.OpExists:
		return "(" + x + " IS NOT NULL)"
	case cdpv1alpha1.OpNotExists:
		return "(" + x + " IS NULL)"
	}
	var pred string
	if t.typ == cdpv1alpha1.AttributeDate || t.typ == cdpv1alpha1.AttributeTimestamp {
		pred = c.timeComparison(x, t)
	} else {
		pred = c.comparison(x, t)
	}
	// A comparison with NULL is NULL: COALESCE makes it false, so that NOT makes it true.
	return "COALESCE(" + pred + ", FALSE)"
}

// operand binds the i-th operand of a String, Number or Boolean test.
func (c *compiler) operand(t *attributeTest, i int) string {
	switch t.typ {
	case cdpv1alpha1.AttributeNumber:
		return c.number(t.numbers[i])
	case cdpv1alpha1.AttributeBoolean:
		return c.boolean(t.bools[i])
	}
	return c.text(t.texts[i])
}

func (c *compiler) operands(t *attributeTest) string {
	n := len(t.texts) + len(t.numbers) + len(t.bools)
	ps := make([]string, n)
	for i := range ps {
		ps[i] = c.operand(t, i)
	}
	return strings.Join(ps, ", ")
}

// comparison compares a String, Number or Boolean value x, assumed present.
func (c *compiler) comparison(x string, t *attributeTest) string {
	switch t.op {
	case cdpv1alpha1.OpEquals:
		return x + " = " + c.operand(t, 0)
	case cdpv1alpha1.OpNotEquals:
		return x + " <> " + c.operand(t, 0)
	case cdpv1alpha1.OpIn:
		return x + " IN (" + c.operands(t) + ")"
	case cdpv1alpha1.OpNotIn:
		return x + " NOT IN (" + c.operands(t) + ")"
	case cdpv1alpha1.OpContains:
		// instr and strpos take the value as it is: no LIKE, so % and _ are plain characters.
		if c.pg {
			return "strpos(" + x + ", " + c.operand(t, 0) + ") > 0"
		}
		return "instr(" + x + ", " + c.operand(t, 0) + ") > 0"
	case cdpv1alpha1.OpPrefix:
		if c.pg {
			return "starts_with(" + x + ", " + c.operand(t, 0) + ")"
		}
		v := c.operand(t, 0)
		return "substr(" + x + ", 1, length(" + v + ")) = " + v
	case cdpv1alpha1.OpGreaterThan:
		return x + " > " + c.operand(t, 0)
	case cdpv1alpha1.OpGreaterThanOrEqual:
		return x + " >= " + c.operand(t, 0)
	case cdpv1alpha1.OpLessThan:
		return x + " < " + c.operand(t, 0)
	case cdpv1alpha1.OpLessThanOrEqual:
		return x + " <= " + c.operand(t, 0)
	case cdpv1alpha1.OpBetween:
		return "(" + x + " >= " + c.operand(t, 0) + " AND " + x + " <= " + c.operand(t, 1) + ")"
	}
	panic(fmt.Sprintf("segment: operator %s has no SQL for %s", t.op, t.typ))
}

// timeComparison compares a Date or Timestamp value x, the stored text of a time, assumed
// present. Every operand stands for a span of time [lo, hi): a date its whole day (in Location
// for a Timestamp, as written for a Date), an instant its own nanosecond. Comparisons are of
// spans: x > operand is x at or after its end, x = operand is x within it.
func (c *compiler) timeComparison(x string, t *attributeTest) string {
	// at binds the stored text of an instant.
	at := func(instant time.Time) string { return c.text(storedText(instant)) }
	within := func(i int) string {
		lo, hi := c.span(t, t.times[i])
		return "(" + x + " >= " + at(lo) + " AND " + x + " < " + at(hi) + ")"
	}
	lo := func(i int) string { start, _ := c.span(t, t.times[i]); return at(start) }
	hi := func(i int) string { _, end := c.span(t, t.times[i]); return at(end) }
	switch t.op {
	case cdpv1alpha1.OpEquals:
		return within(0)
	case cdpv1alpha1.OpNotEquals:
		return "NOT " + within(0)
	case cdpv1alpha1.OpIn, cdpv1alpha1.OpNotIn:
		parts := make([]string, len(t.times))
		for i := range t.times {
			parts[i] = within(i)
		}
		in := "(" + strings.Join(parts, " OR ") + ")"
		if t.op == cdpv1alpha1.OpNotIn {
			return "NOT " + in
		}
		return in
	case cdpv1alpha1.OpGreaterThan:
		return x + " >= " + hi(0)
	case cdpv1alpha1.OpGreaterThanOrEqual:
		return x + " >= " + lo(0)
	case cdpv1alpha1.OpLessThan:
		return x + " < " + lo(0)
	case cdpv1alpha1.OpLessThanOrEqual:
		return x + " < " + hi(0)
	case cdpv1alpha1.OpBetween:
		return "(" + x + " >= " + lo(0) + " AND " + x + " < " + hi(1) + ")"
	case cdpv1alpha1.OpWithinLast, cdpv1alpha1.OpNotWithinLast:
		from, until := c.lastSpan(t)
		if t.op == cdpv1alpha1.OpNotWithinLast {
			return x + " < " + at(from)
		}
		return "(" + x + " >= " + at(from) + " AND " + x + " < " + at(until) + ")"
	case cdpv1alpha1.OpAnniversaryThisMonth:
		return "substr(" + c.monthDay(x, t.typ) + ", 1, 2) = " + c.text(fmt.Sprintf("%02d", int(c.opts.Now.In(c.loc).Month())))
	case cdpv1alpha1.OpAnniversaryWithin:
		return c.anniversaryWithin(x, t)
	}
	panic(fmt.Sprintf("segment: operator %s has no SQL for %s", t.op, t.typ))
}

// span returns the first instant an operand stands for and the first after it.
func (c *compiler) span(t *attributeTest, o timeOperand) (lo, hi time.Time) {
	if t.typ == cdpv1alpha1.AttributeDate {
		// A Date is stored at midnight UTC of its day: the operand's date as written.
		y, m, d := o.at.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	return o.start(c.loc), o.end(c.loc)
}

// lastSpan is the span WithinLast matches: [Now-duration, Now] for a Timestamp; for a Date, the
// days from that of Now-duration through today, in Location.
func (c *compiler) lastSpan(t *attributeTest) (from, until time.Time) {
	now := c.opts.Now
	if t.typ == cdpv1alpha1.AttributeTimestamp {
		return now.Add(-t.duration), now.Add(time.Nanosecond)
	}
	fy, fm, fd := now.Add(-t.duration).In(c.loc).Date()
	ty, tm, td := now.In(c.loc).Date()
	return time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC), time.Date(ty, tm, td+1, 0, 0, 0, 0, time.UTC)
}

// monthDay is the SQL of a stored time's month and day as text, MM-DD: a Date's as stored, a
// Timestamp's in Location at the UTC offset Location has at Now (see the package doc).
func (c *compiler) monthDay(x string, typ cdpv1alpha1.AttributeType) string {
	_, offset := c.opts.Now.In(c.loc).Zone()
	if typ == cdpv1alpha1.AttributeDate || offset == 0 {
		return "substr(" + x + ", 6, 5)"
	}
	if c.pg {
		return fmt.Sprintf(`(to_char(substr(%s, 1, 19)::timestamp + %s * interval '1 second', 'MM-DD') COLLATE "C")`, x, c.integer(int64(offset)))
	}
	return fmt.Sprintf("strftime('%%m-%%d', substr(%s, 1, 19), %s)", x, c.param(fmt.Sprintf("%+d seconds", offset)))
}

// anniversaryWithin: the value's month and day fall on one of the days from today through the
// day of Now+duration, in Location. The days make one range of MM-DD text, or two when they
// cross the new year; a range of a year or more matches every value.
func (c *compiler) anniversaryWithin(x string, t *attributeTest) string {
	now := c.opts.Now.In(c.loc)
	first := civilDate(now)
	last := civilDate(now.Add(t.duration))
	if !last.Before(first.AddDate(1, 0, -1)) {
		return x + " IS NOT NULL"
	}
	md := c.monthDay(x, t.typ)
	from, through := c.text(first.Format("01-02")), c.text(last.Format("01-02"))
	if first.Format("01-02") <= last.Format("01-02") {
		return "(" + md + " >= " + from + " AND " + md + " <= " + through + ")"
	}
	return "(" + md + " >= " + from + " OR " + md + " <= " + through + ")"
}

// civilDate is t's calendar date, as midnight UTC.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
