package store

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeTag is the key of the one-key JSON object that carries a time.Time inside an attribute or
// property map. JSON has no time type; a tagged object keeps the type across a round trip, where a
// bare string would come back as a string.
const timeTag = "$time"

// jsonTimeLayout always writes nine fraction digits in UTC, so that stored times compare correctly
// as strings (RFC 3339 with trimmed zeros does not: "05Z" sorts after "05.5Z").
const jsonTimeLayout = "2006-01-02T15:04:05.000000000Z"

// columnTime is how precise a time kept in a column is: PostgreSQL's timestamptz holds
// microseconds, and both backends must return the same value.
const columnTime = time.Microsecond

// storedTime is t as a column keeps it: UTC, microseconds.
func storedTime(t time.Time) time.Time { return t.UTC().Truncate(columnTime) }

// encodeIdentifiers writes identifiers as a JSON object with sorted keys, so that equal maps give
// equal text and so equal content hashes.
func encodeIdentifiers(buf []byte, ids map[string][]string) ([]byte, error) {
	buf = append(buf, '{')
	var err error
	var scratch [16]string
	for i, k := range sortedKeys(scratch[:0], ids) {
		if i > 0 {
			buf = append(buf, ',')
		}
		if buf, err = appendJSONText(buf, k); err != nil {
			return nil, fmt.Errorf("identifier type %q: %w", k, err)
		}
		buf = append(buf, ':', '[')
		for j, v := range ids[k] {
			if j > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendJSONText(buf, v); err != nil {
				return nil, fmt.Errorf("identifier %s: %w", k, err)
			}
		}
		buf = append(buf, ']')
	}
	return append(buf, '}'), nil
}

// encodeValues writes an attribute or property map as a JSON object with sorted keys. A
// time.Time becomes {"$time": "<UTC, nanoseconds>"}; numbers of any Go type become JSON numbers
// (and come back as float64); NaN and infinities are refused because JSON cannot carry them.
func encodeValues(buf []byte, values map[string]any) ([]byte, error) {
	buf = append(buf, '{')
	var scratch [16]entry
	for i, e := range sortedEntries(scratch[:0], values) {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendJSONText(buf, e.key); err != nil {
			return nil, fmt.Errorf("key %q: %w", e.key, err)
		}
		buf = append(buf, ':')
		if buf, err = appendJSONValue(buf, e.value); err != nil {
			return nil, fmt.Errorf("%s: %w", e.key, err)
		}
	}
	return append(buf, '}'), nil
}

type entry struct {
	key   string
	value any
}

// sortedEntries appends the entries of m to entries, sorted by key: collecting the values with
// the keys spares a map lookup per key.
func sortedEntries(entries []entry, m map[string]any) []entry {
	for k, v := range m {
		i := len(entries)
		entries = append(entries, entry{})
		for ; i > 0 && entries[i-1].key > k; i-- {
			entries[i] = entries[i-1]
		}
		entries[i] = entry{k, v}
	}
	return entries
}

func appendJSONValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return appendJSONText(buf, v)
	case bool:
		return strconv.AppendBool(buf, v), nil
	case float64:
		return appendJSONFloat(buf, v)
	case float32:
		return appendJSONFloat(buf, float64(v))
	case int:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case uint:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(buf, v, 10), nil
	case time.Time:
		buf = append(buf, `{"`+timeTag+`":"`...)
		buf = appendUTCTime(buf, v)
		return append(buf, '"', '}'), nil
	case map[string]any:
		return encodeValues(buf, v)
	case []any:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendJSONValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	default:
		// Other shapes (slices of strings, json.Number, Marshalers) are rare in rows; the standard
		// encoder handles them, with the map keys it writes sorted too.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: value of type %T cannot be stored: %w", ErrInvalidRow, v, err)
		}
		return append(buf, b...), nil
	}
}

// appendUTCTime writes t in jsonTimeLayout. It does by hand what AppendFormat does with a layout
// to parse: a record can hold several times, and this runs for every record of a sync.
func appendUTCTime(buf []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(buf, jsonTimeLayout)
	}
	buf = appendDigits(buf, year, 4)
	buf = append(buf, '-')
	buf = appendDigits(buf, int(month), 2)
	buf = append(buf, '-')
	buf = appendDigits(buf, day, 2)
	buf = append(buf, 'T')
	buf = appendDigits(buf, hour, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, minute, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, second, 2)
	buf = append(buf, '.')
	buf = appendDigits(buf, t.Nanosecond(), 9)
	return append(buf, 'Z')
}

