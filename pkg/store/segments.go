package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SegmentEvaluation is one run of a segment's query.
type SegmentEvaluation struct {
	Namespace, Segment string
	// Resolution and ResolutionGeneration say which profiles the query read; they are recorded
	// with the evaluation.
	Resolution           string
	ResolutionGeneration int64
	// Query is one complete SELECT in the store's Dialect (? placeholders in SQLite, $1… in
	// PostgreSQL) that returns one column, the profile ID, duplicates allowed. Args are its
	// parameters; a time.Time is bound as the store keeps times in columns.
	Query string
	Args  []any
	// StartedAt is when the evaluation began; zero means when EvaluateSegment is called.
	StartedAt time.Time
}

// SegmentEvaluationResult is what an evaluation found. Evaluations of a segment are numbered
// from 1.
type SegmentEvaluationResult struct {
	Namespace, Segment   string
	Evaluation           int64
	Resolution           string
	ResolutionGeneration int64
	StartedAt            time.Time
	// FinishedAt is when the query's result was known: the time of the evaluation's entries and
	// exits.
	FinishedAt time.Time
	// Size counts the members after the evaluation; Entered and Exited the changes.
	Size, Entered, Exited int64
}

// SegmentMember is a current member of a segment.
type SegmentMember struct {
	ProfileID string
	// EnteredAt is when the evaluation that found the profile finished; it stays while the
	// profile stays.
	EnteredAt time.Time
}

// SegmentChangeKind says whether a profile entered or exited a segment.
type SegmentChangeKind string

const (
	SegmentEntered SegmentChangeKind = "entered"
	SegmentExited  SegmentChangeKind = "exited"
)

// SegmentChange is one entry or exit, at the FinishedAt of its evaluation.
type SegmentChange struct {
	Evaluation int64
	ProfileID  string
	Change     SegmentChangeKind
	At         time.Time
}

func segmentLock(namespace, segment string) string {
	return "segment\x00" + namespace + "\x00" + segment
}

// The queries of segments. An evaluation diffs {segment_new}, the profiles its query returned,
// with the members: ?1 namespace, ?2 segment, ?3 evaluation, ?4 its finish time. Exits and
// entries are written to the history first, then members are changed by reading them back
// through the history's key, which spares a second diff. PostgreSQL types a parameter that
// only a select list uses as text, hence the casts.
const (
	sqlLastEvaluation = `SELECT COALESCE(max(evaluation), 0) FROM segment_evaluations
		WHERE namespace = ? AND segment = ?`

	sqlHistoryEntered = `INSERT INTO segment_history (namespace, segment, evaluation, profile_id, change, at)
		SELECT ?1, ?2, CAST(?3 AS bigint), n.profile_id, 'entered', CAST(?4 AS {time}) FROM {segment_new} AS n
		WHERE NOT EXISTS (SELECT 1 FROM segment_members AS m
			WHERE m.namespace = ?1 AND m.segment = ?2 AND m.profile_id = n.profile_id)`

	sqlHistoryExited = `INSERT INTO segment_history (namespace, segment, evaluation, profile_id, change, at)
		SELECT ?1, ?2, CAST(?3 AS bigint), m.profile_id, 'exited', CAST(?4 AS {time}) FROM segment_members AS m
		WHERE m.namespace = ?1 AND m.segment = ?2
			AND NOT EXISTS (SELECT 1 FROM {segment_new} AS n WHERE n.profile_id = m.profile_id)`

	sqlDeleteExited = `DELETE FROM segment_members
		WHERE namespace = ?1 AND segment = ?2 AND profile_id IN (
			SELECT profile_id FROM segment_history
			WHERE namespace = ?1 AND segment = ?2 AND evaluation = ?3 AND change = 'exited')`

	sqlInsertEntered = `INSERT INTO segment_members (namespace, segment, profile_id, entered_at)
		SELECT ?1, ?2, profile_id, CAST(?4 AS {time}) FROM segment_history
		WHERE namespace = ?1 AND segment = ?2 AND evaluation = ?3 AND change = 'entered'`

	sqlDropSegmentNew = `DROP TABLE {segment_new}`

	segmentEvaluationColumns = `namespace, segment, evaluation, resolution, resolution_generation,
		started_at, finished_at, size, entered, exited`

	sqlInsertEvaluation = `INSERT INTO segment_evaluations (` + segmentEvaluationColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	sqlListEvaluations = `SELECT ` + segmentEvaluationColumns + ` FROM segment_evaluations
		WHERE namespace = ? AND segment = ? ORDER BY evaluation DESC LIMIT ?`

	sqlListMembers = `SELECT profile_id, entered_at FROM segment_members
		WHERE namespace = ? AND segment = ? ORDER BY profile_id LIMIT ?`

	sqlListHistory = `SELECT evaluation, profile_id, change, at FROM segment_history
		WHERE namespace = ? AND segment = ? AND evaluation > ? ORDER BY evaluation, profile_id`
)

