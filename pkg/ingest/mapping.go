package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Attribute types, as the API spells them.
const (
	TypeString    = "String"
	TypeNumber    = "Number"
	TypeBoolean   = "Boolean"
	TypeDate      = "Date"
	TypeTimestamp = "Timestamp"
)

// Mapping says how a source's columns become a record or an event. A worker builds it from a
// DataSource's spec.
type Mapping struct {
	// RecordKey is the column whose value identifies a record (Records sources).
	RecordKey string
	// Identifiers are the identifier columns.
	Identifiers []IdentifierColumn
	// Attributes are the typed attribute columns.
	Attributes []AttributeColumn
	// Event maps an event source's columns; nil for records.
	Event *EventColumns
}

// IdentifierColumn maps a column onto an identifier type.
type IdentifierColumn struct {
	Column string
	// Type is the API's identifier type (Email, Phone, ...), or Custom:<name> for custom ones.
	Type string
}

// AttributeColumn maps a column onto a typed attribute or event property.
type AttributeColumn struct {
	Name   string
	Column string
	Type   string
	// Layout is a Go time layout or "RFC3339"; empty tries the common layouts.
	Layout string
	// Location reads times written without an offset.
	Location *time.Location
}

// EventColumns maps the columns of an event source.
type EventColumns struct {
	// Type is every row's event type, or TypeColumn names the column holding it.
	Type       string
	TypeColumn string
	Timestamp  AttributeColumn
	// IDColumn holds a unique event ID; without it, events are identified by their content.
	IDColumn   string
	Identifier IdentifierColumn
	Properties []AttributeColumn
}

// MappingError is a row whose values do not fit the mapping: it is quarantined.
type MappingError struct{ Reason string }

func (e *MappingError) Error() string { return e.Reason }

func mappingErrorf(format string, args ...any) error {
	return &MappingError{Reason: fmt.Sprintf(format, args...)}
}

// MapRecord turns a row into a record.
func (m *Mapping) MapRecord(row *Row) (store.Record, error) {
	key := text(row.Fields[m.RecordKey])
	if key == "" {
		return store.Record{}, mappingErrorf("record key column %q is empty or missing", m.RecordKey)
	}
	attrs, err := mapAttributes(m.Attributes, row)
	if err != nil {
		return store.Record{}, err
	}
	return store.Record{Key: key, Identifiers: mapIdentifiers(m.Identifiers, row), Attributes: attrs}, nil
}

// MapEvent turns a row into an event. receivedAt is when the sync read it.
func (m *Mapping) MapEvent(row *Row, receivedAt time.Time) (store.Event, error) {
	ev := m.Event
	eventType := ev.Type
	if ev.TypeColumn != "" {
		eventType = text(row.Fields[ev.TypeColumn])
		if eventType == "" {
			return store.Event{}, mappingErrorf("event type column %q is empty or missing", ev.TypeColumn)
		}
	}
	occurred, err := convert(ev.Timestamp, row.Fields[ev.Timestamp.Column])
	if err != nil {
		return store.Event{}, err
	}
	at, ok := occurred.(time.Time)
	if !ok {
		return store.Event{}, mappingErrorf("event timestamp column %q is empty or missing", ev.Timestamp.Column)
	}
	identifier := text(row.Fields[ev.Identifier.Column])
	if identifier == "" {
		return store.Event{}, mappingErrorf("identifier column %q is empty or missing: the event cannot be linked to a customer", ev.Identifier.Column)
	}
	props, err := mapAttributes(ev.Properties, row)
	if err != nil {
		return store.Event{}, err
	}
	e := store.Event{
		Type:            eventType,
		OccurredAt:      at.UTC(),
		IdentifierType:  ev.Identifier.Type,
		IdentifierValue: identifier,
		Properties:      props,
		ReceivedAt:      receivedAt.UTC(),
	}
	if ev.IDColumn != "" {
		e.ID = text(row.Fields[ev.IDColumn])
		if e.ID == "" {
			return store.Event{}, mappingErrorf("event ID column %q is empty or missing", ev.IDColumn)
		}
	} else {
		e.ID = contentID(e)
	}
	return e, nil
}

