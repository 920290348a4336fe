package ingest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetReader reads a Parquet file row by row, a batch of rows at a time, so memory stays within
// a few pages per column whatever the file's size.
//
// Values by column type:
//   - BOOLEAN: bool; INT32, INT64 and signed or narrower unsigned INT: int64; UINT_64: uint64;
//     FLOAT, DOUBLE: float64;
//   - STRING, ENUM, JSON: string; BYTE_ARRAY without a type: string when it is valid UTF-8 (older
//     writers leave strings untyped), []byte otherwise; other FIXED_LEN_BYTE_ARRAY: []byte; UUID:
//     its canonical string;
//   - TIMESTAMP, DATE and INT96 (the legacy Impala/Spark timestamp): time.Time in UTC; TIME: a
//     string "15:04:05.999999999";
//   - DECIMAL: float64 when its precision is at most 15 digits (float64 holds those exactly as
//     written), else its exact decimal string;
//   - null: nil.
//
// Nested data is kept nested, as JSON Lines keeps it: a group is a map[string]any, a LIST or a
// repeated field is a []any, a MAP is a map[string]any with its keys formatted as strings. Fields
// holds the top-level columns by name; Raw is the row as compact JSON in schema order.
type parquetReader struct {
	file    *os.File
	groups  []parquet.RowGroup
	group   int          // the next row group to read
	rows    parquet.Rows // rows of the current row group
	rowsEnd bool         // rows is at its end; it is closed once its last batch is used
	names   []string
	columns []int // top-level field i reads leaf columns columns[i]:columns[i+1]
	fields  []parquetAssembler
	leaves  [][]parquet.Value // the current row's values, by leaf column
	raw     []byte            // Raw of the current row, reused

	batch    []parquet.Row
	n, next  int   // rows in batch, index of the next one to return
	number   int64 // number of the last row returned
	fatalErr error
}

// parquetBatchRows is how many rows are decoded at once.
const parquetBatchRows = 256

// parquetLevels are the repetition depth and the definition level reached at a node.
type parquetLevels struct{ repetitionDepth, definitionLevel int }

// parquetAssembler builds the Go value of a node from the values of its leaf columns in one row.
type parquetAssembler func(levels parquetLevels, columns [][]parquet.Value) any

func openParquetFile(path string) (_ RowReader, err error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = file.Close()
		}
	}()
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	r, err := newParquetReader(file, info.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.file = file
	return r, nil
}

func newParquetReader(input io.ReaderAt, size int64) (r *parquetReader, err error) {
	// parquet-go panics on some malformed schemas; a bad file must not stop the worker.
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("not a readable Parquet file: %v", p)
		}
	}()
	pf, err := parquet.OpenFile(input, size)
	if err != nil {
		return nil, fmt.Errorf("not a readable Parquet file: %w", err)
	}
	schema := pf.Schema()
	r = &parquetReader{
		groups:  pf.RowGroups(),
		columns: []int{0},
		batch:   make([]parquet.Row, parquetBatchRows),
	}
	leaf := 0
	for _, field := range schema.Fields() {
		n, assemble := parquetAssemblerOf(field)
		leaf += n
		r.names = append(r.names, field.Name())
		r.columns = append(r.columns, leaf)
		r.fields = append(r.fields, assemble)
	}
	r.leaves = make([][]parquet.Value, leaf)
	return r, nil
}

// Columns returns the top-level column names in schema order.
func (r *parquetReader) Columns() []string { return append([]string(nil), r.names...) }