// sqlDeleteSegment lists the statements that forget a segment.
var sqlDeleteSegment = []string{
	`DELETE FROM segment_members WHERE namespace = ? AND segment = ?`,
	`DELETE FROM segment_history WHERE namespace = ? AND segment = ?`,
	`DELETE FROM segment_evaluations WHERE namespace = ? AND segment = ?`,
}

func (s *sqlStore) EvaluateSegment(ctx context.Context, e SegmentEvaluation) (SegmentEvaluationResult, error) {
	for _, f := range []struct{ what, value string }{
		{"namespace", e.Namespace}, {"segment", e.Segment}, {"resolution", e.Resolution},
	} {
		if err := checkKey(f.what, f.value); err != nil {
			return SegmentEvaluationResult{}, fmt.Errorf("evaluate segment: %w", err)
		}
	}
	query := strings.TrimRight(e.Query, "; \t\r\n")
	if strings.TrimSpace(query) == "" {
		return SegmentEvaluationResult{}, fmt.Errorf("evaluate segment %s/%s: the query is empty", e.Namespace, e.Segment)
	}
	if e.StartedAt.IsZero() {
		e.StartedAt = s.clock.Now()
	}
	res := SegmentEvaluationResult{
		Namespace: e.Namespace, Segment: e.Segment, Resolution: e.Resolution,
		ResolutionGeneration: e.ResolutionGeneration, StartedAt: storedTime(e.StartedAt),
	}
	// The query is the caller's, already in the dialect: it is wrapped, never compiled, so its
	// placeholders stay as they are, and a second statement after it is a syntax error.
	fill := func(q querier) (int64, error) {
		return q.exec(ctx, fmt.Sprintf(s.d.fillSegmentNew, query), s.bindArgs(e.Args)...)
	}
	if s.d.selectSegmentFirst {
		// PostgreSQL plans no parallel workers for a query that writes, and INSERT ... SELECT
		// writes: the query runs alone first, with them, and its result is copied in.
		var ids []string
		if err := s.QueryProfiles(ctx, query, e.Args, func(id string) error {
			ids = append(ids, id)
			return nil
		}); err != nil {
			return SegmentEvaluationResult{}, fmt.Errorf("evaluate segment %s/%s: %w", e.Namespace, e.Segment, err)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		fill = func(q querier) (int64, error) {
			inserter, ok := q.(rowInserter)
			if !ok {
				return 0, fmt.Errorf("the %s store cannot copy rows", s.d.name)
			}
			args := make([]any, len(ids))
			for i, id := range ids {
				args[i] = id
			}
			return int64(len(ids)), inserter.insertRows(ctx, "kizuna_segment_new", []string{"profile_id"}, args)
		}
	}
	res, err := s.evaluateSegment(ctx, res, fill)
	if err != nil {
		return SegmentEvaluationResult{}, fmt.Errorf("evaluate segment %s/%s: %w", e.Namespace, e.Segment, err)
	}
	return res, nil
}

func (s *sqlStore) evaluateSegment(ctx context.Context, res SegmentEvaluationResult, fill func(querier) (int64, error)) (SegmentEvaluationResult, error) {
	sess, err := s.b.session(ctx)
	if err != nil {
		return SegmentEvaluationResult{}, err
	}
	defer sess.release()
	if err := sess.begin(ctx, segmentLock(res.Namespace, res.Segment)); err != nil {
		return SegmentEvaluationResult{}, err
	}
	res, err = s.diffSegment(ctx, sess, res, fill)
	if err != nil {
		return SegmentEvaluationResult{}, errors.Join(err, sess.rollback(ctx))
	}
	if err := sess.commit(ctx); err != nil {
		return SegmentEvaluationResult{}, fmt.Errorf("commit: %w", err)
	}
	if s.d.analyzeAfterLoad != "" && res.Entered+res.Exited >= analyzeSegmentChanges {
		// The next evaluation's diff joins the members and reads the history back. Planned on
		// statistics from before thousands of entries, PostgreSQL chose nested loops over
		// them: at 26,706 members the second evaluation took 18 s instead of 4. Autovacuum
		// would analyze too, but a minute later. A failure loses nothing.
		for _, table := range []string{"segment_members", "segment_history"} {
			_, _ = sess.exec(ctx, fmt.Sprintf(s.d.analyzeAfterLoad, table))
		}
	}
	return res, nil
}

// analyzeSegmentChanges is how many entries and exits make an evaluation refresh the planner's
// statistics of the members and the history.
const analyzeSegmentChanges = 1_000

func (s *sqlStore) diffSegment(ctx context.Context, q querier, res SegmentEvaluationResult, fill func(querier) (int64, error)) (SegmentEvaluationResult, error) {
	ns, seg := res.Namespace, res.Segment
	if err := queryRowOn(ctx, q, s.d.sql(sqlLastEvaluation), []any{ns, seg}, &res.Evaluation); err != nil {
		return res, fmt.Errorf("read the last evaluation: %w", err)
	}
	res.Evaluation++
	if _, err := q.exec(ctx, s.d.createSegmentNew); err != nil {
		return res, fmt.Errorf("create a temporary table: %w", err)
	}
	var err error
	if res.Size, err = fill(q); err != nil {
		return res, fmt.Errorf("run the query: %w", err)
	}
	res.FinishedAt = s.now()
	if s.d.analyzeSegmentNew != "" {
		if _, err := q.exec(ctx, s.d.analyzeSegmentNew); err != nil {
			return res, fmt.Errorf("analyze the query's result: %w", err)
		}
	}
	// PostgreSQL refuses arguments a statement does not use: the deletion has no time.
	diff := []any{ns, seg, res.Evaluation, s.d.timeArg(res.FinishedAt)}
	for _, step := range []struct {
		what, query string
		args        []any
		n           *int64
	}{
		{"record the exits", sqlHistoryExited, diff, &res.Exited},
		{"record the entries", sqlHistoryEntered, diff, &res.Entered},
		{"remove the members who exited", sqlDeleteExited, diff[:3], nil},
		{"add the members who entered", sqlInsertEntered, diff, nil},
	} {
		n, err := q.exec(ctx, s.d.sql(step.query), step.args...)
		if err != nil {
			return res, fmt.Errorf("%s: %w", step.what, err)
		}
		if step.n != nil {
			*step.n = n
		}
	}
	if _, err := q.exec(ctx, s.d.sql(sqlDropSegmentNew)); err != nil {
		return res, fmt.Errorf("drop the temporary table: %w", err)
	}
	if _, err := q.exec(ctx, s.d.sql(sqlInsertEvaluation), ns, seg, res.Evaluation, res.Resolution,
		res.ResolutionGeneration, s.d.timeArg(res.StartedAt), s.d.timeArg(res.FinishedAt),
		res.Size, res.Entered, res.Exited); err != nil {
		return res, fmt.Errorf("record the evaluation: %w", err)
	}
	return res, nil
}

// bindArgs binds times as the store keeps them in columns, so that a query compares a time
// parameter with a time column the same way in both dialects.
func (s *sqlStore) bindArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			a = s.d.timeArg(storedTime(t))
		}
		out[i] = a
	}
	return out
}

