package store

import (
	"context"
	"fmt"
)

// SourceStats counts what the store holds of a source.
type SourceStats struct {
	// Records counts the live records; Deleted those a snapshot no longer holds.
	Records, Deleted int64
	// Events counts the events.
	Events int64
}

const (
	sqlCountRecords = `SELECT COALESCE(SUM(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END), 0), COUNT(*)
FROM records WHERE namespace = ? AND source = ?`
	sqlCountEvents = `SELECT COUNT(*) FROM events WHERE namespace = ? AND source = ?`
)

// SourceStats implements Store.
func (s *sqlStore) SourceStats(ctx context.Context, namespace, source string) (SourceStats, error) {
	var st SourceStats
	var all int64
	if err := s.queryRow(ctx, s.d.sql(sqlCountRecords), []any{namespace, source}, &st.Records, &all); err != nil {
		return SourceStats{}, fmt.Errorf("count the records of %s/%s: %w", namespace, source, err)
	}
	st.Deleted = all - st.Records
	if err := s.queryRow(ctx, s.d.sql(sqlCountEvents), []any{namespace, source}, &st.Events); err != nil {
		return SourceStats{}, fmt.Errorf("count the events of %s/%s: %w", namespace, source, err)
	}
	return st, nil
}

// queryRow runs a query that returns one row and scans it.
func (s *sqlStore) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	return queryRowOn(ctx, s.b.read(), query, args, dest...)
}

// queryRowOn is queryRow on a given querier; dest is left as it is when there is no row.
func queryRowOn(ctx context.Context, q querier, query string, args []any, dest ...any) error {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	if rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return err
		}
	}
	return rs.Err()
}
