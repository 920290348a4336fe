package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvReader reads CSV as RFC 4180 describes it: the first line is the header, fields may be quoted
// with '"', a quote in a quoted field is doubled, and a quoted field may span lines. It is its own
// parser rather than encoding/csv so that it can keep each record's text for quarantine, give the
// line a record starts on, and resynchronise after a bad quote or an over-long record.
//
// Recovery rules, so that one bad row costs one row:
//   - a quote inside a field that does not start with one (a bare quote) is an error of that row;
//     the field still ends at the next delimiter or line end;
//   - text after a closing quote (`"a"b,`) is an error of that row; the field ends at the next
//     delimiter or line end;
//   - a record longer than MaxRowBytes is an error; reading resumes on the line after the one on
//     which the limit was crossed;
//   - a quoted field still open at the end of the file is an error of the row it started in.
type csvReader struct {
	lines    formatLineReader
	closer   io.Closer
	delim    []byte // the delimiter in UTF-8
	trim     bool
	shiftJIS bool
	header   []string

	// Buffers reused from record to record.
	raw      []byte // the text of a record with quotes, all its lines
	fieldBuf []byte // the unquoted text of its fields
	bounds   []int  // field i is src[bounds[2i]:bounds[2i+1]]
}

// csvRecord is one record as read, before it becomes a Row. Its slices are valid until the next
// read.
type csvRecord struct {
	line    int64  // the line the record starts on
	text    []byte // the record's text without its final line end
	src     []byte // the fields' text; the same as text when no field is quoted
	quoted  bool   // src is the unquoted copy, not text
	problem string // why the record cannot be read; empty when it can
}

func newCSVReader(lines formatLineReader, closer io.Closer, f Format) (*csvReader, error) {
	delim := f.Delimiter
	if delim == 0 {
		delim = ','
	}
	r := &csvReader{
		lines:    lines,
		closer:   closer,
		delim:    utf8.AppendRune(nil, delim),
		trim:     f.TrimSpace,
		shiftJIS: f.Encoding == EncodingShiftJIS,
	}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *csvReader) readHeader() error {
	rec, err := r.readRecord()
	if errors.Is(err, io.EOF) {
		return ErrEmptyFile
	}
	if err != nil {
		return fmt.Errorf("read CSV header: %w", err)
	}
	if rec.problem == "" {
		rec.problem = r.encodingProblem(rec, nil)
	}
	if rec.problem != "" {
		return fmt.Errorf("CSV header (line %d): %s", rec.line, rec.problem)
	}
	n := len(r.bounds) / 2
	header := make([]string, n)
	seen := make(map[string]int, n)
	for i := range n {
		name := strings.TrimSpace(string(rec.src[r.bounds[2*i]:r.bounds[2*i+1]]))
		if name == "" {
			return fmt.Errorf("CSV header (line %d): column %d has no name: every column needs a unique name", rec.line, i+1)
		}
		if first, dup := seen[name]; dup {
			return fmt.Errorf("CSV header (line %d): columns %d and %d are both named %q: every column needs a unique name", rec.line, first, i+1, name)
		}
		seen[name] = i + 1
		header[i] = name
	}
	r.header = header
	return nil
}

// Columns returns the header's column names in file order.
func (r *csvReader) Columns() []string { return append([]string(nil), r.header...) }

// Next returns the next row, a *RowError for a row that cannot be read, or io.EOF.
func (r *csvReader) Next() (*Row, error) {
	rec, err := r.readRecord()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read CSV after line %d: %w", r.lines.line, err)
	}
	problem := rec.problem
	if problem == "" {
		problem = r.encodingProblem(rec, r.header)
	}
	if problem == "" && len(r.bounds)/2 != len(r.header) {
		problem = fmt.Sprintf("wrong number of fields: %d, the header has %d", len(r.bounds)/2, len(r.header))
	}
	if problem != "" {
		return nil, &RowError{Row: rec.line, Reason: problem, Raw: strings.ToValidUTF8(string(rec.text), "\uFFFD")}
	}

	// One string holds every field: one allocation per row instead of one per field.
	all := string(rec.src)
	raw := all
	if rec.quoted {
		raw = string(rec.text)
	}
	fields := make(map[string]any, len(r.header))
	for i, name := range r.header {
		v := all[r.bounds[2*i]:r.bounds[2*i+1]]
		if r.trim {
			v = strings.TrimSpace(v)
		}
		fields[name] = v
	}
	return &Row{Number: rec.line, Fields: fields, Raw: raw}, nil
}

// Close releases the reader and closes the file that OpenFile opened.
func (r *csvReader) Close() error {
	r.lines.close()
	r.raw, r.fieldBuf, r.bounds = nil, nil, nil
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c.Close()
	}
	return nil
}

// readRecord reads the next record, skipping blank lines, and leaves its field bounds in
// r.bounds. It returns io.EOF after the last record and other errors when reading cannot go on.
func (r *csvReader) readRecord() (csvRecord, error) {
	for {
		line, tooLong, err := r.lines.next(MaxRowBytes)
		if err != nil {
			return csvRecord{}, err
		}
		text := formatTrimLineEnd(line)
		if tooLong {
			return csvRecord{line: r.lines.line, text: text, problem: csvTooLong}, nil
		}
		if len(text) == 0 {
			continue
		}
		if bytes.IndexByte(text, '"') >= 0 {
			return r.readQuoted(line)
		}
		// The common case: no quotes, so the fields are the text between delimiters.
		r.bounds = r.bounds[:0]
		for pos := 0; ; {
			i := r.indexDelim(text[pos:])
			if i < 0 {
				r.bounds = append(r.bounds, pos, len(text))
				break
			}
			r.bounds = append(r.bounds, pos, pos+i)
			pos += i + len(r.delim)
		}
		return csvRecord{line: r.lines.line, text: text, src: text}, nil
	}
}

