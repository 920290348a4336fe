package ingest

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// Shift_JIS (CP932) bytes of the Japanese text in the tests, as Japanese Excel writes them.
const (
	sjisKabushikiGaisha = "\x8a\x94\x8e\xae\x89\xef\x8e\xd0" // 株式会社
	sjisKakkoKabu       = "\x87\x8a"                         // ㈱ (an NEC special character of CP932)
	sjisTesuto          = "\x83\x65\x83\x58\x83\x67"         // テスト
	sjisZenkaku123      = "\x82\x50\x82\x51\x82\x52"         // １２３
	sjisHyo             = "\x95\x5c"                         // 表: its second byte is '\'
	sjisKaishamei       = "\x89\xef\x8e\xd0\x96\xbc"         // 会社名
	sjisDenwa           = "\x93\x64\x98\x62"                 // 電話
	sjisZenkakuMinus    = "\x81\x7c"                         // － (CP932 maps it to U+FF0D); its second byte is '|'
	sjisWaveDash        = "\x81\x60"                         // ～ (CP932 maps it to U+FF5E)
	sjisGaiji           = "\xf0\x40"                         // a user-defined character: no Unicode mapping
)

func row(line int64, raw string, kv ...string) readOutcome {
	fields := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		fields[kv[i]] = kv[i+1]
	}
	return readOutcome{Line: line, Fields: fields, Raw: raw}
}

func rowError(line int64, reason, raw string) readOutcome {
	return readOutcome{Line: line, Reason: reason, Raw: raw}
}