// contentID identifies an event without an ID by what it says, so that reading the same event
// twice stores it once.
func contentID(e store.Event) string {
	props, _ := json.Marshal(e.Properties) // maps marshal with sorted keys
	h := sha256.New()
	for _, part := range []string{e.Type, e.OccurredAt.Format(time.RFC3339Nano), e.IdentifierType, e.IdentifierValue, string(props)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

func mapIdentifiers(cols []IdentifierColumn, row *Row) map[string][]string {
	var ids map[string][]string
	for _, c := range cols {
		v := text(row.Fields[c.Column])
		if v == "" {
			continue
		}
		if ids == nil {
			ids = map[string][]string{}
		}
		ids[c.Type] = append(ids[c.Type], v)
	}
	return ids
}

func mapAttributes(cols []AttributeColumn, row *Row) (map[string]any, error) {
	var attrs map[string]any
	for _, c := range cols {
		v, err := convert(c, row.Fields[c.Column])
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		if attrs == nil {
			attrs = make(map[string]any, len(cols))
		}
		attrs[c.Name] = v
	}
	return attrs, nil
}

// text renders a field as trimmed text; nil and missing fields are "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return strings.TrimSpace(fmt.Sprint(x))
	}
}

// convert reads a value as the column's type. An empty value is nil: the attribute is absent.
func convert(c AttributeColumn, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil, nil
	}
	switch c.Type {
	case TypeNumber:
		return toNumber(c, v)
	case TypeBoolean:
		return toBool(c, v)
	case TypeDate, TypeTimestamp:
		return toTime(c, v)
	default:
		switch x := v.(type) {
		case map[string]any, []any:
			raw, err := json.Marshal(x)
			if err != nil {
				return nil, mappingErrorf("column %q: %v", c.Column, err)
			}
			return string(raw), nil
		}
		return text(v), nil
	}
}

func toNumber(c AttributeColumn, v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case json.Number:
		return parseNumber(c, x.String())
	case string:
		return parseNumber(c, x)
	}
	return nil, mappingErrorf("column %q: %v is not a number", c.Column, v)
}

// numberNoise is what spreadsheets put around numbers: thousands separators and yen signs.
var numberNoise = strings.NewReplacer(",", "", "¥", "", "￥", "", "\\", "")

// parseNumber reads numbers as Japanese spreadsheets write them too: full-width digits,
// thousands separators, a yen sign.
func parseNumber(c AttributeColumn, s string) (any, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, nil // the common case, without copying
	}
	cleaned := numberNoise.Replace(strings.TrimSpace(narrow(s)))
	f, err := strconv.ParseFloat(cleaned, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, mappingErrorf("column %q: %q is not a number", c.Column, s)
	}
	return f, nil
}

func toBool(c AttributeColumn, v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case json.Number:
		if s := x.String(); s == "0" || s == "1" {
			return s == "1", nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(narrow(x))) {
		case "true", "t", "yes", "y", "1", "on", "はい", "有":
			return true, nil
		case "false", "f", "no", "n", "0", "off", "いいえ", "無":
			return false, nil
		}
	}
	return nil, mappingErrorf("column %q: %v is not a boolean (true/false, yes/no, 1/0)", c.Column, v)
}

// commonLayouts are tried, in order, for a time column without a format.
var commonLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006/01/02 15:04:05",
	"2006/01/02 15:04",
	"2006-01-02",
	"2006/01/02",
	"2006年1月2日",
}

// dateLayouts are tried first for values as short as a date.
var dateLayouts = []string{"2006-01-02", "2006/01/02", "2006年1月2日", "2006/1/2", "2006-1-2"}

// narrow folds full-width letters and digits to ASCII; ASCII text is returned as it is, without
// a copy.
func narrow(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return width.Narrow.String(s)
		}
	}
	return s
}

func toTime(c AttributeColumn, v any) (any, error) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		s := strings.TrimSpace(narrow(x))
		layouts := commonLayouts
		if len(s) <= len("2006-01-02") {
			layouts = dateLayouts
		}
		if c.Layout != "" {
			layouts = []string{c.Layout}
			if c.Layout == "RFC3339" {
				layouts = []string{time.RFC3339Nano}
			}
		}
		parsed := false
		for _, layout := range layouts {
			if p, err := time.ParseInLocation(layout, s, loc); err == nil {
				t, parsed = p, true
				break
			}
		}
		if !parsed {
			want := "a date or time such as 2026-01-31 or 2026-01-31T09:00:00+09:00"
			if c.Layout != "" {
				want = "the layout " + c.Layout
			}
			return nil, mappingErrorf("column %q: %q does not match %s", c.Column, x, want)
		}
	default:
		return nil, mappingErrorf("column %q: %v is not a date or time", c.Column, v)
	}
	if c.Type == TypeDate {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	return t.UTC(), nil
}
