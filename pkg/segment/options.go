package segment

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Dialect is the SQL dialect a rule compiles to.
type Dialect int

const (
	// SQLite is modernc.org/sqlite: JSON as TEXT, times as INTEGER microseconds, ?N parameters.
	SQLite Dialect = iota + 1
	// PostgreSQL is PostgreSQL 15 or later: jsonb, timestamptz, $N parameters.
	PostgreSQL
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "SQLite"
	case PostgreSQL:
		return "PostgreSQL"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Options are what a rule is evaluated against: which profiles, at what time, and which fields
// exist.
type Options struct {
	// Dialect is the SQL dialect of the compiled query; Evaluate ignores it.
	Dialect Dialect
	// Namespace and Resolution select the profiles; Slot is the published generation modulo 2.
	Namespace, Resolution string
	Slot                  int64
	// Now is the evaluation's clock. Relative windows end at it, are computed in Go and bound
	// as parameters, so that the database's own clock plays no part; events that occurred after
	// Now are not seen at all.
	Now time.Time
	// Location is where calendar dates are read: a date written in a rule (2026-01-31) is that
	// day in Location, and anniversaries and "this month" are Location's. Nil means UTC.
	Location *time.Location
	// Attributes are the declared profile attributes by path, and EventProperties the declared
	// event properties. A rule reading anything undeclared is refused.
	Attributes      map[string]cdpv1alpha1.AttributeType
	EventProperties map[string]cdpv1alpha1.AttributeType
}

// location returns Location, or UTC when it is not set.
func (o Options) location() *time.Location {
	if o.Location == nil {
		return time.UTC
	}
	return o.Location
}

// check tells what is missing from the options of an evaluation.
func (o Options) check() error {
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, errors.New("the namespace is empty"))
	}
	if o.Resolution == "" {
		errs = append(errs, errors.New("the resolution is empty"))
	}
	if o.Slot != 0 && o.Slot != 1 {
		errs = append(errs, fmt.Errorf("slot %d is not 0 or 1 (the published generation modulo 2)", o.Slot))
	}
	if o.Now.IsZero() {
		errs = append(errs, errors.New("the evaluation time (Now) is not set"))
	}
	for _, declared := range []struct {
		what   string
		fields map[string]cdpv1alpha1.AttributeType
	}{{"attribute", o.Attributes}, {"event property", o.EventProperties}} {
		for _, path := range slices.Sorted(maps.Keys(declared.fields)) {
			if typ := declared.fields[path]; !attributeTypes[typ] {
				errs = append(errs, fmt.Errorf("%s %q is declared with unknown type %q", declared.what, path, typ))
			}
		}
	}
	return errors.Join(errs...)
}

var attributeTypes = map[cdpv1alpha1.AttributeType]bool{
	cdpv1alpha1.AttributeString: true, cdpv1alpha1.AttributeNumber: true, cdpv1alpha1.AttributeBoolean: true,
	cdpv1alpha1.AttributeDate: true, cdpv1alpha1.AttributeTimestamp: true,
}
