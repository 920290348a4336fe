package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCSVReader checks that the CSV reader never panics and always ends, that row numbers
// strictly increase, that every result is a row or a *RowError, and that wherever encoding/csv
// reads the input without an error, the reader returns the same records on the same lines.
func FuzzCSVReader(f *testing.F) {
	seeds := []string{
		"id,name\n1,Aiko\n2,Ben\n",
		"id,name\r\n1,\"a\r\nb\"\r\n2,\"say \"\"hi\"\"\"\r\n",
		"a,b,c\n1,2\n3,4,5,6\n\n7,8,9",
		"a,b\n1,x\"y\n2,\"z\"w\n3,\"open\n4,5\n",
		"\xef\xbb\xbfa;b\n1;2\n",
		"a\tb\n\"\t\"\t\"\"\"\"\n",
		"id,name\n1,\xff\xfe\n2,ok\n",
		"id," + sjisKaishamei + "\n1," + sjisKabushikiGaisha + sjisKakkoKabu + "\n2," + sjisGaiji + "\n",
		"a,a\n",
		"",
		"\"",
		"a\n\"\"\"\n",
		"a,b\n\"x\"\r,y\r\n1,2\r",
	}
	for _, s := range seeds {
		f.Add([]byte(s), byte(','), false, false)
	}
	f.Add([]byte("a;b\n1;2\n\"x;\";y\n"), byte(';'), true, false)
	f.Add([]byte("a\tb\n 1 \t\u3000x\u3000\n"), byte('\t'), true, false)
	f.Add([]byte("id|"+sjisKaishamei+"\n1|"+sjisZenkakuMinus+"\n2|\x81\n"), byte('|'), false, true)

	f.Fuzz(func(t *testing.T, data []byte, delim byte, trim, shiftJIS bool) {
		format := Format{Type: FormatCSV, Delimiter: rune(delim), TrimSpace: trim}
		if shiftJIS {
			format.Encoding = EncodingShiftJIS
		}
		if format.validateText() != nil || delim >= utf8.RuneSelf {
			return
		}
		rr, err := NewReader(bytes.NewReader(data), format)
		if err != nil {
			return
		}
		defer func() { _ = rr.Close() }()
		columns := rr.(interface{ Columns() []string }).Columns()
		// Every call to Next reads at least one line, so there can be no more results than lines.
		maxResults := bytes.Count(data, []byte("\n")) + 1
		var got [][]string
		var lines []int64
		last := int64(0)
		for {
			row, err := rr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var rowErr *RowError
			var number int64
			switch {
			case errors.As(err, &rowErr):
				number = rowErr.Row
				if rowErr.Reason == "" || !utf8.ValidString(rowErr.Raw) {
					t.Fatalf("row error without a reason or with invalid UTF-8: %+v", rowErr)
				}
				got = append(got, nil)
			case err != nil:
				t.Fatalf("Next: %v (only row errors can come from a bytes.Reader)", err)
			default:
				number = row.Number
				if len(row.Fields) != len(columns) {
					t.Fatalf("row %d has %d fields, the header %d", row.Number, len(row.Fields), len(columns))
				}
				record := make([]string, len(columns))
				for i, c := range columns {
					s, ok := row.Fields[c].(string)
					if !ok || !utf8.ValidString(s) {
						t.Fatalf("row %d: field %q is %#v", row.Number, c, row.Fields[c])
					}
					record[i] = s
				}
				got = append(got, record)
			}
			if number <= last {
				t.Fatalf("row number %d after %d", number, last)
			}
			last = number
			lines = append(lines, number)
			if len(got) > maxResults {
				t.Fatalf("more results (%d) than lines (%d)", len(got), maxResults)
			}
		}
		if !shiftJIS && !trim {
			compareWithEncodingCSV(t, data, rune(delim), columns, got, lines)
		}
	})
}

// compareWithEncodingCSV checks the reader's records against encoding/csv's when encoding/csv
// reads all of data without an error.
func compareWithEncodingCSV(t *testing.T, data []byte, delim rune, columns []string, got [][]string, lines []int64) {
	if bytes.HasPrefix(data, formatUTF8BOM) || !utf8.Valid(data) {
		return
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	var want [][]string
	var wantLines []int64
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return
		}
		line, _ := cr.FieldPos(0)
		want = append(want, record)
		wantLines = append(wantLines, int64(line))
	}
	if len(want) == 0 {
		return
	}
	for i, name := range want[0] {
		if strings.TrimSpace(name) != columns[i] {
			t.Fatalf("header %q, encoding/csv reads %q", columns, want[0])
		}
	}
	want, wantLines = want[1:], wantLines[1:]
	for i, record := range want {
		if len(record) != len(columns) {
			want[i] = nil // a row error: wrong number of fields
		}
	}
	if len(got)+len(want) > 0 && (!reflect.DeepEqual(got, want) || !reflect.DeepEqual(lines, wantLines)) {
		t.Fatalf("records differ from encoding/csv's:\n got %q on lines %v\nwant %q on lines %v", got, lines, want, wantLines)
	}
}
