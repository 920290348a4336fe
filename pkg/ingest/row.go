// Package ingest reads customer records and events from where they live (files over HTTP(S), S3, a
// ConfigMap or a local path; PostgreSQL queries) in CSV, JSON Lines or Parquet, maps their columns
// onto identifiers, attributes and event fields, and writes them to the store. Readers stream:
// memory does not grow with the input. A row that cannot be read or mapped is quarantined with its
// row number and reason while good rows load.
package ingest

import "fmt"

// Row is one input row.
type Row struct {
	// Number is the 1-based row number in the source: the line on which a CSV record or a JSON
	// line starts (a CSV header is line 1), the row index for Parquet and query results.
	Number int64
	// Fields holds the values by column name: strings for CSV; strings, json.Number (exact, so
	// that large integer IDs survive), bool, nil, maps and slices for JSON Lines; Go values of the
	// column types for Parquet and queries.
	Fields map[string]any
	// Raw is the row's text as read, for quarantine (truncated by the store).
	Raw string
}

// RowError is a row that could not be read: wrong column count, bad quoting, invalid encoding,
// invalid JSON. Readers return it from Next and carry on with the next row.
type RowError struct {
	Row    int64
	Reason string
	Raw    string
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %s", e.Row, e.Reason) }

// RowReader reads rows one at a time.
type RowReader interface {
	// Next returns the next row; a *RowError for a row that could not be read (the reader goes on
	// with the next row); io.EOF after the last row; any other error when reading cannot go on.
	Next() (*Row, error)
	// Close releases the reader.
	Close() error
}
