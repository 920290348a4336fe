package segment

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// parser validates a rule tree against the declared fields and turns it into nodes. Every
// error names where in the rule it is (rule.all[1].event.where[0]) and what to change.
type parser struct {
	opts Options
	// reads collects the profile attributes the rule reads.
	reads map[string]bool
}

// parse validates rule and returns its tree and the profile attributes it reads, sorted.
func parse(rule *cdpv1alpha1.SegmentRule, opts Options) (*node, []string, error) {
	if rule == nil {
		return nil, nil, fmt.Errorf("spec.rule: the segment has no rule")
	}
	if err := opts.check(); err != nil {
		return nil, nil, fmt.Errorf("segment options: %w", err)
	}
	p := parser{opts: opts, reads: map[string]bool{}}
	n, err := p.segmentRule(rule, "spec.rule")
	if err != nil {
		return nil, nil, err
	}
	return n, slices.Sorted(maps.Keys(p.reads)), nil
}

// exactlyOne is the message of a rule that sets none or several of its choices.
const exactlyOne = "set exactly one of all, any, not, attribute, identifier, event, segment, rfm or randomBucket"

func (p *parser) segmentRule(r *cdpv1alpha1.SegmentRule, at string) (*node, error) {
	return parseLevel(p, r.All, r.Any, r.Not, &r.Condition, at, p.nestedRule)
}

func (p *parser) nestedRule(r *cdpv1alpha1.NestedRule, at string) (*node, error) {
	return parseLevel(p, r.All, r.Any, r.Not, &r.Condition, at, p.leafRule)
}

// parseLevel parses one of the two upper levels of the tree: all, any or not over rules of the
// level below (parsed by child), or a condition.
func parseLevel[T any](p *parser, all, anyOf []T, not *T, c *cdpv1alpha1.Condition, at string, child func(*T, string) (*node, error)) (*node, error) {
	if groups(len(all) > 0, len(anyOf) > 0, not != nil)+conditions(c) != 1 {
		return nil, fmt.Errorf("%s: %s", at, exactlyOne)
	}
	switch {
	case len(all) > 0 || len(anyOf) > 0:
		kind, rules, name := allNode, all, "all"
		if len(anyOf) > 0 {
			kind, rules, name = anyNode, anyOf, "any"
		}
		n := &node{kind: kind}
		for i := range rules {
			c, err := child(&rules[i], fmt.Sprintf("%s.%s[%d]", at, name, i))
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		}
		return n, nil
	case not != nil:
		c, err := child(not, at+".not")
		if err != nil {
			return nil, err
		}
		return &node{kind: notNode, children: []*node{c}}, nil
	}
	return p.condition(c, at)
}

func (p *parser) leafRule(r *cdpv1alpha1.LeafRule, at string) (*node, error) {
	if conditions(&r.Condition) != 1 {
		return nil, fmt.Errorf("%s: set exactly one of attribute, identifier, event, segment, rfm or randomBucket (groups cannot nest deeper than three levels: refer to another Segment instead)", at)
	}
	n, err := p.condition(&r.Condition, at)
	if err != nil || !r.Negate {
		return n, err
	}
	return &node{kind: notNode, children: []*node{n}}, nil
}