func TestCSVReader(t *testing.T) {
	longField := strings.Repeat("x", MaxRowBytes)
	cases := []struct {
		name   string
		format Format
		input  string
		want   []readOutcome
	}{
		{
			name:  "plain",
			input: "id,name,city\n1,Aiko,Tokyo\n2,Ben,Osaka\n",
			want: []readOutcome{
				row(2, "1,Aiko,Tokyo", "id", "1", "name", "Aiko", "city", "Tokyo"),
				row(3, "2,Ben,Osaka", "id", "2", "name", "Ben", "city", "Osaka"),
			},
		},
		{
			name:  "no newline at the end",
			input: "id,name\n1,Aiko",
			want:  []readOutcome{row(2, "1,Aiko", "id", "1", "name", "Aiko")},
		},
		{
			name:  "UTF-8 byte-order mark",
			input: "\xef\xbb\xbfid,name\n1,Aiko\n",
			want:  []readOutcome{row(2, "1,Aiko", "id", "1", "name", "Aiko")},
		},
		{
			name:  "header names trimmed",
			input: " id ,\u3000name\t\n1,Aiko\n",
			want:  []readOutcome{row(2, "1,Aiko", "id", "1", "name", "Aiko")},
		},
		{
			name:  "CRLF line ends",
			input: "id,name\r\n1,Aiko\r\n2,\"two\r\nlines\"\r\n3,Chie\r\n",
			want: []readOutcome{
				row(2, "1,Aiko", "id", "1", "name", "Aiko"),
				row(3, "2,\"two\r\nlines\"", "id", "2", "name", "two\nlines"),
				row(5, "3,Chie", "id", "3", "name", "Chie"),
			},
		},
		{
			name:  "quoting: delimiters, doubled quotes, empty fields, line breaks",
			input: "a,b,c\n\"x,y\",\"say \"\"hi\"\"\",\n\"\",,\"\"\n\"1\n2\n3\",\"\",z\n4,5,6\n",
			want: []readOutcome{
				row(2, "", "a", "x,y", "b", `say "hi"`, "c", ""),
				row(3, "", "a", "", "b", "", "c", ""),
				row(4, "\"1\n2\n3\",\"\",z", "a", "1\n2\n3", "b", "", "c", "z"),
				row(7, "4,5,6", "a", "4", "b", "5", "c", "6"),
			},
		},
		{
			name:  "blank lines are skipped and still counted",
			input: "id\n\n1\n\r\n\n2\n\n",
			want:  []readOutcome{row(3, "1", "id", "1"), row(6, "2", "id", "2")},
		},
		{
			name:  "wrong number of fields",
			input: "id,name,city\n1,Aiko,Tokyo\n2,Ben\n3,Chie,Kyoto,extra\n4,Dai,Nara\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko", "city", "Tokyo"),
				rowError(3, "wrong number of fields: 2, the header has 3", "2,Ben"),
				rowError(4, "wrong number of fields: 4, the header has 3", "3,Chie,Kyoto,extra"),
				row(5, "", "id", "4", "name", "Dai", "city", "Nara"),
			},
		},
		{
			name:  "bare quote",
			input: "id,name\n1,Aiko\n2,5\" disk\n3,Chie\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko"),
				rowError(3, "column 2: a quote (\") in a field that does not start with one", "2,5\" disk"),
				row(4, "", "id", "3", "name", "Chie"),
			},
		},
		{
			name:  "text after a closing quote",
			input: "id,name\n1,Aiko\n2,\"Big\" Company\n3,\"ok\"\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko"),
				rowError(3, "column 2: text after the closing quote", "2,\"Big\" Company"),
				row(4, "3,\"ok\"", "id", "3", "name", "ok"),
			},
		},
		{
			name:  "unterminated quote at the end of the file",
			input: "id,name\n1,Aiko\n2,\"Ben\n3,Chie\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko"),
				rowError(3, "column 2: the quoted field is not closed before the end of the file", "2,\"Ben\n3,Chie"),
			},
		},
		{
			name:  "invalid UTF-8",
			input: "id,name\n1,Aiko\n2,\xff\xfeBen\n3,Chie\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko"),
				rowError(3, `invalid UTF-8 in column 2 ("name"); if Japanese Excel saved the file as CSV, set the encoding to ShiftJIS`, "2,\uFFFDBen"),
				row(4, "", "id", "3", "name", "Chie"),
			},
		},
		{
			name:  "Shift_JIS read as UTF-8",
			input: "id,name\n1," + sjisKabushikiGaisha + "\n",
			want:  []readOutcome{rowError(2, "set the encoding to ShiftJIS", "")},
		},
		{
			name:  "over-long row",
			input: "id,name\n1,Aiko\n2," + longField + "\n3,Chie\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko"),
				rowError(3, "row is longer than 1048576 bytes", ""),
				row(4, "", "id", "3", "name", "Chie"),
			},
		},
		{
			name:  "over-long quoted row",
			input: "id,name\n1,Aiko\n2,\"" + strings.Repeat("many\n", MaxRowBytes/5) + "\"\n3,Chie\n",
			// The record is cut on the line where it passes the limit, its last "many" line;
			// reading resumes on the next line, whose quote opens a field that runs to the end.
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko"),
				rowError(3, "row is longer than", ""),
				rowError(3+MaxRowBytes/5, "the quoted field is not closed", "\"\n3,Chie"),
			},
		},
		{
			name:   "TrimSpace with U+3000",
			format: Format{TrimSpace: true},
			input:  "id,name,note\n 1 ,\u3000田中\u3000太郎\u3000,\"  quoted \t\"\n2,\u3000\u3000, \n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "田中\u3000太郎", "note", "quoted"),
				row(3, "", "id", "2", "name", "", "note", ""),
			},
		},
		{
			name:  "no trimming without TrimSpace",
			input: "id,name\n 1 ,\u3000田中\u3000\n",
			want:  []readOutcome{row(2, "", "id", " 1 ", "name", "\u3000田中\u3000")},
		},
		{
			name:   "semicolon delimiter",
			format: Format{Delimiter: ';'},
			input:  "id;name;amount\n1;Aiko;1,5\n2;\"a;b\";2\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko", "amount", "1,5"),
				row(3, "", "id", "2", "name", "a;b", "amount", "2"),
			},
		},
		{
			name:   "tab delimiter",
			format: Format{Delimiter: '\t'},
			input:  "id\tname\n1\tAiko, Ben\n2\t\"tab\there\"\n3\t\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "Aiko, Ben"),
				row(3, "", "id", "2", "name", "tab\there"),
				row(4, "", "id", "3", "name", ""),
			},
		},
		{
			name:   "multi-byte delimiter",
			format: Format{Delimiter: '、'},
			input:  "id、name\n1、田中\n2、\"a、b\"\n",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "田中"),
				row(3, "", "id", "2", "name", "a、b"),
			},
		},
		{
			name:   "Shift_JIS with Japanese text",
			format: Format{Encoding: EncodingShiftJIS},
			input: "id," + sjisKaishamei + "," + sjisDenwa + "\r\n" +
				"1," + sjisKabushikiGaisha + sjisTesuto + "," + sjisZenkaku123 + "\r\n" +
				"2,\"" + sjisKakkoKabu + sjisTesuto + "\"," + sjisZenkakuMinus + sjisWaveDash + "\r\n" +
				"3," + sjisHyo + "," + "\r\n",
			want: []readOutcome{
				row(2, "1,株式会社テスト,１２３", "id", "1", "会社名", "株式会社テスト", "電話", "１２３"),
				row(3, "2,\"㈱テスト\",－～", "id", "2", "会社名", "㈱テスト", "電話", "\uff0d\uff5e"),
				row(4, "3,表,", "id", "3", "会社名", "表", "電話", ""),
			},
		},
		{
			name:   "Shift_JIS decoded before splitting",
			format: Format{Encoding: EncodingShiftJIS, Delimiter: '|'},
			input:  "id|name\n1|" + sjisZenkakuMinus + "\n",
			want:   []readOutcome{row(2, "", "id", "1", "name", "－")},
		},
		{
			name:   "invalid Shift_JIS",
			format: Format{Encoding: EncodingShiftJIS},
			input: "id,name\n1," + sjisTesuto + "\n2," + sjisGaiji + "\n3,\x81\n4,\xa0x\n5," + sjisTesuto + "\n" +
				"6,\x81",
			want: []readOutcome{
				row(2, "", "id", "1", "name", "テスト"),
				rowError(3, `bytes that are not Shift_JIS (CP932) in column 2 ("name")`, "2,\uFFFD"),
				rowError(4, "not Shift_JIS", "3,\uFFFD"),
				rowError(5, "not Shift_JIS", "4,\uFFFDx"),
				row(6, "", "id", "5", "name", "テスト"),
				rowError(7, "not Shift_JIS", "6,\uFFFD"),
			},
		},
		{
			name:  "header only",
			input: "id,name\n",
		},
		{
			name:  "header only, no newline",
			input: "id,name",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.format.Type = FormatCSV
			rr, err := OpenFile(writeTestFile(t, "in.csv", []byte(tc.input)), tc.format)
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			defer func() {
				if err := rr.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			checkOutcomes(t, readAll(t, rr), tc.want)
			if _, err := rr.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("Next after the end: got %v, want io.EOF", err)
			}
		})
	}
}

