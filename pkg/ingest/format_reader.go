package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// The values of Format.Type: the values of the API enum FileFormatType.
const (
	FormatCSV       = "CSV"
	FormatJSONLines = "JSONLines"
	FormatParquet   = "Parquet"
)

// The values of Format.Encoding: the values of the API enum TextEncoding.
const (
	EncodingUTF8     = "UTF8"
	EncodingShiftJIS = "ShiftJIS"
)

// MaxRowBytes bounds one CSV record or JSON line (as decoded UTF-8). A longer one is a *RowError,
// so that a stray quote or a binary file cannot make a reader hold the whole input in memory.
const MaxRowBytes = 1 << 20

// ErrEmptyFile is returned, wrapped, by OpenFile and NewReader for a CSV file with no header line.
var ErrEmptyFile = errors.New("the file is empty: a CSV file needs a header line with the column names")

// Format says how a file is parsed.
type Format struct {
	// Type is FormatCSV, FormatJSONLines or FormatParquet.
	Type string
	// Delimiter separates CSV fields; 0 means ','. It may be any character but a quote, a line end
	// or U+FFFD.
	Delimiter rune
	// Encoding of a CSV or JSON Lines file: EncodingUTF8 (the default when empty) or
	// EncodingShiftJIS (Shift_JIS with the CP932 / Windows-31J extensions that Japanese Excel
	// writes). Parquet strings are always UTF-8.
	Encoding string
	// TrimSpace removes leading and trailing white space, including U+3000 IDEOGRAPHIC SPACE, from
	// every CSV field. Header names are always trimmed.
	TrimSpace bool
}

// formatReadBufferSize is the size of the buffers between the source and the parsers. A CSV record
// or JSON line that does not fit is assembled in a separate buffer, up to MaxRowBytes.
const formatReadBufferSize = 64 << 10

var (
	formatUTF8BOM    = []byte{0xEF, 0xBB, 0xBF}
	formatUTF16LEBOM = []byte{0xFF, 0xFE}
	formatUTF16BEBOM = []byte{0xFE, 0xFF}
	errFormatClosed  = errors.New("reader is closed")
)

// OpenFile opens a local file in a format. Parquet needs random access, hence a file path.
// Whole-file problems (an empty CSV file, a bad CSV header, a file that is not Parquet) are
// returned here; problems of single rows come from Next as *RowError.
func OpenFile(path string, f Format) (RowReader, error) {
	if f.Type == FormatParquet {
		return openParquetFile(path)
	}
	if err := f.validateText(); err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rr, err := newTextReader(file, file, f)
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rr, nil
}

// NewReader reads CSV or JSON Lines from a stream (not Parquet, which needs random access: use
// OpenFile). The CSV header is read before NewReader returns. Close does not close r.
func NewReader(r io.Reader, f Format) (RowReader, error) {
	if err := f.validateText(); err != nil {
		return nil, err
	}
	return newTextReader(r, nil, f)
}

func (f Format) validateText() error {
	switch f.Type {
	case FormatCSV, FormatJSONLines:
	case FormatParquet:
		return errors.New("parquet needs random access: open it with OpenFile from a local file")
	default:
		return fmt.Errorf("unknown format type %q: use %s, %s or %s", f.Type, FormatCSV, FormatJSONLines, FormatParquet)
	}
	switch f.Encoding {
	case "", EncodingUTF8, EncodingShiftJIS:
	default:
		return fmt.Errorf("unknown encoding %q: use %s or %s", f.Encoding, EncodingUTF8, EncodingShiftJIS)
	}
	if f.Type == FormatCSV {
		switch f.Delimiter {
		case '"', '\r', '\n', '\uFFFD':
			return fmt.Errorf("invalid CSV delimiter %q", f.Delimiter)
		}
		if f.Delimiter < 0 || f.Delimiter > '\U0010FFFF' || (f.Delimiter >= 0xD800 && f.Delimiter <= 0xDFFF) {
			return fmt.Errorf("invalid CSV delimiter %U", f.Delimiter)
		}
	}
	return nil
}

func newTextReader(r io.Reader, closer io.Closer, f Format) (RowReader, error) {
	src, err := formatDecodedSource(r, f.Encoding == EncodingShiftJIS)
	if err != nil {
		return nil, err
	}
	lines := formatLineReader{br: src}
	if f.Type == FormatJSONLines {
		return &jsonlReader{lines: lines, closer: closer, shiftJIS: f.Encoding == EncodingShiftJIS}, nil
	}
	return newCSVReader(lines, closer, f)
}

// formatDecodedSource checks the start of r for byte-order marks and returns a buffered reader of
// UTF-8 text: a UTF-8 BOM is dropped; Shift_JIS is decoded as it streams.
func formatDecodedSource(r io.Reader, shiftJIS bool) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, formatReadBufferSize)
	head, err := br.Peek(len(formatUTF8BOM))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, formatUTF8BOM):
		if shiftJIS {
			return nil, errors.New("the file starts with a UTF-8 byte-order mark but the encoding is ShiftJIS: set the encoding to UTF8")
		}
		if _, err := br.Discard(len(formatUTF8BOM)); err != nil {
			return nil, err
		}
	case bytes.HasPrefix(head, formatUTF16LEBOM), bytes.HasPrefix(head, formatUTF16BEBOM):
		return nil, errors.New("the file is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8 (Excel: CSV UTF-8) or Shift_JIS")
	}
	if !shiftJIS {
		return br, nil
	}
	// The decoder writes U+FFFD for bytes that are not Shift_JIS; the parsers look for it, so that
	// a bad byte becomes a row error instead of a silent replacement.
	return bufio.NewReaderSize(transform.NewReader(br, japanese.ShiftJIS.NewDecoder()), formatReadBufferSize), nil
}

// formatLineReader reads physical lines and counts them.
type formatLineReader struct {
	br   *bufio.Reader
	long []byte // assembles a line longer than br's buffer
	line int64  // number of the last line returned
	err  error  // sticky error: once reading failed, it stays failed
}

// next returns the next line with its line end ('\n'; the last line may have none), valid until
// the next call. A line longer than limit is cut to its first bytes and reported by tooLong; the
// rest of it is read and dropped. It returns io.EOF after the last line.
func (lr *formatLineReader) next(limit int) (line []byte, tooLong bool, err error) {
	if lr.err != nil {
		return nil, false, lr.err
	}
	line, err = lr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.long = append(lr.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = lr.br.ReadSlice('\n')
			if len(lr.long)+len(line) > limit {
				tooLong = true
				continue
			}
			lr.long = append(lr.long, line...)
		}
		line = lr.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		lr.err = err
		return nil, false, err
	}
	if len(line) == 0 {
		lr.err = io.EOF
		return nil, false, io.EOF
	}
	lr.line++
	return line, tooLong, nil
}

func (lr *formatLineReader) close() {
	lr.err = errFormatClosed
	lr.long = nil
}

// formatTrimLineEnd drops a final "\n" or "\r\n", or a "\r" that ends the file (as encoding/csv
// does).
func formatTrimLineEnd(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}
