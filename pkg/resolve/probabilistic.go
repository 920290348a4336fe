package resolve

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/identity"
	"github.com/kizuna-dev/kizuna/pkg/match"
)

// IdentifierFieldPrefix marks a probabilistic field that is an identifier type rather than an
// attribute: identifier.Email.
const IdentifierFieldPrefix = "identifier."

// linkProbabilistic scores candidate pairs and links those the model accepts.
func (r *Result) linkProbabilistic(ctx context.Context) error {
	r.data = r.dataset(probabilisticFields(r.cfg.Probabilistic))
	m, err := match.Link(ctx, r.data, *r.cfg.Probabilistic)
	if err != nil {
		return fmt.Errorf("probabilistic matching: %w", err)
	}
	r.Match = m
	r.Stats.CandidatePairs = m.CandidatePairs
	for _, l := range m.Links {
		if r.links.union(l.A, l.B) {
			r.Stats.ProbabilisticLinks++
		}
	}
	return nil
}

// probabilisticFields lists the fields blocking rules and comparisons read, once each.
func probabilisticFields(cfg *match.Config) []string {
	var fields []string
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	for _, b := range cfg.Blocking {
		for _, f := range b.Fields {
			add(f)
		}
	}
	for _, c := range cfg.Comparisons {
		add(c.Field)
	}
	return fields
}

// dataset lays the records out column by column, as matching reads them: identifiers
// normalised, attributes rendered as text and normalised like free text.
func (r *Result) dataset(fields []string) *match.Dataset {
	d := &match.Dataset{N: len(r.Records), Fields: make(map[string][]string, len(fields))}
	for _, f := range fields {
		col := make([]string, len(r.Records))
		idType, isIdentifier := strings.CutPrefix(f, IdentifierFieldPrefix)
		for i := range r.Records {
			if isIdentifier {
				if values := r.normalizedValues(idType, int32(i)); len(values) > 0 {
					col[i] = values[0]
				}
				continue
			}
			col[i] = attributeText(r.attrs.value(int32(i), f))
		}
		d.Fields[f] = col
	}
	return d
}

// attributeText renders an attribute value for comparison; "" is null.
func attributeText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s, _ := identity.Text(x)
		return s
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		x = x.UTC()
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	default:
		s, _ := identity.Text(fmt.Sprint(x))
		return s
	}
}
