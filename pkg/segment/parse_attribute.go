package segment

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// operand is what an operator takes besides the attribute.
type operand int

const (
	noOperand operand = iota
	oneValue
	valueList
	twoValues
	aDuration
)

// operators lists each operator's operand and the attribute types it applies to.
var operators = map[cdpv1alpha1.Operator]struct {
	operand operand
	types   []cdpv1alpha1.AttributeType
}{
	cdpv1alpha1.OpEquals:               {oneValue, allTypes},
	cdpv1alpha1.OpNotEquals:            {oneValue, allTypes},
	cdpv1alpha1.OpIn:                   {valueList, allTypes},
	cdpv1alpha1.OpNotIn:                {valueList, allTypes},
	cdpv1alpha1.OpExists:               {noOperand, allTypes},
	cdpv1alpha1.OpNotExists:            {noOperand, allTypes},
	cdpv1alpha1.OpContains:             {oneValue, textTypes},
	cdpv1alpha1.OpPrefix:               {oneValue, textTypes},
	cdpv1alpha1.OpGreaterThan:          {oneValue, orderedTypes},
	cdpv1alpha1.OpGreaterThanOrEqual:   {oneValue, orderedTypes},
	cdpv1alpha1.OpLessThan:             {oneValue, orderedTypes},
	cdpv1alpha1.OpLessThanOrEqual:      {oneValue, orderedTypes},
	cdpv1alpha1.OpBetween:              {twoValues, orderedTypes},
	cdpv1alpha1.OpWithinLast:           {aDuration, timeTypes},
	cdpv1alpha1.OpNotWithinLast:        {aDuration, timeTypes},
	cdpv1alpha1.OpAnniversaryWithin:    {aDuration, timeTypes},
	cdpv1alpha1.OpAnniversaryThisMonth: {noOperand, timeTypes},
}

var (
	allTypes = []cdpv1alpha1.AttributeType{cdpv1alpha1.AttributeString, cdpv1alpha1.AttributeNumber,
		cdpv1alpha1.AttributeBoolean, cdpv1alpha1.AttributeDate, cdpv1alpha1.AttributeTimestamp}
	textTypes    = []cdpv1alpha1.AttributeType{cdpv1alpha1.AttributeString}
	orderedTypes = []cdpv1alpha1.AttributeType{cdpv1alpha1.AttributeString, cdpv1alpha1.AttributeNumber,
		cdpv1alpha1.AttributeDate, cdpv1alpha1.AttributeTimestamp}
	timeTypes = []cdpv1alpha1.AttributeType{cdpv1alpha1.AttributeDate, cdpv1alpha1.AttributeTimestamp}
)

// maxValueLength is the API's limit on one value, in characters.
const maxValueLength = 1024

// parseAttributeTest validates a comparison of a declared field and parses its operands for
// the field's type.
func parseAttributeTest(a *cdpv1alpha1.AttributeCondition, declared map[string]cdpv1alpha1.AttributeType, kind fieldKind, at string) (*attributeTest, error) {
	typ, err := declaredType(string(a.Path), declared, kind)
	if err != nil {
		return nil, fmt.Errorf("%s.path: %w", at, err)
	}
	spec, ok := operators[a.Operator]
	if !ok {
		return nil, fmt.Errorf("%s.operator: %q is not an operator", at, clip(string(a.Operator)))
	}
	if !slices.Contains(spec.types, typ) {
		return nil, fmt.Errorf("%s.operator: %s does not apply to %s %q, a %s (it applies to %s)", at, a.Operator, kind.what, a.Path, typ, typeList(spec.types))
	}
	t := &attributeTest{path: string(a.Path), typ: typ, op: a.Operator}
	var values []string
	switch spec.operand {
	case noOperand:
		if a.Value != nil || a.Values != nil || a.Duration != nil {
			return nil, fmt.Errorf("%s: %s takes no value, values or duration", at, a.Operator)
		}
	case oneValue:
		if a.Value == nil || a.Values != nil || a.Duration != nil {
			return nil, fmt.Errorf("%s: %s takes one value (value), not values or a duration", at, a.Operator)
		}
		values = []string{*a.Value}
	case valueList, twoValues:
		if a.Values == nil || a.Value != nil || a.Duration != nil {
			return nil, fmt.Errorf("%s: %s takes values (a list), not value or a duration", at, a.Operator)
		}
		if len(a.Values) == 0 || len(a.Values) > 1000 {
			return nil, fmt.Errorf("%s.values: %s takes 1 to 1000 values", at, a.Operator)
		}
		if spec.operand == twoValues && len(a.Values) != 2 {
			return nil, fmt.Errorf("%s.values: Between takes exactly two values, the lower and the upper bound", at)
		}
		values = a.Values
	case aDuration:
		if a.Duration == nil || a.Value != nil || a.Values != nil {
			return nil, fmt.Errorf("%s: %s takes a duration (e.g. 30d), not value or values", at, a.Operator)
		}
		if t.duration, err = parseDuration(*a.Duration); err != nil {
			return nil, fmt.Errorf("%s.duration: %w", at, err)
		}
	}
	for i, v := range values {
		if err := t.addValue(v); err != nil {
			if len(values) > 1 {
				return nil, fmt.Errorf("%s.values[%d]: %w", at, i, err)
			}
			return nil, fmt.Errorf("%s.value: %w", at, err)
		}
	}
	if spec.operand == twoValues && !t.ordered() {
		return nil, fmt.Errorf("%s.values: the lower bound %q is above the upper bound %q", at, clip(values[0]), clip(values[1]))
	}
	return t, nil
}

// addValue parses one operand for the test's type.
func (t *attributeTest) addValue(v string) error {
	if utf8.RuneCountInString(v) > maxValueLength {
		return fmt.Errorf("a value holds at most %d characters", maxValueLength)
	}
	switch t.typ {
	case cdpv1alpha1.AttributeNumber:
		f, err := parseNumber(v)
		if err != nil {
			return fmt.Errorf("%s is a Number: %w", t.path, err)
		}
		t.numbers = append(t.numbers, f)
	case cdpv1alpha1.AttributeBoolean:
		switch v {
		case "true", "false":
			t.bools = append(t.bools, v == "true")
		default:
			return fmt.Errorf("%s is a Boolean: write true or false, not %q", t.path, clip(v))
		}
	case cdpv1alpha1.AttributeDate, cdpv1alpha1.AttributeTimestamp:
		op, err := parseTimeOperand(v)
		if err != nil {
			return fmt.Errorf("%s is a %s: %w", t.path, t.typ, err)
		}
		t.times = append(t.times, op)
	default:
		// Both databases refuse these in text parameters; no stored text holds them.
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("the value is not valid UTF-8 text or holds a NUL character")
		}
		t.texts = append(t.texts, v)
	}
	return nil
}

// ordered tells whether Between's lower bound is not above its upper bound. Time bounds compare
// their first instants, wherever dates are read, as the API's own check does.
func (t *attributeTest) ordered() bool {
	switch {
	case t.numbers != nil:
		return t.numbers[0] <= t.numbers[1]
	case t.times != nil:
		return !t.times[0].start(time.UTC).After(t.times[1].start(time.UTC))
	}
	return t.texts[0] <= t.texts[1]
}

func typeList(types []cdpv1alpha1.AttributeType) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