func (s *sqlStore) QueryProfiles(ctx context.Context, query string, args []any, fn func(profileID string) error) error {
	// fn's error goes back to the caller as it is.
	var stopped error
	err := s.b.readOnly(ctx, func(q querier) error {
		rs, err := q.query(ctx, query, s.bindArgs(args)...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				return err
			}
			if stopped = fn(id); stopped != nil {
				return stopped
			}
		}
		return rs.Err()
	})
	if stopped != nil {
		return stopped
	}
	if err != nil {
		return fmt.Errorf("query profiles: %w", err)
	}
	return nil
}

func (s *sqlStore) SegmentMembers(ctx context.Context, namespace, segment string, limit int) ([]SegmentMember, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlListMembers), namespace, segment, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list the members of segment %s/%s: %w", namespace, segment, err)
	}
	defer rs.Close()
	var out []SegmentMember
	for rs.Next() {
		var m SegmentMember
		var entered nullTime
		if err := rs.Scan(&m.ProfileID, &entered); err != nil {
			return nil, fmt.Errorf("list the members of segment %s/%s: %w", namespace, segment, err)
		}
		m.EnteredAt = entered.Time
		out = append(out, m)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list the members of segment %s/%s: %w", namespace, segment, err)
	}
	return out, nil
}

func (s *sqlStore) SegmentHistory(ctx context.Context, namespace, segment string, sinceEvaluation int64) ([]SegmentChange, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlListHistory), namespace, segment, sinceEvaluation)
	if err != nil {
		return nil, fmt.Errorf("read the history of segment %s/%s: %w", namespace, segment, err)
	}
	defer rs.Close()
	var out []SegmentChange
	for rs.Next() {
		var c SegmentChange
		var change string
		var at nullTime
		if err := rs.Scan(&c.Evaluation, &c.ProfileID, &change, &at); err != nil {
			return nil, fmt.Errorf("read the history of segment %s/%s: %w", namespace, segment, err)
		}
		c.Change, c.At = SegmentChangeKind(change), at.Time
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read the history of segment %s/%s: %w", namespace, segment, err)
	}
	return out, nil
}

