package store

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// A hand-written reader for the JSON shapes the store writes: identifier maps (an object of
// arrays of strings) and attribute maps (an object of strings, numbers, booleans, nulls and
// tagged times). Reading ten million records, encoding/json's reflection was most of the time;
// this reads those shapes several times faster. Anything else it meets (an escape sequence,
// a nested object, an array among attributes) makes it give up, and encoding/json reads the
// document instead, so the two always agree.

// jsonScanner walks a JSON document. The strings it returns share one copy of the document
// (one allocation per document instead of one per string) unless clone is set: a caller that
// keeps only some of them, as identity resolution keeps normalised identifiers, would otherwise
// keep the whole document alive through each.
type jsonScanner struct {
	data  string
	pos   int
	clone bool
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// consume skips white space and the byte c, reporting whether it was there.
func (s *jsonScanner) consume(c byte) bool {
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// simpleString reads a string without escape sequences; false for anything else.
func (s *jsonScanner) simpleString() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.pos
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			v := s.data[start:s.pos]
			s.pos++
			if !utf8.ValidString(v) {
				return "", false // encoding/json replaces invalid bytes: let it
			}
			if s.clone {
				v = strings.Clone(v)
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		}
		s.pos++
	}
	return "", false
}

// object calls member for every member of an object, positioned at its value.
func (s *jsonScanner) object(member func(key string) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		key, ok := s.simpleString()
		if !ok || !s.consume(':') || !member(key) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.skipSpace()
	return s.pos == len(s.data)
}

// eachIdentifier calls fn for every value of {"Type": ["value", ...], ...}, with strings that
// share the document; false when the document is not that simple, and fn may have been called
// for some values by then (LiveRecord.EachIdentifier passes them on only after a whole read).
func eachIdentifier(data []byte, fn func(idType, value string)) bool {
	s := jsonScanner{data: unsafeString(data)}
	ok := s.object(func(key string) bool {
		if !s.consume('[') {
			return false
		}
		if s.consume(']') {
			return true
		}
		for {
			v, ok := s.simpleString()
			if !ok {
				return false
			}
			fn(key, v)
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	})
	return ok && s.end()
}

// isEmptyObject reports whether a document is {}, as records without attributes store.
func isEmptyObject(data []byte) bool {
	s := jsonScanner{data: unsafeString(data)}
	return s.consume('{') && s.consume('}') && s.end()
}

// scanIdentifiers reads {"Type": ["value", ...], ...}; false when the document is not that simple.
func scanIdentifiers(data []byte) (map[string][]string, bool) {
	// Identifier values are few and short: each gets its own string, so that keeping one keeps
	// nothing else.
	s := jsonScanner{data: unsafeString(data), clone: true}
	ids := map[string][]string{}
	ok := s.object(func(key string) bool {
		if !s.consume('[') {
			return false
		}
		values := []string{}
		if !s.consume(']') {
			for {
				v, ok := s.simpleString()
				if !ok {
					return false
				}
				values = append(values, v)
				if s.consume(',') {
					continue
				}
				if !s.consume(']') {
					return false
				}
				break
			}
		}
		ids[key] = values
		return true
	})
	return ids, ok && s.end()
}

// scanValues reads an attribute map of scalars and tagged times; false when the document holds
// anything else.
func scanValues(data []byte) (map[string]any, bool) {
	s := jsonScanner{data: string(data)}
	values := map[string]any{}
	ok := s.object(func(key string) bool {
		v, ok := s.scalar()
		values[key] = v
		return ok
	})
	return values, ok && s.end()
}

// scalar reads a string, number, boolean, null or tagged time.
func (s *jsonScanner) scalar() (any, bool) {
	switch c := s.peek(); {
	case c == '"':
		return s.simpleString()
	case c == '{':
		var t time.Time
		tagged := false
		ok := s.object(func(key string) bool {
			if key != timeTag || tagged {
				return false
			}
			text, ok := s.simpleString()
			if !ok {
				return false
			}
			parsed, err := time.Parse(time.RFC3339Nano, text)
			t, tagged = parsed.UTC(), err == nil
			return tagged
		})
		return t, ok && tagged
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []struct {
			text  string
			value any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if len(s.data)-s.pos >= len(lit.text) && s.data[s.pos:s.pos+len(lit.text)] == lit.text {
				s.pos += len(lit.text)
				return lit.value, true
			}
		}
		return nil, false
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.pos
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				s.pos++
				continue
			}
			break
		}
		f, err := strconv.ParseFloat(s.data[start:s.pos], 64)
		return f, err == nil
	}
	return nil, false
}

// unsafeString views bytes as a string without copying, for a scanner that clones every string
// it returns; data must not change while the scanner reads it.
func unsafeString(data []byte) string { return unsafe.String(unsafe.SliceData(data), len(data)) }
