package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// jsonlReader reads JSON Lines: one JSON object per line. Blank lines are skipped; an empty file
// has no rows (it is not an error, unlike CSV, which needs a header).
//
// Numbers are json.Number, not float64: customer and order IDs are often integers above 2^53,
// which float64 would round (two customers could end up with one ID), and fmt prints a float64
// such as 9012345678 as 9.012345678e+09. json.Number keeps the text as written; call its
// Float64 or Int64 methods for arithmetic. Nested objects are map[string]any, arrays []any.
type jsonlReader struct {
	lines    formatLineReader
	closer   io.Closer
	shiftJIS bool
	src      bytes.Reader
	dec      *json.Decoder
}

// jsonlSpace is the white space JSON allows between tokens.
const jsonlSpace = " \t\r\n"

// Next returns the next row, a *RowError for a line that is not a JSON object, or io.EOF.
func (r *jsonlReader) Next() (*Row, error) {
	for {
		line, tooLong, err := r.lines.next(MaxRowBytes)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("read JSON Lines after line %d: %w", r.lines.line, err)
		}
		text := formatTrimLineEnd(line)
		if tooLong {
			return nil, r.rowError(text, fmt.Sprintf("line is longer than %d bytes", MaxRowBytes))
		}
		object := bytes.Trim(text, jsonlSpace)
		if len(object) == 0 {
			continue
		}
		if r.shiftJIS && bytes.Contains(text, csvReplacement) {
			return nil, r.rowError(text, "bytes that are not Shift_JIS (CP932); user-defined characters (gaiji) cannot be read")
		}
		// encoding/json would replace invalid UTF-8 with U+FFFD without a word.
		if !r.shiftJIS && !utf8.Valid(text) {
			return nil, r.rowError(text, "invalid UTF-8; JSON text must be UTF-8")
		}
		if object[0] != '{' {
			return nil, r.rowError(text, "not a JSON object: each line must hold one object, {...}")
		}
		fields, problem := r.decode(object)
		if problem != "" {
			return nil, r.rowError(text, problem)
		}
		return &Row{Number: r.lines.line, Fields: fields, Raw: string(text)}, nil
	}
}

func (r *jsonlReader) decode(object []byte) (map[string]any, string) {
	// One decoder reads line after line while they are valid, which saves allocating one per
	// line; after an error, whose state would stick, the next line gets a new one.
	r.src.Reset(object)
	if r.dec == nil {
		r.dec = json.NewDecoder(&r.src)
		r.dec.UseNumber()
	}
	dec := r.dec
	start := dec.InputOffset()
	fields, problem := jsonlDecodeObject(dec, start, len(object))
	if problem != "" {
		r.dec = nil
	}
	return fields, problem
}

func jsonlDecodeObject(dec *json.Decoder, start int64, size int) (map[string]any, string) {
	// Decoding into an any takes encoding/json's fast path for untyped values, which a
	// map[string]any target does not.
	var value any
	if err := dec.Decode(&value); err != nil {
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			return nil, fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset-start, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, "invalid JSON: the object is not closed at the end of the line"
		default:
			return nil, "invalid JSON: " + err.Error()
		}
	}
	if end := dec.InputOffset() - start; end != int64(size) {
		return nil, fmt.Sprintf("invalid JSON at byte %d: text after the object; each line must hold one object", end+1)
	}
	fields, ok := value.(map[string]any)
	if !ok {
		return nil, "not a JSON object: each line must hold one object, {...}"
	}
	return fields, ""
}

func (r *jsonlReader) rowError(text []byte, reason string) *RowError {
	return &RowError{Row: r.lines.line, Reason: reason, Raw: strings.ToValidUTF8(string(text), "\uFFFD")}
}

// Close releases the reader and closes the file that OpenFile opened.
func (r *jsonlReader) Close() error {
	r.lines.close()
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c.Close()
	}
	return nil
}
