package segment

import (
	"cmp"
	"strings"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// attribute evaluates an attribute test on a map of values. A value of another type than the
// declared one is missing, like no value at all.
func (e *evaluator) attribute(values map[string]any, t *attributeTest) bool {
	v := values[t.path]
	var present bool
	switch t.typ {
	case cdpv1alpha1.AttributeString:
		_, present = v.(string)
	case cdpv1alpha1.AttributeNumber:
		_, present = number(v)
	case cdpv1alpha1.AttributeBoolean:
		_, present = v.(bool)
	default:
		_, present = v.(time.Time)
	}
	switch {
	case t.op == cdpv1alpha1.OpExists:
		return present
	case t.op == cdpv1alpha1.OpNotExists:
		return !present
	case !present:
		return false
	}
	switch t.typ {
	case cdpv1alpha1.AttributeString:
		s := v.(string)
		switch t.op {
		case cdpv1alpha1.OpContains:
			return strings.Contains(s, t.texts[0])
		case cdpv1alpha1.OpPrefix:
			return strings.HasPrefix(s, t.texts[0])
		}
		return ordered(t.op, len(t.texts), func(i int) int { return strings.Compare(s, t.texts[i]) })
	case cdpv1alpha1.AttributeNumber:
		f, _ := number(v)
		return ordered(t.op, len(t.numbers), func(i int) int { return cmp.Compare(f, t.numbers[i]) })
	case cdpv1alpha1.AttributeBoolean:
		b := v.(bool)
		return ordered(t.op, len(t.bools), func(i int) int {
			if b == t.bools[i] {
				return 0
			}
			return 1
		})
	}
	return e.timeAttribute(v.(time.Time), t)
}

// ordered applies an operator given how the value compares with each operand: negative when
// it is below, zero when equal, positive when above.
func ordered(op cdpv1alpha1.Operator, operands int, compare func(i int) int) bool {
	switch op {
	case cdpv1alpha1.OpEquals:
		return compare(0) == 0
	case cdpv1alpha1.OpNotEquals:
		return compare(0) != 0
	case cdpv1alpha1.OpIn, cdpv1alpha1.OpNotIn:
		in := false
		for i := range operands {
			in = in || compare(i) == 0
		}
		return in == (op == cdpv1alpha1.OpIn)
	case cdpv1alpha1.OpGreaterThan:
		return compare(0) > 0
	case cdpv1alpha1.OpGreaterThanOrEqual:
		return compare(0) >= 0
	case cdpv1alpha1.OpLessThan:
		return compare(0) < 0
	case cdpv1alpha1.OpLessThanOrEqual:
		return compare(0) <= 0
	case cdpv1alpha1.OpBetween:
		return compare(0) >= 0 && compare(1) <= 0
	}
	return false
}

// timeAttribute evaluates a test of a Date or Timestamp. A Date is a calendar day (stored at
// midnight UTC) and compares with the dates operands are written on; a Timestamp compares with
// an instant as an instant, and with a date by its own date in the location.
func (e *evaluator) timeAttribute(v time.Time, t *attributeTest) bool {
	isDate := t.typ == cdpv1alpha1.AttributeDate
	day := dateOf(v.In(e.loc))
	if isDate {
		day = dateOf(v.UTC())
	}
	switch t.op {
	case cdpv1alpha1.OpWithinLast, cdpv1alpha1.OpNotWithinLast:
		var within, before bool
		if isDate {
			first := dateOf(e.now.Add(-t.duration).In(e.loc))
			before = day.Before(first)
			within = !before && !day.After(dateOf(e.now.In(e.loc)))
		} else {
			before = v.Before(e.now.Add(-t.duration))
			within = !before && !v.After(e.now)
		}
		if t.op == cdpv1alpha1.OpWithinLast {
			return within
		}
		return before
	case cdpv1alpha1.OpAnniversaryThisMonth:
		return e.anniversary(v, isDate).Month() == e.now.In(e.loc).Month()
	case cdpv1alpha1.OpAnniversaryWithin:
		return e.anniversaryWithin(e.anniversary(v, isDate), t.duration)
	}
	return ordered(t.op, len(t.times), func(i int) int {
		o := t.times[i]
		if isDate || o.dateOnly {
			return day.Compare(dateOf(o.at))
		}
		return v.Compare(o.at)
	})
}

// anniversary is the date whose month and day an anniversary of v falls on: a Date's own, a
// Timestamp's at the offset the location has now.
func (e *evaluator) anniversary(v time.Time, isDate bool) time.Time {
	if isDate {
		return v.UTC()
	}
	_, offset := e.now.In(e.loc).Zone()
	return v.In(time.FixedZone("", offset))
}

// anniversaryWithin tells whether the month and day of a fall on one of the days from today
// through the day of now+d. In a year without 29 February, an anniversary on that day falls
// between the 28th and 1 March: it matches when both are in the days.
func (e *evaluator) anniversaryWithin(a time.Time, d time.Duration) bool {
	type monthDay struct {
		month time.Month
		day   int
	}
	days := map[monthDay]bool{}
	today, last := dateOf(e.now.In(e.loc)), dateOf(e.now.Add(d).In(e.loc))
	// A year holds every day there is: no need to go further.
	for day, n := today, 0; !day.After(last) && n < 400; day, n = day.AddDate(0, 0, 1), n+1 {
		days[monthDay{day.Month(), day.Day()}] = true
	}
	_, m, dd := a.Date()
	if days[monthDay{m, dd}] {
		return true
	}
	return m == time.February && dd == 29 && days[monthDay{time.February, 28}] && days[monthDay{time.March, 1}]
}