func TestCSVReaderWholeFileErrors(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		input  string
		want   string
	}{
		{"empty file", Format{}, "", ErrEmptyFile.Error()},
		{"only a byte-order mark", Format{}, "\xef\xbb\xbf", ErrEmptyFile.Error()},
		{"only blank lines", Format{}, "\n\r\n\n", ErrEmptyFile.Error()},
		{"duplicate header", Format{}, "id,email,name,email\n1,a,b,c\n", `columns 2 and 4 are both named "email"`},
		{"duplicate after trimming", Format{}, "id, id\n", `columns 1 and 2 are both named "id"`},
		{"empty header name", Format{}, "id,,name\n", "column 2 has no name"},
		{"blank header name", Format{}, "id,\u3000\n", "column 2 has no name"},
		{"bad quote in the header", Format{}, "id,na\"me\n", "CSV header (line 1): column 2: a quote"},
		{"header not UTF-8", Format{}, "id," + sjisKaishamei + "\n", "CSV header (line 1): invalid UTF-8 in column 2; if Japanese Excel saved"},
		{"header not Shift_JIS", Format{Encoding: EncodingShiftJIS}, "id," + sjisGaiji + "\n", "CSV header (line 1): bytes that are not Shift_JIS"},
		{"UTF-16", Format{}, "\xff\xfei\x00d\x00\n\x00", "the file is UTF-16"},
		{"UTF-8 BOM but Shift_JIS", Format{Encoding: EncodingShiftJIS}, "\xef\xbb\xbfid\n", "set the encoding to UTF8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.format.Type = FormatCSV
			_, err := OpenFile(writeTestFile(t, "in.csv", []byte(tc.input)), tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	_, err := NewReader(strings.NewReader(""), Format{Type: FormatCSV})
	if !errors.Is(err, ErrEmptyFile) {
		t.Errorf("empty stream: got %v, want ErrEmptyFile", err)
	}
}

func TestCSVReaderColumns(t *testing.T) {
	rr, err := NewReader(strings.NewReader("b,a,c\n"), Format{Type: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	cols := rr.(interface{ Columns() []string }).Columns()
	if strings.Join(cols, ",") != "b,a,c" {
		t.Errorf("Columns: got %q, want the header in file order", cols)
	}
}

// TestCSVReaderReadError checks that a failing source ends reading with its error, not a row
// error, and that the reader stays failed.
func TestCSVReaderReadError(t *testing.T) {
	broken := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("id\n1\n2"), &failingReader{err: broken})
	rr, err := NewReader(src, Format{Type: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	for {
		_, err = rr.Next()
		if err != nil {
			break
		}
		rows++
	}
	if !errors.Is(err, broken) {
		t.Fatalf("got %v, want the source's error", err)
	}
	if rows != 1 {
		t.Errorf("read %d rows before the error, want 1 (the second has no line end yet)", rows)
	}
	if _, err := rr.Next(); !errors.Is(err, broken) {
		t.Errorf("Next after the error: got %v, want the same error", err)
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestCSVReaderRowsDoNotAlias checks that a row's values stay as they were after later reads,
// which reuse the reader's buffers.
func TestCSVReaderRowsDoNotAlias(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("id,name\n")
	for i := range 5000 {
		in.WriteString(strconv.Itoa(i) + ",\"n" + strconv.Itoa(i) + "\"\n")
		in.WriteString(strconv.Itoa(i) + ",p" + strconv.Itoa(i) + "\n")
	}
	rr, err := NewReader(&in, Format{Type: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	var rows []*Row
	for {
		r, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 10000 {
		t.Fatalf("got %d rows, want 10000", len(rows))
	}
	for j, r := range rows {
		i := strconv.Itoa(j / 2)
		want := "n" + i
		if j%2 == 1 {
			want = "p" + i
		}
		if r.Fields["id"] != i || r.Fields["name"] != want {
			t.Fatalf("row %d changed: %v", j, r.Fields)
		}
	}
}
