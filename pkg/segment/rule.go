package segment

import (
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// node is a rule after validation: a group of nodes or one test, with every value parsed. Both
// back ends, the SQL compiler and the in-memory evaluator, read nodes, never the API types, so
// that they judge the same validated rule.
type node struct {
	kind nodeKind
	// children of all and any; the one child of not.
	children []*node

	attribute  *attributeTest
	identifier string
	event      *eventTest
	segment    string
	rfm        *rfmTest
	bucket     *bucketTest
}

type nodeKind int

const (
	allNode nodeKind = iota + 1
	anyNode
	notNode
	attributeNode
	identifierNode
	eventNode
	segmentNode
	rfmNode
	bucketNode
)

// attributeTest compares a profile attribute, or an event property, with its operands.
type attributeTest struct {
	path string
	typ  cdpv1alpha1.AttributeType
	op   cdpv1alpha1.Operator
	// The operands in the order written, parsed for the type: texts for String, numbers for
	// Number, bools for Boolean, times for Date and Timestamp.
	texts   []string
	numbers []float64
	bools   []bool
	times   []timeOperand
	// duration of WithinLast, NotWithinLast and AnniversaryWithinNext.
	duration time.Duration
}

// timeOperand is a date or a time written in a rule.
type timeOperand struct {
	// at is the instant written, in the offset it was written with; for a date alone, midnight
	// UTC of that date. Either way at.Date() is the calendar date as written.
	at time.Time
	// dateOnly: a date alone stands for its whole day.
	dateOnly bool
}

// eventTest matches profiles by the events linked to them.
type eventTest struct {
	eventType string
	where     []*attributeTest
	// within, when not zero, keeps the events of the last duration; between, when set, those
	// of a range. Events after Now are never kept.
	within  time.Duration
	between *[2]timeOperand
	// count or sum compares an aggregate; with neither, one event is enough.
	count *countTest
	sum   *sumTest
	// first and last test the earliest and the latest matching event.
	first, last *recencyTest
}

type countTest struct {
	op    cdpv1alpha1.ComparisonOperator
	value int64
}

type sumTest struct {
	property string
	op       cdpv1alpha1.ComparisonOperator
	value    float64
}

// recencyTest: within matches a moment of the last duration, otherwise a moment longer ago.
type recencyTest struct {
	within   bool
	duration time.Duration
}

// rfmTest scores the profiles that performed an event in a window and tests their scores.
type rfmTest struct {
	eventType string
	// amount is the Number property summed for the monetary score; empty when not scored.
	amount string
	window time.Duration
	// recency, frequency and monetary are inclusive score ranges, nil when not tested.
	recency, frequency, monetary *[2]int64
}

// bucketTest matches the profiles whose bucket (see Bucket) lies in from..to.
type bucketTest struct {
	salt     string
	from, to int64
}