// Next returns the next row or io.EOF. Parquet rows are typed by the schema, so there are no
// per-row errors: an error from Next means the file cannot be read on.
func (r *parquetReader) Next() (row *Row, err error) {
	if r.fatalErr != nil {
		return nil, r.fatalErr
	}
	defer func() {
		if p := recover(); p != nil {
			r.fatalErr = fmt.Errorf("read Parquet row %d: malformed file: %v", r.number+1, p)
			row, err = nil, r.fatalErr
		}
	}()
	if r.next == r.n {
		if err := r.fill(); err != nil {
			r.fatalErr = fmt.Errorf("read Parquet row %d: %w", r.number+1, err)
			return nil, r.fatalErr
		}
		if r.n == 0 {
			return nil, io.EOF
		}
	}
	values := r.batch[r.next]
	r.next++
	r.number++

	clear(r.leaves)
	values.Range(func(column int, v []parquet.Value) bool {
		if column < len(r.leaves) {
			r.leaves[column] = v
		}
		return true
	})
	fields := make(map[string]any, len(r.names))
	r.raw = append(r.raw[:0], '{')
	raw := r.raw
	for i, assemble := range r.fields {
		v := assemble(parquetLevels{}, r.leaves[r.columns[i]:r.columns[i+1]])
		fields[r.names[i]] = v
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = parquetAppendJSONString(raw, r.names[i])
		raw = append(raw, ':')
		raw = parquetAppendJSON(raw, v)
	}
	raw = append(raw, '}')
	r.raw = raw
	return &Row{Number: r.number, Fields: fields, Raw: string(raw)}, nil
}

// fill decodes the next batch of rows; it leaves none after the last.
func (r *parquetReader) fill() error {
	r.n, r.next = 0, 0
	for {
		if r.rowsEnd {
			// Only now: closing releases the pages that the last batch's values point into.
			if err := r.closeRows(); err != nil {
				return err
			}
		}
		if r.rows == nil {
			if r.group == len(r.groups) {
				return nil
			}
			r.rows = r.groups[r.group].Rows()
			r.group++
		}
		n, err := r.rows.ReadRows(r.batch)
		r.n = n
		switch {
		case errors.Is(err, io.EOF):
			r.rowsEnd = true
			if n > 0 {
				return nil
			}
		case err != nil:
			return err
		case n == 0:
			return io.ErrNoProgress
		default:
			return nil
		}
	}
}

func (r *parquetReader) closeRows() error {
	rows := r.rows
	r.rows, r.rowsEnd = nil, false
	if rows == nil {
		return nil
	}
	return rows.Close()
}

// Close releases the reader and closes the file.
func (r *parquetReader) Close() error {
	if r.fatalErr == nil {
		r.fatalErr = errFormatClosed
	}
	err := r.closeRows()
	if r.file != nil {
		if cerr := r.file.Close(); err == nil {
			err = cerr
		}
		r.file = nil
	}
	return err
}

// parquetAssemblerOf returns the number of leaf columns under node and how to build its value,
// following the record assembly of the Dremel paper as parquet-go's own reconstruction does.
func parquetAssemblerOf(node parquet.Node) (int, parquetAssembler) {
	switch {
	case node.Optional():
		n, assemble := parquetAssemblerOf(parquet.Required(node))
		return n, func(levels parquetLevels, columns [][]parquet.Value) any {
			levels.definitionLevel++
			if len(columns) > 0 && (len(columns[0]) == 0 || columns[0][0].DefinitionLevel() < levels.definitionLevel) {
				return nil
			}
			return assemble(levels, columns)
		}
	case node.Repeated():
		return parquetRepeatedAssemblerOf(parquet.Required(node))
	case node.Leaf():
		convert := parquetConverterOf(node.Type())
		return 1, func(_ parquetLevels, columns [][]parquet.Value) any {
			if len(columns[0]) == 0 || columns[0][0].IsNull() {
				return nil
			}
			return convert(columns[0][0])
		}
	}
	if elem, ok := parquetListElement(node); ok {
		return parquetRepeatedAssemblerOf(elem)
	}
	if keyValue, ok := parquetMapKeyValue(node); ok {
		n, assemble := parquetRepeatedAssemblerOf(parquet.Required(keyValue))
		return n, func(levels parquetLevels, columns [][]parquet.Value) any {
			entries, _ := assemble(levels, columns).([]any)
			m := make(map[string]any, len(entries))
			for _, e := range entries {
				kv, _ := e.(map[string]any)
				m[parquetMapKey(kv["key"])] = kv["value"]
			}
			return m
		}
	}
	fields := node.Fields()
	names := make([]string, len(fields))
	assemblers := make([]parquetAssembler, len(fields))
	ends := make([]int, len(fields))
	n := 0
	for i, field := range fields {
		var k int
		k, assemblers[i] = parquetAssemblerOf(field)
		n += k
		names[i], ends[i] = field.Name(), n
	}
	return n, func(levels parquetLevels, columns [][]parquet.Value) any {
		m := make(map[string]any, len(fields))
		start := 0
		for i, assemble := range assemblers {
			m[names[i]] = assemble(levels, columns[start:ends[i]])
			start = ends[i]
		}
		return m
	}
}

