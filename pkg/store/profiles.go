package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RecordRef names one source record.
type RecordRef struct {
	Source, Key string
}

// Profile is one resolved customer: the source records an identity resolution merged.
type Profile struct {
	ID string
	// CreatedGeneration is the generation that first issued the ID, so that the earliest profile
	// of several is the one with the smallest (CreatedGeneration, ID). PutProfile reads zero as
	// the generation being published.
	CreatedGeneration int64
	// Identifiers are the profile's normalised identifier values by type, stored with the same
	// rules as a record's.
	Identifiers map[string][]string
	// Attributes are the surviving attribute values, stored with the same rules as a record's.
	Attributes map[string]any
	// Records are the profile's source records, sorted by (Source, Key).
	Records []RecordRef
}

// ResolutionRun describes one run of an identity resolution. RunID is chosen by the caller and
// unique per resolution (the Job's name, say): a run ID that already succeeded does not publish
// again, so a Job that runs twice does no harm.
type ResolutionRun struct {
	Namespace  string
	Resolution string
	RunID      string
	// Generation is the generation the run publishes, set by BeginPublish (published+1). A dry
	// run keeps the one its caller gives.
	Generation int64
	// DryRun: the run computed what it would publish and published nothing.
	DryRun bool
	// Status is Running until Commit or Abort, then Succeeded or Failed.
	Status     SyncStatus
	StartedAt  time.Time
	FinishedAt time.Time
	// Records and Profiles count what the run published (Commit counts them from what was
	// written), Merges and Splits how many profiles it merged and split, NewProfiles how many
	// profile IDs it issued (profiles whose CreatedGeneration is Generation).
	Records, Profiles, Merges, Splits, NewProfiles int64
	// Ignored lists identifier values shared by too many records to link on, most shared first.
	// The store keeps the first MaxIgnoredValuesPerRun.
	Ignored []IgnoredValue
	// Message says what the run did, or why it failed.
	Message string
}

// IgnoredValue is an identifier value a run did not link on.
type IgnoredValue struct {
	// Type is the identifier type, or the types of a rule joined with "+".
	Type string
	// Value is masked by the caller: it ends up in a resource's status.
	Value string
	// Records counts the records that share the value.
	Records int64
}

// MaxIgnoredValuesPerRun bounds the ignored values a run keeps.
const MaxIgnoredValuesPerRun = 100

// maxIgnoredValueBytes bounds the type and the value of an ignored value.
const maxIgnoredValueBytes = 256

// ResolutionState says which generation of a resolution readers see.
type ResolutionState struct {
	// PublishedGeneration is zero before the first publish.
	PublishedGeneration int64
	PublishedAt         time.Time
	// RunID is the run that published it.
	RunID string
}

// ResolutionStats counts what the store holds of a resolution: the published generation and the
// previous one, kept for readers that started before the last publish. Older generations are
// not kept.
type ResolutionStats struct {
	Published, Previous GenerationStats
}

// GenerationStats counts the rows of one generation; Generation is zero when there is none.
type GenerationStats struct {
	Generation                 int64
	Profiles, Records, Aliases int64
}

// ProfileWriter writes one generation of a resolution. It is not safe for concurrent use. Until
// Commit or Abort it holds the resolution's lock (and, in SQLite, the one writer connection), so
// every writer must end with one of them; after a failed Commit, Abort still records the run.
//
// Profiles, and aliases, may come in any order; a publish is fastest when profiles come in ID
// order. A publish writes only what changed since the generation it replaces in the store
// (the one before the published one), so publishing the same profiles again costs reads.
type ProfileWriter interface {
	// PutProfile writes a profile and the memberships of its records. It returns ErrDuplicateKey
	// for a profile ID (or alias) already written in this publish, or a record already in
	// another profile, and ErrInvalidRow for a profile the store cannot hold, as PutRecord does;
	// the publish goes on without it. It keeps nothing of p once it returns: the caller may reuse
	// p's maps and slices for the next profile.
	PutProfile(ctx context.Context, p Profile) error
	// PutAlias makes the ID of an absorbed profile resolve to profileID, the profile that
	// absorbed it. An alias is one hop: profileID should be a profile of this publish.
	PutAlias(ctx context.Context, alias, profileID string) error
	// Commit publishes the generation atomically, records the run as succeeded and returns it.
	// Merges, Splits, Ignored and Message come from run; Records, Profiles and NewProfiles count
	// what was written. The generation before the previous one is gone once Commit returns.
	Commit(ctx context.Context, run ResolutionRun) (ResolutionRun, error)
	// Abort publishes nothing and records the run as failed with a message.
	Abort(ctx context.Context, message string) (ResolutionRun, error)
}