func (s *sqlStore) SegmentEvaluations(ctx context.Context, namespace, segment string, limit int) ([]SegmentEvaluationResult, error) {
	rs, err := s.b.read().query(ctx, s.d.sql(sqlListEvaluations), namespace, segment, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list the evaluations of segment %s/%s: %w", namespace, segment, err)
	}
	defer rs.Close()
	var out []SegmentEvaluationResult
	for rs.Next() {
		var r SegmentEvaluationResult
		var started, finished nullTime
		if err := rs.Scan(&r.Namespace, &r.Segment, &r.Evaluation, &r.Resolution, &r.ResolutionGeneration,
			&started, &finished, &r.Size, &r.Entered, &r.Exited); err != nil {
			return nil, fmt.Errorf("list the evaluations of segment %s/%s: %w", namespace, segment, err)
		}
		r.StartedAt, r.FinishedAt = started.Time, finished.Time
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list the evaluations of segment %s/%s: %w", namespace, segment, err)
	}
	return out, nil
}

func (s *sqlStore) DeleteSegment(ctx context.Context, namespace, segment string) error {
	for _, f := range []struct{ what, value string }{{"namespace", namespace}, {"segment", segment}} {
		if err := checkKey(f.what, f.value); err != nil {
			return fmt.Errorf("delete segment: %w", err)
		}
	}
	if err := s.deleteSegment(ctx, namespace, segment); err != nil {
		return fmt.Errorf("delete segment %s/%s: %w", namespace, segment, err)
	}
	return nil
}

func (s *sqlStore) deleteSegment(ctx context.Context, namespace, segment string) error {
	sess, err := s.b.session(ctx)
	if err != nil {
		return err
	}
	defer sess.release()
	// The segment's lock, so that an evaluation running now does not write rows back after.
	if err := sess.begin(ctx, segmentLock(namespace, segment)); err != nil {
		return err
	}
	for _, query := range sqlDeleteSegment {
		if _, err := sess.exec(ctx, s.d.sql(query), namespace, segment); err != nil {
			return errors.Join(err, sess.rollback(ctx))
		}
	}
	if err := sess.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