// parquetRepeatedAssemblerOf builds a []any of elem, a node that is repeated in the file.
func parquetRepeatedAssemblerOf(elem parquet.Node) (int, parquetAssembler) {
	n, assemble := parquetAssemblerOf(elem)
	return n, func(levels parquetLevels, columns [][]parquet.Value) any {
		levels.repetitionDepth++
		levels.definitionLevel++
		if len(columns) == 0 || len(columns[0]) == 0 || columns[0][0].DefinitionLevel() < levels.definitionLevel {
			return []any{}
		}
		count := 1
		for _, v := range columns[0][1:] {
			if v.RepetitionLevel() <= levels.repetitionDepth {
				count++
			}
		}
		out := make([]any, count)
		rest := append([][]parquet.Value(nil), columns...)
		element := make([][]parquet.Value, len(columns))
		for e := range out {
			for j, column := range rest {
				k := 1
				for k < len(column) && column[k].RepetitionLevel() > levels.repetitionDepth {
					k++
				}
				k = min(k, len(column))
				element[j], rest[j] = column[:k], column[k:]
			}
			out[e] = assemble(levels, element)
		}
		return out
	}
}

// parquetListElement returns the element of a LIST group in its standard three-level form.
// Other forms are read as the groups they are.
func parquetListElement(node parquet.Node) (parquet.Node, bool) {
	if lt := node.Type().LogicalType(); lt == nil || !parquetIs[*format.ListType](lt.Value) {
		return nil, false
	}
	fields := node.Fields()
	if len(fields) != 1 || fields[0].Leaf() || !fields[0].Repeated() || len(fields[0].Fields()) != 1 {
		return nil, false
	}
	return fields[0].Fields()[0], true
}

// parquetMapKeyValue returns the repeated key_value group of a MAP group.
func parquetMapKeyValue(node parquet.Node) (parquet.Node, bool) {
	if lt := node.Type().LogicalType(); lt == nil || !parquetIs[*format.MapType](lt.Value) {
		return nil, false
	}
	fields := node.Fields()
	if len(fields) != 1 || fields[0].Leaf() || !fields[0].Repeated() {
		return nil, false
	}
	kv := fields[0].Fields()
	if len(kv) != 2 || kv[0].Name() != "key" || kv[1].Name() != "value" {
		return nil, false
	}
	return fields[0], true
}

func parquetIs[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

func parquetMapKey(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case time.Time:
		return k.Format(time.RFC3339Nano)
	case nil:
		return ""
	default:
		return fmt.Sprint(k)
	}
}

