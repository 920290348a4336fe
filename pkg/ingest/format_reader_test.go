package ingest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readOutcome is one result of Next: a row, or a row error when Reason is set.
type readOutcome struct {
	Line   int64
	Fields map[string]any
	Raw    string
	Reason string
}

func (o readOutcome) String() string {
	if o.Reason != "" {
		return fmt.Sprintf("RowError{line %d: %s; raw %q}", o.Line, o.Reason, o.Raw)
	}
	return fmt.Sprintf("Row{line %d: %v; raw %q}", o.Line, o.Fields, o.Raw)
}

// readAll reads rr to the end; any error but a *RowError fails the test.
func readAll(t *testing.T, rr RowReader) []readOutcome {
	t.Helper()
	var out []readOutcome
	for range 1_000_000 {
		row, err := rr.Next()
		var rowErr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return out
		case errors.As(err, &rowErr):
			if rowErr.Reason == "" {
				t.Fatalf("row error of line %d without a reason", rowErr.Row)
			}
			out = append(out, readOutcome{Line: rowErr.Row, Raw: rowErr.Raw, Reason: rowErr.Reason})
		case err != nil:
			t.Fatalf("Next after %d results: %v", len(out), err)
		default:
			out = append(out, readOutcome{Line: row.Number, Fields: row.Fields, Raw: row.Raw})
		}
	}
	t.Fatal("the reader did not reach io.EOF")
	return nil
}

// checkOutcomes compares results with wants. A want's Reason is a part of the reason expected;
// an empty want.Raw is not checked.
func checkOutcomes(t *testing.T, got, want []readOutcome) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("result %d: missing, want %v", i, want[i])
		case i >= len(want):
			t.Errorf("result %d: unexpected %v", i, got[i])
		case got[i].Line != want[i].Line,
			(want[i].Reason == "") != (got[i].Reason == ""),
			!strings.Contains(got[i].Reason, want[i].Reason),
			want[i].Reason == "" && !reflect.DeepEqual(got[i].Fields, want[i].Fields),
			want[i].Raw != "" && got[i].Raw != want[i].Raw:
			t.Errorf("result %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

func writeTestFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFormatInvalid(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		want   string
	}{
		{"no type", Format{}, "unknown format type"},
		{"unknown type", Format{Type: "XML"}, "unknown format type"},
		{"parquet from a stream", Format{Type: FormatParquet}, "random access"},
		{"unknown encoding", Format{Type: FormatCSV, Encoding: "EUC-JP"}, "unknown encoding"},
		{"quote delimiter", Format{Type: FormatCSV, Delimiter: '"'}, "invalid CSV delimiter"},
		{"newline delimiter", Format{Type: FormatCSV, Delimiter: '\n'}, "invalid CSV delimiter"},
		{"surrogate delimiter", Format{Type: FormatCSV, Delimiter: 0xD800}, "invalid CSV delimiter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr, err := NewReader(strings.NewReader("a,b\n1,2\n"), tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewReader: got %v, want an error containing %q", err, tc.want)
			}
			if rr != nil {
				t.Errorf("NewReader returned a reader with its error")
			}
		})
	}
}

func TestOpenFileMissing(t *testing.T) {
	for _, typ := range []string{FormatCSV, FormatJSONLines, FormatParquet} {
		_, err := OpenFile(filepath.Join(t.TempDir(), "missing"), Format{Type: typ})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: got %v, want an error that is os.ErrNotExist", typ, err)
		}
	}
}

// TestOpenFileCloses checks that Close of a reader from OpenFile closes the file and that the
// reader is done afterwards.
func TestOpenFileCloses(t *testing.T) {
	for _, tc := range []struct{ typ, data string }{
		{FormatCSV, "a\n1\n2\n"},
		{FormatJSONLines, "{\"a\":1}\n{\"a\":2}\n"},
	} {
		rr, err := OpenFile(writeTestFile(t, "f", []byte(tc.data)), Format{Type: tc.typ})
		if err != nil {
			t.Fatal(err)
		}
		var file io.Closer
		switch r := rr.(type) {
		case *csvReader:
			file = r.closer
		case *jsonlReader:
			file = r.closer
		}
		if _, ok := file.(*os.File); !ok {
			t.Fatalf("%s: the reader does not hold the file it opened: %T", tc.typ, file)
		}
		if _, err := rr.Next(); err != nil {
			t.Fatalf("%s: Next: %v", tc.typ, err)
		}
		if err := rr.Close(); err != nil {
			t.Fatalf("%s: Close: %v", tc.typ, err)
		}
		if err := file.Close(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: the file was not closed: closing it again gave %v", tc.typ, err)
		}
		if _, err := rr.Next(); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: Next after Close: got %v, want an error", tc.typ, err)
		}
	}
}