// appendDigits writes n, which is not negative, with width digits.
func appendDigits(buf []byte, n, width int) []byte {
	start := len(buf)
	for range width {
		buf = append(buf, '0')
	}
	for i := len(buf) - 1; i >= start && n > 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return buf
}

func appendJSONFloat(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: number %v cannot be stored", ErrInvalidRow, f)
	}
	// The same format as encoding/json, so that what PostgreSQL re-renders stays comparable.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// Like encoding/json: 1e-07 becomes 1e-7.
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONText quotes s as JSON, refusing NUL characters: PostgreSQL's jsonb cannot hold
// \u0000, and both backends must accept the same rows.
func appendJSONText(buf []byte, s string) ([]byte, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("%w: text contains a NUL character", ErrInvalidRow)
	}
	return appendJSONString(buf, s), nil
}

// appendJSONString quotes s as JSON. Invalid UTF-8 becomes U+FFFD, as encoding/json does, because
// PostgreSQL refuses invalid text and both backends must keep the same value.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// sortedKeys appends the keys of m to keys, sorted. Rows have a handful of keys: an insertion sort
// into a buffer on the caller's stack costs less than allocating and sorting a slice.
func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		i := len(keys)
		keys = append(keys, k)
		for ; i > 0 && keys[i-1] > k; i-- {
			keys[i] = keys[i-1]
		}
		keys[i] = k
	}
	return keys
}

// contentHash identifies a record's content, so that a snapshot that loads the same record again
// can leave it untouched. Sixteen bytes of SHA-256 make a collision (a change that goes unseen)
// practically impossible.
func contentHash(identifiers, attributes []byte) [16]byte {
	h := sha256.New()
	h.Write(identifiers)
	h.Write([]byte{0})
	h.Write(attributes)
	var sum [sha256.Size]byte
	var out [16]byte
	copy(out[:], h.Sum(sum[:0]))
	return out
}

func decodeIdentifiers(data []byte) (map[string][]string, error) {
	if ids, ok := scanIdentifiers(data); ok {
		return ids, nil
	}
	ids := map[string][]string{}
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil, fmt.Errorf("decode identifiers: %w", err)
	}
	return ids, nil
}

// decodeValues reads what encodeValues wrote, turning tagged times back into time.Time.
func decodeValues(data []byte) (map[string]any, error) {
	if values, ok := scanValues(data); ok {
		return values, nil
	}
	values := map[string]any{}
	if err := json.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("decode values: %w", err)
	}
	for k, v := range values {
		values[k] = untagTimes(v)
	}
	return values, nil
}

func untagTimes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v[timeTag].(string); ok && len(v) == 1 {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC()
			}
		}
		for k, e := range v {
			v[k] = untagTimes(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = untagTimes(e)
		}
		return v
	default:
		return v
	}
}

// nullTime reads a time column from either backend: SQLite keeps microseconds since the Unix
// epoch in an INTEGER, PostgreSQL a timestamptz.
type nullTime struct {
	Time  time.Time
	Valid bool
}

func (n *nullTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n = nullTime{}
	case int64:
		*n = nullTime{Time: time.UnixMicro(v).UTC(), Valid: true}
	case time.Time:
		*n = nullTime{Time: v.UTC(), Valid: true}
	default:
		return fmt.Errorf("scan %T into a time", src)
	}
	return nil
}

func (n nullTime) ptr() *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time
	return &t
}

// jsonText reads a JSON column from either backend (TEXT in SQLite, jsonb in PostgreSQL) without
// a copy per driver conversion.
type jsonText []byte

func (j *jsonText) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*j = append((*j)[:0], v...)
	case []byte:
		*j = append((*j)[:0], v...)
	default:
		return fmt.Errorf("scan %T into JSON", src)
	}
	return nil
}

// diagnosticText makes text that only informs a person (a quarantined row, a reason) storable in
// both backends: PostgreSQL refuses invalid UTF-8 and NUL characters, so they become U+FFFD. It
// keeps at most max bytes, never splitting a character.
func diagnosticText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// maxKeyBytes bounds record keys, event IDs and the other texts the store indexes: PostgreSQL
// cannot index a B-tree entry much beyond 2.7 kB.
const maxKeyBytes = 1024

// checkKey tells why a text cannot be an indexed key, or returns nil.
func checkKey(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidRow, what)
	case len(s) > maxKeyBytes:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidRow, what, maxKeyBytes)
	}
	return checkText(what, s)
}

// checkText refuses text PostgreSQL cannot store, so that both backends accept the same rows.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidRow, what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL character", ErrInvalidRow, what)
	}
	return nil
}