// slotOf is where a generation's rows live: the published generation and the previous one use
// both slots, and a publish rewrites the slot of the generation before the previous one.
func slotOf(generation int64) int64 { return generation % 2 }

func resolutionLock(namespace, resolution string) string {
	return "resolution\x00" + namespace + "\x00" + resolution
}

// The shared queries of profiles. The published slot is read in the same statement as the rows,
// so that a reader sees one generation even while a publish commits.
const (
	sqlPublishedSlot = `(SELECT published_generation % 2 FROM resolution_state
		WHERE namespace = ?1 AND resolution = ?2)`

	sqlScanProfiles = `SELECT profile_id, created_generation, identifiers, attributes, records
		FROM profiles
		WHERE namespace = ?1 AND resolution = ?2 AND slot = ` + sqlPublishedSlot + `
		ORDER BY profile_id`

	sqlScanMemberships = `SELECT source, record_key, profile_id FROM profile_memberships
		WHERE namespace = ?1 AND resolution = ?2 AND slot = ` + sqlPublishedSlot + `
		ORDER BY source, record_key`

	sqlScanAliases = `SELECT alias, profile_id FROM profile_aliases
		WHERE namespace = ?1 AND resolution = ?2 AND slot = ` + sqlPublishedSlot + `
		ORDER BY alias`

	// A profile by its ID first, else by an alias.
	sqlLookupProfile = `SELECT profile_id, created_generation, identifiers, attributes, records
		FROM (
			SELECT 0 AS via, p.profile_id, p.created_generation, p.identifiers, p.attributes, p.records
			FROM profiles AS p
			WHERE p.namespace = ?1 AND p.resolution = ?2 AND p.slot = ` + sqlPublishedSlot + `
				AND p.profile_id = ?3
			UNION ALL
			SELECT 1 AS via, p.profile_id, p.created_generation, p.identifiers, p.attributes, p.records
			FROM profile_aliases AS a
			JOIN profiles AS p ON p.namespace = a.namespace AND p.resolution = a.resolution
				AND p.slot = a.slot AND p.profile_id = a.profile_id
			WHERE a.namespace = ?1 AND a.resolution = ?2 AND a.slot = ` + sqlPublishedSlot + `
				AND a.alias = ?3
		) AS found
		ORDER BY via LIMIT 1`

	sqlProfileOf = `SELECT profile_id FROM profile_memberships
		WHERE namespace = ?1 AND resolution = ?2 AND slot = ` + sqlPublishedSlot + `
			AND source = ?3 AND record_key = ?4`

	sqlGetResolutionState = `SELECT published_generation, published_at, run_id FROM resolution_state
		WHERE namespace = ? AND resolution = ?`

	sqlPutResolutionState = `INSERT INTO resolution_state
			(namespace, resolution, published_generation, published_at, run_id, profiles, records, aliases)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, resolution) DO UPDATE SET
			published_generation = excluded.published_generation,
			published_at = excluded.published_at, run_id = excluded.run_id,
			profiles = excluded.profiles, records = excluded.records, aliases = excluded.aliases`

	sqlPublishedRows = `SELECT published_generation, profiles, records, aliases FROM resolution_state
		WHERE namespace = ? AND resolution = ?`

	sqlListResolutions = `SELECT resolution FROM resolution_state WHERE namespace = ? ORDER BY resolution`

	resolutionRunColumns = `namespace, resolution, run_id, generation, dry_run, status, started_at,
		finished_at, records, profiles, merges, splits, new_profiles, ignored, message`

	sqlListResolutionRuns = `SELECT ` + resolutionRunColumns + ` FROM resolution_runs
		WHERE namespace = ? AND resolution = ?
		ORDER BY started_at DESC, run_id DESC LIMIT ?`

	sqlResolutionRunStatus = `SELECT status FROM resolution_runs
		WHERE namespace = ? AND resolution = ? AND run_id = ?`

	sqlPutResolutionRun = `INSERT INTO resolution_runs (` + resolutionRunColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{json}, ?)
		ON CONFLICT (namespace, resolution, run_id) DO UPDATE SET
			generation = excluded.generation, dry_run = excluded.dry_run, status = excluded.status,
			started_at = excluded.started_at, finished_at = excluded.finished_at,
			records = excluded.records, profiles = excluded.profiles, merges = excluded.merges,
			splits = excluded.splits, new_profiles = excluded.new_profiles,
			ignored = excluded.ignored, message = excluded.message`

	sqlCountSlot = `SELECT
			(SELECT count(*) FROM profiles WHERE namespace = ?1 AND resolution = ?2 AND slot = ?3),
			(SELECT count(*) FROM profile_memberships WHERE namespace = ?1 AND resolution = ?2 AND slot = ?3),
			(SELECT count(*) FROM profile_aliases WHERE namespace = ?1 AND resolution = ?2 AND slot = ?3)`
)

// profileQueries are the queries of profiles compiled for one dialect.
type profileQueries struct {
	scanProfiles, scanMemberships, scanAliases, lookupProfile, profileOf string
	getState, putState, listResolutions, publishedRows                   string
	listRuns, runStatus, putRun, countSlot                               string
}

func compileProfileQueries(d *dialect) profileQueries {
	return profileQueries{
		scanProfiles: d.sql(sqlScanProfiles), scanMemberships: d.sql(sqlScanMemberships),
		scanAliases: d.sql(sqlScanAliases), lookupProfile: d.sql(sqlLookupProfile),
		profileOf: d.sql(sqlProfileOf), getState: d.sql(sqlGetResolutionState),
		putState: d.sql(sqlPutResolutionState), listResolutions: d.sql(sqlListResolutions),
		publishedRows: d.sql(sqlPublishedRows),
		listRuns:      d.sql(sqlListResolutionRuns), runStatus: d.sql(sqlResolutionRunStatus),
		putRun: d.sql(sqlPutResolutionRun), countSlot: d.sql(sqlCountSlot),
	}
}

func (s *sqlStore) ResolutionState(ctx context.Context, namespace, resolution string) (ResolutionState, error) {
	st, err := s.resolutionState(ctx, s.b.read(), namespace, resolution)
	if err != nil {
		return ResolutionState{}, fmt.Errorf("read the state of resolution %s/%s: %w", namespace, resolution, err)
	}
	return st, nil
}

func (s *sqlStore) resolutionState(ctx context.Context, q querier, namespace, resolution string) (ResolutionState, error) {
	rs, err := q.query(ctx, s.pq.getState, namespace, resolution)
	if err != nil {
		return ResolutionState{}, err
	}
	defer rs.Close()
	var st ResolutionState
	if rs.Next() {
		var at nullTime
		if err := rs.Scan(&st.PublishedGeneration, &at, &st.RunID); err != nil {
			return ResolutionState{}, err
		}
		st.PublishedAt = at.Time
	}
	return st, rs.Err()
}

func (s *sqlStore) Resolutions(ctx context.Context, namespace string) ([]string, error) {
	rs, err := s.b.read().query(ctx, s.pq.listResolutions, namespace)
	if err != nil {
		return nil, fmt.Errorf("list the resolutions of %s: %w", namespace, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			return nil, fmt.Errorf("list the resolutions of %s: %w", namespace, err)
		}
		out = append(out, name)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list the resolutions of %s: %w", namespace, err)
	}
	return out, nil
}

func (s *sqlStore) ScanProfiles(ctx context.Context, namespace, resolution string, fn func(Profile) error) error {
	rs, err := s.b.read().query(ctx, s.pq.scanProfiles, namespace, resolution)
	if err != nil {
		return fmt.Errorf("scan the profiles of %s/%s: %w", namespace, resolution, err)
	}
	defer rs.Close()
	var ids, attrs, refs jsonText
	for rs.Next() {
		p, err := scanProfile(rs, &ids, &attrs, &refs)
		if err != nil {
			return fmt.Errorf("scan the profiles of %s/%s: %w", namespace, resolution, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("scan the profiles of %s/%s: %w", namespace, resolution, err)
	}
	return nil
}

func scanProfile(rs rows, ids, attrs, refs *jsonText) (Profile, error) {
	var p Profile
	if err := rs.Scan(&p.ID, &p.CreatedGeneration, ids, attrs, refs); err != nil {
		return Profile{}, err
	}
	var err error
	if p.Identifiers, err = decodeIdentifiers(*ids); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", p.ID, err)
	}
	if p.Attributes, err = decodeValues(*attrs); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", p.ID, err)
	}
	if p.Records, err = decodeRecordRefs(*refs); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", p.ID, err)
	}
	return p, nil
}

func (s *sqlStore) ScanMemberships(ctx context.Context, namespace, resolution string, fn func(ref RecordRef, profileID string) error) error {
	rs, err := s.b.read().query(ctx, s.pq.scanMemberships, namespace, resolution)
	if err != nil {
		return fmt.Errorf("scan the memberships of %s/%s: %w", namespace, resolution, err)
	}
	defer rs.Close()
	for rs.Next() {
		var ref RecordRef
		var id string
		if err := rs.Scan(&ref.Source, &ref.Key, &id); err != nil {
			return fmt.Errorf("scan the memberships of %s/%s: %w", namespace, resolution, err)
		}
		if err := fn(ref, id); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("scan the memberships of %s/%s: %w", namespace, resolution, err)
	}
	return nil
}

func (s *sqlStore) ScanAliases(ctx context.Context, namespace, resolution string, fn func(alias, profileID string) error) error {
	rs, err := s.b.read().query(ctx, s.pq.scanAliases, namespace, resolution)
	if err != nil {
		return fmt.Errorf("scan the aliases of %s/%s: %w", namespace, resolution, err)
	}
	defer rs.Close()
	for rs.Next() {
		var alias, id string
		if err := rs.Scan(&alias, &id); err != nil {
			return fmt.Errorf("scan the aliases of %s/%s: %w", namespace, resolution, err)
		}
		if err := fn(alias, id); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("scan the aliases of %s/%s: %w", namespace, resolution, err)
	}
	return nil
}

func (s *sqlStore) LookupProfile(ctx context.Context, namespace, resolution, id string) (Profile, error) {
	rs, err := s.b.read().query(ctx, s.pq.lookupProfile, namespace, resolution, id)
	if err != nil {
		return Profile{}, fmt.Errorf("look up profile %s of %s/%s: %w", id, namespace, resolution, err)
	}
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return Profile{}, fmt.Errorf("look up profile %s of %s/%s: %w", id, namespace, resolution, err)
		}
		return Profile{}, fmt.Errorf("profile %s of %s/%s: %w", id, namespace, resolution, ErrNotFound)
	}
	var ids, attrs, refs jsonText
	p, err := scanProfile(rs, &ids, &attrs, &refs)
	if err != nil {
		return Profile{}, fmt.Errorf("look up profile %s of %s/%s: %w", id, namespace, resolution, err)
	}
	return p, nil
}

// sqlLookupProfilesPrefix reads profiles by their IDs: ?1 the namespace, ?2 the resolution,
// then the IDs from ?3 (numbered, because the published slot's expression reads ?1 and ?2).
const sqlLookupProfilesPrefix = `SELECT p.profile_id, p.created_generation, p.identifiers, p.attributes, p.records
	FROM profiles AS p
	WHERE p.namespace = ?1 AND p.resolution = ?2 AND p.slot = ` + sqlPublishedSlot + `
		AND p.profile_id IN (`

func (s *sqlStore) LookupProfiles(ctx context.Context, namespace, resolution string, ids []string) (map[string]Profile, error) {
	out := make(map[string]Profile, len(ids))
	for batch := range distinctBatches(ids) {
		args := make([]any, 0, 2+len(batch))
		args = append(args, namespace, resolution)
		placeholders := make([]string, len(batch))
		for i, id := range batch {
			args = append(args, id)
			placeholders[i] = "?" + strconv.Itoa(i+3)
		}
		query := s.d.sql(sqlLookupProfilesPrefix + strings.Join(placeholders, ", ") + ")")
		if err := s.lookupProfiles(ctx, query, args, out); err != nil {
			return nil, fmt.Errorf("look up profiles of %s/%s: %w", namespace, resolution, err)
		}
	}
	// An ID that a later generation merged away is an alias now: found one by one, as rarely.
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		p, err := s.LookupProfile(ctx, namespace, resolution, id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[id] = p
		}
	}
	return out, nil
}

func (s *sqlStore) lookupProfiles(ctx context.Context, query string, args []any, out map[string]Profile) error {
	rs, err := s.b.read().query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	var idsJSON, attrs, refs jsonText
	for rs.Next() {
		p, err := scanProfile(rs, &idsJSON, &attrs, &refs)
		if err != nil {
			return err
		}
		out[p.ID] = p
	}
	return rs.Err()
}

func (s *sqlStore) ProfileOf(ctx context.Context, namespace, resolution string, ref RecordRef) (string, error) {
	rs, err := s.b.read().query(ctx, s.pq.profileOf, namespace, resolution, ref.Source, ref.Key)
	if err != nil {
		return "", fmt.Errorf("look up the profile of record %s/%s in %s/%s: %w", ref.Source, ref.Key, namespace, resolution, err)
	}
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return "", fmt.Errorf("look up the profile of record %s/%s in %s/%s: %w", ref.Source, ref.Key, namespace, resolution, err)
		}
		return "", fmt.Errorf("record %s/%s in %s/%s: %w", ref.Source, ref.Key, namespace, resolution, ErrNotFound)
	}
	var id string
	if err := rs.Scan(&id); err != nil {
		return "", fmt.Errorf("look up the profile of record %s/%s in %s/%s: %w", ref.Source, ref.Key, namespace, resolution, err)
	}
	return id, nil
}

func (s *sqlStore) ResolutionStats(ctx context.Context, namespace, resolution string) (ResolutionStats, error) {
	st, err := s.ResolutionState(ctx, namespace, resolution)
	if err != nil {
		return ResolutionStats{}, err
	}
	var out ResolutionStats
	for _, g := range []struct {
		generation int64
		stats      *GenerationStats
	}{{st.PublishedGeneration, &out.Published}, {st.PublishedGeneration - 1, &out.Previous}} {
		if g.generation <= 0 {
			continue
		}
		g.stats.Generation = g.generation
		if err := s.queryRow(ctx, s.pq.countSlot, []any{namespace, resolution, slotOf(g.generation)},
			&g.stats.Profiles, &g.stats.Records, &g.stats.Aliases); err != nil {
			return ResolutionStats{}, fmt.Errorf("count generation %d of %s/%s: %w", g.generation, namespace, resolution, err)
		}
	}
	return out, nil
}

func (s *sqlStore) ResolutionRuns(ctx context.Context, namespace, resolution string, limit int) ([]ResolutionRun, error) {
	rs, err := s.b.read().query(ctx, s.pq.listRuns, namespace, resolution, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list the runs of %s/%s: %w", namespace, resolution, err)
	}
	defer rs.Close()
	var runs []ResolutionRun
	var ignored jsonText
	for rs.Next() {
		var r ResolutionRun
		var status string
		var started, finished nullTime
		if err := rs.Scan(&r.Namespace, &r.Resolution, &r.RunID, &r.Generation, &r.DryRun, &status,
			&started, &finished, &r.Records, &r.Profiles, &r.Merges, &r.Splits, &r.NewProfiles,
			&ignored, &r.Message); err != nil {
			return nil, fmt.Errorf("list the runs of %s/%s: %w", namespace, resolution, err)
		}
		r.Status = SyncStatus(status)
		r.StartedAt, r.FinishedAt = started.Time, finished.Time
		if r.Ignored, err = decodeIgnored(ignored); err != nil {
			return nil, fmt.Errorf("run %s of %s/%s: decode ignored values: %w", r.RunID, namespace, resolution, err)
		}
		runs = append(runs, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list the runs of %s/%s: %w", namespace, resolution, err)
	}
	return runs, nil
}

// storedIgnored is how an ignored value is kept in a run's JSON.
type storedIgnored struct {
	Type    string `json:"type"`
	Value   string `json:"value"`
	Records int64  `json:"records"`
}

// encodeIgnored keeps the first MaxIgnoredValuesPerRun ignored values, as text both databases
// accept.
func encodeIgnored(in []IgnoredValue) (string, error) {
	out := make([]storedIgnored, 0, min(len(in), MaxIgnoredValuesPerRun))
	for _, v := range in[:min(len(in), MaxIgnoredValuesPerRun)] {
		out = append(out, storedIgnored{
			Type:    diagnosticText(v.Type, maxIgnoredValueBytes),
			Value:   diagnosticText(v.Value, maxIgnoredValueBytes),
			Records: v.Records,
		})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeIgnored(data []byte) ([]IgnoredValue, error) {
	var stored []storedIgnored
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, err
	}
	var out []IgnoredValue
	for _, v := range stored {
		out = append(out, IgnoredValue(v))
	}
	return out, nil
}

// writeResolutionRun records a finished run, replacing an earlier attempt with the same run ID.
func (s *sqlStore) writeResolutionRun(ctx context.Context, q querier, run ResolutionRun) error {
	ignored, err := encodeIgnored(run.Ignored)
	if err != nil {
		return fmt.Errorf("record the run: encode ignored values: %w", err)
	}
	if _, err := q.exec(ctx, s.pq.putRun, run.Namespace, run.Resolution, run.RunID, run.Generation,
		run.DryRun, string(run.Status), s.d.timeArg(run.StartedAt), s.d.timeArg(run.FinishedAt),
		run.Records, run.Profiles, run.Merges, run.Splits, run.NewProfiles, ignored,
		run.Message); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	return nil
}

// resolutionRunFinished tells whether the run already succeeded, reading inside the session's
// transaction, after the resolution's lock is held.
func (s *sqlStore) resolutionRunFinished(ctx context.Context, q querier, run ResolutionRun) (bool, error) {
	status, err := readRunStatus(ctx, q, s.pq.runStatus, run.Namespace, run.Resolution, run.RunID)
	return status == string(SyncSucceeded), err
}

// checkResolutionRun checks what every run needs and returns it as the store keeps it.
func (s *sqlStore) checkResolutionRun(run ResolutionRun) (ResolutionRun, error) {
	for _, f := range []struct{ what, value string }{
		{"namespace", run.Namespace}, {"resolution", run.Resolution}, {"run ID", run.RunID},
	} {
		if err := checkKey(f.what, f.value); err != nil {
			return ResolutionRun{}, err
		}
	}
	if run.StartedAt.IsZero() {
		run.StartedAt = s.clock.Now()
	}
	run.StartedAt = storedTime(run.StartedAt)
	run.Message = diagnosticText(run.Message, maxMessageBytes)
	return run, nil
}

func (s *sqlStore) PutResolutionRun(ctx context.Context, run ResolutionRun) error {
	run, err := s.checkResolutionRun(run)
	if err != nil {
		return fmt.Errorf("record resolution run: %w", err)
	}
	switch {
	case run.DryRun && (run.Status == SyncSucceeded || run.Status == SyncFailed):
	case !run.DryRun && run.Status == SyncFailed:
	default:
		return fmt.Errorf("record resolution run %s of %s/%s: a %s run that is not a dry run publishes: use BeginPublish",
			run.RunID, run.Namespace, run.Resolution, run.Status)
	}
	if run.FinishedAt.IsZero() {
		run.FinishedAt = s.clock.Now()
	}
	run.FinishedAt = storedTime(run.FinishedAt)
	if err := s.putResolutionRun(ctx, run); err != nil {
		return fmt.Errorf("record resolution run %s of %s/%s: %w", run.RunID, run.Namespace, run.Resolution, err)
	}
	return nil
}

// putResolutionRun records a run in a transaction of its own, holding the resolution's lock, unless
// the run ID already succeeded.
func (s *sqlStore) putResolutionRun(ctx context.Context, run ResolutionRun) error {
	sess, err := s.b.session(ctx)
	if err != nil {
		return err
	}
	defer sess.release()
	return s.putResolutionRunIn(ctx, sess, run)
}

func (s *sqlStore) putResolutionRunIn(ctx context.Context, sess session, run ResolutionRun) error {
	if err := sess.begin(ctx, resolutionLock(run.Namespace, run.Resolution)); err != nil {
		return err
	}
	finished, err := s.resolutionRunFinished(ctx, sess, run)
	if err == nil && finished {
		err = ErrRunFinished
	}
	if err == nil {
		err = s.writeResolutionRun(ctx, sess, run)
	}
	if err != nil {
		return errors.Join(err, sess.rollback(ctx))
	}
	if err := sess.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// recordRefKey is the key of a membership row in a publish: source and key joined by a NUL byte,
// which neither holds, so that keys sort as (source, key) pairs do.
func appendRecordRefKey(buf []byte, ref RecordRef) []byte {
	buf = append(buf, ref.Source...)
	buf = append(buf, 0)
	return append(buf, ref.Key...)
}

func compareRecordRefs(a, b RecordRef) int {
	if c := cmp.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return cmp.Compare(a.Key, b.Key)
}

// encodeRecordRefs writes sorted references as a JSON object of keys by source,
// {"crm":["1","7"],"shop":["a"]}: shorter than a list of pairs, and SQL can ask for a source.
func encodeRecordRefs(buf []byte, refs []RecordRef) []byte {
	buf = append(buf, '{')
	for i, r := range refs {
		if i == 0 || r.Source != refs[i-1].Source {
			if i > 0 {
				buf = append(buf, ']', ',')
			}
			buf = appendJSONString(buf, r.Source)
			buf = append(buf, ':', '[')
		} else {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, r.Key)
	}
	if len(refs) > 0 {
		buf = append(buf, ']')
	}
	return append(buf, '}')
}

func decodeRecordRefs(data []byte) ([]RecordRef, error) {
	bySource := map[string][]string{}
	if err := json.Unmarshal(data, &bySource); err != nil {
		return nil, fmt.Errorf("decode records: %w", err)
	}
	n := 0
	for _, keys := range bySource {
		n += len(keys)
	}
	refs := make([]RecordRef, 0, n)
	for source, keys := range bySource {
		for _, k := range keys {
			refs = append(refs, RecordRef{Source: source, Key: k})
		}
	}
	slices.SortFunc(refs, compareRecordRefs)
	return refs, nil
}