// parquetConverterOf returns how a value of a leaf column becomes a Go value.
func parquetConverterOf(t parquet.Type) func(parquet.Value) any {
	if lt := t.LogicalType(); lt != nil {
		switch l := lt.Value.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			return func(v parquet.Value) any { return string(v.ByteArray()) }
		case *format.TimestampType:
			unit := parquetUnit(l.Unit)
			return func(v parquet.Value) any { return parquetTime(v.Int64(), unit) }
		case *format.DateType:
			return func(v parquet.Value) any { return time.Unix(int64(v.Int32())*86400, 0).UTC() }
		case *format.TimeType:
			unit := parquetUnit(l.Unit)
			return func(v parquet.Value) any {
				var n int64
				if t.Kind() == parquet.Int32 {
					n = int64(v.Int32())
				} else {
					n = v.Int64()
				}
				return parquetTime(n, unit).Format("15:04:05.999999999")
			}
		case *format.DecimalType:
			return parquetDecimalConverter(t.Kind(), int(l.Scale), int(l.Precision))
		case *format.IntType:
			if !l.IsSigned && l.BitWidth == 64 {
				return func(v parquet.Value) any { return v.Uint64() }
			}
			if !l.IsSigned && t.Kind() == parquet.Int32 {
				return func(v parquet.Value) any { return int64(v.Uint32()) }
			}
		case *format.UUIDType:
			return func(v parquet.Value) any {
				b := v.ByteArray()
				if len(b) != 16 {
					return append([]byte(nil), b...)
				}
				return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
			}
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return func(v parquet.Value) any { return v.Boolean() }
	case parquet.Int32:
		return func(v parquet.Value) any { return int64(v.Int32()) }
	case parquet.Int64:
		return func(v parquet.Value) any { return v.Int64() }
	case parquet.Int96:
		return func(v parquet.Value) any {
			i := v.Int96()
			nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
			const unixEpochJulianDay = 2440588
			return time.Unix((int64(i[2])-unixEpochJulianDay)*86400, nanos).UTC()
		}
	case parquet.Float:
		return func(v parquet.Value) any { return float64(v.Float()) }
	case parquet.Double:
		return func(v parquet.Value) any { return v.Double() }
	case parquet.ByteArray:
		return func(v parquet.Value) any {
			if b := v.ByteArray(); utf8.Valid(b) {
				return string(b)
			}
			return append([]byte(nil), v.ByteArray()...)
		}
	default:
		return func(v parquet.Value) any { return append([]byte(nil), v.ByteArray()...) }
	}
}

func parquetUnit(u format.TimeUnit) time.Duration {
	if u.Value == nil {
		return time.Millisecond
	}
	return u.Value.Duration()
}

func parquetTime(n int64, unit time.Duration) time.Time {
	switch unit {
	case time.Millisecond:
		return time.UnixMilli(n).UTC()
	case time.Microsecond:
		return time.UnixMicro(n).UTC()
	default:
		return time.Unix(0, n).UTC()
	}
}

func parquetDecimalConverter(kind parquet.Kind, scale, precision int) func(parquet.Value) any {
	unscaled := func(v parquet.Value) *big.Int {
		switch kind {
		case parquet.Int32:
			return big.NewInt(int64(v.Int32()))
		case parquet.Int64:
			return big.NewInt(v.Int64())
		default: // big-endian two's complement
			b := v.ByteArray()
			n := new(big.Int).SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 {
				n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
			}
			return n
		}
	}
	return func(v parquet.Value) any {
		s := parquetDecimalString(unscaled(v), scale)
		if precision <= 15 {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
		}
		return s
	}
}

// parquetDecimalString writes unscaled × 10^-scale in decimal.
func parquetDecimalString(unscaled *big.Int, scale int) string {
	digits := new(big.Int).Abs(unscaled).String()
	sign := ""
	if unscaled.Sign() < 0 {
		sign = "-"
	}
	if scale <= 0 {
		return sign + digits + strings.Repeat("0", -scale)
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

// parquetAppendJSON appends v as JSON. Unlike encoding/json it accepts NaN and infinities (as
// strings), so that any row can be shown.
func parquetAppendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.AppendQuote(b, strconv.FormatFloat(v, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case string:
		return parquetAppendJSONString(b, v)
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, '"')
	case time.Time:
		b = append(b, '"')
		b = v.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = parquetAppendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = parquetAppendJSONString(b, k)
			b = append(b, ':')
			b = parquetAppendJSON(b, v[k])
		}
		return append(b, '}')
	default:
		return parquetAppendJSONString(b, fmt.Sprint(v))
	}
}

// parquetAppendJSONString appends s as a JSON string.
func parquetAppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