func groups(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

func conditions(c *cdpv1alpha1.Condition) int {
	return groups(c.Attribute != nil, c.Identifier != nil, c.Event != nil, c.Segment != nil, c.RFM != nil, c.RandomBucket != nil)
}

// condition parses the one condition the caller made sure is set.
func (p *parser) condition(c *cdpv1alpha1.Condition, at string) (*node, error) {
	switch {
	case c.Attribute != nil:
		t, err := parseAttributeTest(c.Attribute, p.opts.Attributes, profileAttribute, at+".attribute")
		if err != nil {
			return nil, err
		}
		p.reads[t.path] = true
		return &node{kind: attributeNode, attribute: t}, nil
	case c.Identifier != nil:
		if !identifierTypes[c.Identifier.Type] {
			return nil, fmt.Errorf("%s.identifier.type: %q is not an identifier type (Email, Phone, CustomerID, CompanyName, PersonName, PostalCode, LineUserID, DeviceToken or Custom)", at, clip(string(c.Identifier.Type)))
		}
		return &node{kind: identifierNode, identifier: string(c.Identifier.Type)}, nil
	case c.Event != nil:
		t, err := p.eventTest(c.Event, at+".event")
		if err != nil {
			return nil, err
		}
		return &node{kind: eventNode, event: t}, nil
	case c.Segment != nil:
		name := c.Segment.Name
		if len(name) > 253 || !segmentNamePattern.MatchString(name) {
			return nil, fmt.Errorf("%s.segment.name: %q is not a Segment name (lower-case letters, digits, '-' and '.')", at, clip(name))
		}
		return &node{kind: segmentNode, segment: name}, nil
	case c.RFM != nil:
		t, err := p.rfmTest(c.RFM, at+".rfm")
		if err != nil {
			return nil, err
		}
		return &node{kind: rfmNode, rfm: t}, nil
	default:
		t, err := parseBucketTest(c.RandomBucket, at+".randomBucket")
		if err != nil {
			return nil, err
		}
		return &node{kind: bucketNode, bucket: t}, nil
	}
}

var identifierTypes = map[cdpv1alpha1.IdentifierType]bool{
	cdpv1alpha1.IdentifierEmail: true, cdpv1alpha1.IdentifierPhone: true, cdpv1alpha1.IdentifierCustomerID: true,
	cdpv1alpha1.IdentifierCompanyName: true, cdpv1alpha1.IdentifierPersonName: true,
	cdpv1alpha1.IdentifierPostalCode: true, cdpv1alpha1.IdentifierLineUserID: true,
	cdpv1alpha1.IdentifierDeviceToken: true, cdpv1alpha1.IdentifierCustom: true,
}

var segmentNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

func (p *parser) eventTest(e *cdpv1alpha1.EventCondition, at string) (*eventTest, error) {
	if err := checkName(string(e.Type), "event type"); err != nil {
		return nil, fmt.Errorf("%s.type: %w", at, err)
	}
	t := &eventTest{eventType: string(e.Type)}
	for i := range e.Where {
		w, err := parseAttributeTest(&e.Where[i], p.opts.EventProperties, eventProperty, fmt.Sprintf("%s.where[%d]", at, i))
		if err != nil {
			return nil, err
		}
		t.where = append(t.where, w)
	}
	if e.Within != nil && e.Between != nil {
		return nil, fmt.Errorf("%s: set at most one of within and between", at)
	}
	if e.Count != nil && e.Sum != nil {
		return nil, fmt.Errorf("%s: set at most one of count and sum", at)
	}
	var err error
	if e.Within != nil {
		if t.within, err = parseDuration(*e.Within); err != nil {
			return nil, fmt.Errorf("%s.within: %w", at, err)
		}
	}
	if e.Between != nil {
		if t.between, err = p.dateRange(e.Between); err != nil {
			return nil, fmt.Errorf("%s.between: %w", at, err)
		}
	}
	if c := e.Count; c != nil {
		if !comparisonOperators[c.Operator] {
			return nil, fmt.Errorf("%s.count.operator: %w", at, badComparison(c.Operator))
		}
		if c.Value < 0 {
			return nil, fmt.Errorf("%s.count.value: %d is negative", at, c.Value)
		}
		t.count = &countTest{op: c.Operator, value: c.Value}
	}
	if s := e.Sum; s != nil {
		if err := checkDeclaredNumber(string(s.Property), p.opts.EventProperties); err != nil {
			return nil, fmt.Errorf("%s.sum.property: %w", at, err)
		}
		if !comparisonOperators[s.Operator] {
			return nil, fmt.Errorf("%s.sum.operator: %w", at, badComparison(s.Operator))
		}
		v, err := parseNumber(s.Value)
		if err != nil {
			return nil, fmt.Errorf("%s.sum.value: %w", at, err)
		}
		t.sum = &sumTest{property: string(s.Property), op: s.Operator, value: v}
	}
	if t.first, err = parseRecency(e.FirstPerformed); err != nil {
		return nil, fmt.Errorf("%s.firstPerformed: %w", at, err)
	}
	if t.last, err = parseRecency(e.LastPerformed); err != nil {
		return nil, fmt.Errorf("%s.lastPerformed: %w", at, err)
	}
	return t, nil
}

// dateRange parses between's bounds and refuses a range that ends before it starts.
func (p *parser) dateRange(r *cdpv1alpha1.DateRange) (*[2]timeOperand, error) {
	from, err := parseTimeOperand(r.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to, err := parseTimeOperand(r.To)
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	loc := p.opts.location()
	if !from.start(loc).Before(to.end(loc)) {
		return nil, fmt.Errorf("from %s is after to %s", r.From, r.To)
	}
	return &[2]timeOperand{from, to}, nil
}

func parseRecency(r *cdpv1alpha1.RelativeTime) (*recencyTest, error) {
	if r == nil {
		return nil, nil
	}
	if (r.Within == nil) == (r.NotWithin == nil) {
		return nil, fmt.Errorf("set exactly one of within and notWithin")
	}
	if r.Within != nil {
		d, err := parseDuration(*r.Within)
		if err != nil {
			return nil, fmt.Errorf("within: %w", err)
		}
		return &recencyTest{within: true, duration: d}, nil
	}
	d, err := parseDuration(*r.NotWithin)
	if err != nil {
		return nil, fmt.Errorf("notWithin: %w", err)
	}
	return &recencyTest{duration: d}, nil
}

var comparisonOperators = map[cdpv1alpha1.ComparisonOperator]bool{
	"Equals": true, "NotEquals": true, "GreaterThan": true, "GreaterThanOrEqual": true, "LessThan": true, "LessThanOrEqual": true,
}

func badComparison(op cdpv1alpha1.ComparisonOperator) error {
	return fmt.Errorf("%q is not a comparison (Equals, NotEquals, GreaterThan, GreaterThanOrEqual, LessThan or LessThanOrEqual)", clip(string(op)))
}

// defaultRFMWindow is the window of an RFM condition that sets none: a year.
const defaultRFMWindow = 365 * 24 * time.Hour

func (p *parser) rfmTest(r *cdpv1alpha1.RFMCondition, at string) (*rfmTest, error) {
	if err := checkName(string(r.EventType), "event type"); err != nil {
		return nil, fmt.Errorf("%s.eventType: %w", at, err)
	}
	t := &rfmTest{eventType: string(r.EventType), window: defaultRFMWindow}
	if r.Window != nil {
		d, err := parseDuration(*r.Window)
		if err != nil {
			return nil, fmt.Errorf("%s.window: %w", at, err)
		}
		t.window = d
	}
	if r.Recency == nil && r.Frequency == nil && r.Monetary == nil {
		return nil, fmt.Errorf("%s: test at least one of recency, frequency and monetary", at)
	}
	if r.AmountProperty != "" {
		if err := checkDeclaredNumber(string(r.AmountProperty), p.opts.EventProperties); err != nil {
			return nil, fmt.Errorf("%s.amountProperty: %w", at, err)
		}
		t.amount = string(r.AmountProperty)
	}
	if r.Monetary != nil && t.amount == "" {
		return nil, fmt.Errorf("%s.amountProperty: required to score monetary value: name the Number event property holding the amount", at)
	}
	for _, s := range []struct {
		name  string
		in    *cdpv1alpha1.ScoreRange
		score **[2]int64
	}{{"recency", r.Recency, &t.recency}, {"frequency", r.Frequency, &t.frequency}, {"monetary", r.Monetary, &t.monetary}} {
		if s.in == nil {
			continue
		}
		if s.in.Min < 1 || s.in.Max > 5 || s.in.Min > s.in.Max {
			return nil, fmt.Errorf("%s.%s: scores run from 1 to 5 and min must not be above max (min %d, max %d)", at, s.name, s.in.Min, s.in.Max)
		}
		*s.score = &[2]int64{int64(s.in.Min), int64(s.in.Max)}
	}
	return t, nil
}

func parseBucketTest(b *cdpv1alpha1.RandomBucketCondition, at string) (*bucketTest, error) {
	if b.Salt == "" || len([]rune(b.Salt)) > 63 {
		return nil, fmt.Errorf("%s.salt: must be 1 to 63 characters", at)
	}
	if b.From < 0 || b.To > 99 || b.From > b.To {
		return nil, fmt.Errorf("%s: buckets run from 0 to 99 and from must not be above to (from %d, to %d)", at, b.From, b.To)
	}
	return &bucketTest{salt: b.Salt, from: int64(b.From), to: int64(b.To)}, nil
}

// namePattern is the API's AttributeName: paths of attributes and properties, event types.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){0,3}$`)

// checkName refuses what is not an AttributeName. Paths that pass are safe to write into SQL
// text: lower-case letters, digits, underscores and dots only.
func checkName(name, what string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q is not a valid %s: use lower-case letters, digits and underscores, starting with a letter, in at most four parts joined by dots (e.g. address.city)", clip(name), what)
	}
	return nil
}

func checkDeclaredNumber(path string, declared map[string]cdpv1alpha1.AttributeType) error {
	typ, err := declaredType(path, declared, eventProperty)
	if err != nil {
		return err
	}
	if typ != cdpv1alpha1.AttributeNumber {
		return fmt.Errorf("event property %q is a %s, not a Number", path, typ)
	}
	return nil
}

// fieldKind says whose field a path names, for messages.
type fieldKind struct {
	what, declare string
}

var (
	profileAttribute = fieldKind{"profile attribute", "declare it in the attributes of a DataSource the resolution merges"}
	eventProperty    = fieldKind{"event property", "declare it in the properties of an Events DataSource"}
)

func declaredType(path string, declared map[string]cdpv1alpha1.AttributeType, kind fieldKind) (cdpv1alpha1.AttributeType, error) {
	if err := checkName(path, kind.what+" path"); err != nil {
		return "", err
	}
	typ, ok := declared[path]
	if !ok {
		return "", fmt.Errorf("%s %q is not declared: %s, or correct the path", kind.what, path, kind.declare)
	}
	return typ, nil
}

// clip shortens what a rule wrote before an error repeats it.
func clip(s string) string {
	const max = 80
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// parseNumber reads a number written in a rule.
func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > maxFinite || f < -maxFinite {
		return 0, fmt.Errorf("%q is not a number (write it like 10000 or -2.5)", clip(s))
	}
	return f, nil
}

const maxFinite = 1.7976931348623157e308

// parseDuration reads a Duration: a whole number of minutes, hours, days (24 hours) or weeks.
func parseDuration(d cdpv1alpha1.Duration) (time.Duration, error) {
	return d.Parse()
}

// parseTimeOperand reads a date (2026-01-31) or a time (RFC 3339) written in a rule.
func parseTimeOperand(s string) (timeOperand, error) {
	var op timeOperand
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		op = timeOperand{at: t, dateOnly: true}
	} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		op = timeOperand{at: t}
	} else {
		return op, fmt.Errorf("%q is not a date or a time: write 2026-01-31 or 2026-01-31T09:00:00+09:00", clip(s))
	}
	// Bounds are written as text with four-digit years, a day beyond the date included.
	if y := op.at.Year(); y < 2 || y > 9998 {
		return op, fmt.Errorf("%q is out of range: years run from 0002 to 9998", s)
	}
	return op, nil
}

// start is the first instant a time operand stands for: the instant written, or the start of the
// date in loc.
func (o timeOperand) start(loc *time.Location) time.Time {
	if !o.dateOnly {
		return o.at
	}
	y, m, d := o.at.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// end is the first instant after the operand: the next nanosecond, or the start of the next day
// in loc.
func (o timeOperand) end(loc *time.Location) time.Time {
	if !o.dateOnly {
		return o.at.Add(time.Nanosecond)
	}
	y, m, d := o.at.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}