var csvTooLong = fmt.Sprintf("row is longer than %d bytes (a quote that is never closed makes a row run on)", MaxRowBytes)

// readQuoted parses a record whose first line, first, has a quote in it, reading more lines while
// a quoted field is open.
func (r *csvReader) readQuoted(first []byte) (csvRecord, error) {
	start := r.lines.line
	r.raw = append(r.raw[:0], first...)
	raw := r.raw
	buf := r.fieldBuf[:0]
	b := r.bounds[:0]
	defer func() { r.raw, r.fieldBuf, r.bounds = raw, buf, b }()

	lineEnd := len(formatTrimLineEnd(raw)) // end of the text of raw's last line
	problem := ""
	column := 1
	pos := 0
	for {
		fieldStart := len(buf)
		endOfField := false // set when the delimiter after the field has been consumed
		if pos < lineEnd && raw[pos] == '"' {
			pos++
			for !endOfField {
				i := bytes.IndexByte(raw[pos:], '"')
				if i < 0 {
					// The quoted field goes on on the next line; a "\r\n" in it reads as "\n".
					rest := raw[pos:]
					if bytes.HasSuffix(rest, []byte("\r\n")) {
						buf = append(buf, rest[:len(rest)-2]...)
						buf = append(buf, '\n')
					} else {
						buf = append(buf, rest...)
					}
					line, tooLong, err := r.lines.next(MaxRowBytes)
					if errors.Is(err, io.EOF) {
						if problem == "" {
							problem = fmt.Sprintf("column %d: the quoted field is not closed before the end of the file", column)
						}
						b = append(b, fieldStart, len(buf))
						return csvRecord{line: start, text: formatTrimLineEnd(raw), src: buf, quoted: true, problem: problem}, nil
					}
					if err != nil {
						return csvRecord{}, err
					}
					if tooLong || len(raw)+len(line) > MaxRowBytes {
						b = append(b, fieldStart, len(buf))
						return csvRecord{line: start, text: formatTrimLineEnd(raw), src: buf, quoted: true, problem: csvTooLong}, nil
					}
					pos = len(raw)
					raw = append(raw, line...)
					lineEnd = len(raw) - (len(line) - len(formatTrimLineEnd(line)))
					continue
				}
				buf = append(buf, raw[pos:pos+i]...)
				pos += i + 1
				switch {
				case pos < lineEnd && raw[pos] == '"': // a doubled quote
					buf = append(buf, '"')
					pos++
				case pos == lineEnd: // the closing quote ends the record
					b = append(b, fieldStart, len(buf))
					return csvRecord{line: start, text: raw[:lineEnd], src: buf, quoted: true, problem: problem}, nil
				case bytes.HasPrefix(raw[pos:lineEnd], r.delim):
					pos += len(r.delim)
					endOfField = true
				default:
					if problem == "" {
						problem = fmt.Sprintf("column %d: text after the closing quote; double a quote inside a quoted field (\"\")", column)
					}
					// Take the rest of the field as it stands.
					j := r.indexDelim(raw[pos:lineEnd])
					if j < 0 {
						buf = append(buf, raw[pos:lineEnd]...)
						b = append(b, fieldStart, len(buf))
						return csvRecord{line: start, text: raw[:lineEnd], src: buf, quoted: true, problem: problem}, nil
					}
					buf = append(buf, raw[pos:pos+j]...)
					pos += j + len(r.delim)
					endOfField = true
				}
			}
			b = append(b, fieldStart, len(buf))
			column++
			continue
		}
		j := r.indexDelim(raw[pos:lineEnd])
		end := lineEnd
		if j >= 0 {
			end = pos + j
		}
		field := raw[pos:end]
		if problem == "" && bytes.IndexByte(field, '"') >= 0 {
			problem = fmt.Sprintf("column %d: a quote (\") in a field that does not start with one; quote the whole field and double the quote (\"\")", column)
		}
		buf = append(buf, field...)
		b = append(b, fieldStart, len(buf))
		if j < 0 {
			return csvRecord{line: start, text: raw[:lineEnd], src: buf, quoted: true, problem: problem}, nil
		}
		pos = end + len(r.delim)
		column++
	}
}

func (r *csvReader) indexDelim(s []byte) int {
	if len(r.delim) == 1 {
		return bytes.IndexByte(s, r.delim[0])
	}
	return bytes.Index(s, r.delim)
}

// csvReplacement is U+FFFD in UTF-8: what the Shift_JIS decoder writes for bytes it cannot decode.
var csvReplacement = []byte("\uFFFD")

// encodingProblem says which field of rec is not valid text, or returns "".
func (r *csvReader) encodingProblem(rec csvRecord, header []string) string {
	bad := func(field []byte) bool { return !utf8.Valid(field) }
	if r.shiftJIS {
		if !bytes.Contains(rec.text, csvReplacement) {
			return ""
		}
		bad = func(field []byte) bool { return bytes.Contains(field, csvReplacement) }
	} else if utf8.Valid(rec.text) {
		return ""
	}
	where := ""
	for i := 0; i < len(r.bounds)/2; i++ {
		if bad(rec.src[r.bounds[2*i]:r.bounds[2*i+1]]) {
			where = fmt.Sprintf(" in column %d", i+1)
			if i < len(header) {
				where = fmt.Sprintf(" in column %d (%q)", i+1, header[i])
			}
			break
		}
	}
	if r.shiftJIS {
		return "bytes that are not Shift_JIS (CP932)" + where + "; user-defined characters (gaiji) cannot be read"
	}
	return "invalid UTF-8" + where + "; if Japanese Excel saved the file as CSV, set the encoding to ShiftJIS"
}
