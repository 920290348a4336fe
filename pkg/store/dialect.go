package store

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// dialect holds every difference in SQL text between the backends. The shared queries are written
// once, with ? placeholders and {name} slots that a dialect fills: the staging tables' names, the
// type a bare time parameter must be cast to, the cast of staged JSON, and the two clauses each
// database runs fastest its own way (which records a snapshot did not stage, which staged
// records are new).
type dialect struct {
	// name is what Store.Dialect returns.
	name string
	// analyzeAfterLoad, when set, refreshes a table's planner statistics (%s is the table) after
	// a commit that added many rows: autovacuum analyzes only a minute or more later, and a
	// segment's query planned on the empty table's statistics joins by nested loops, minutes
	// instead of seconds.
	analyzeAfterLoad string
	// migrations is the folder of migrations/ for this dialect.
	migrations string
	// dollarPlaceholders: PostgreSQL numbers its parameters ($1, $2); SQLite takes ?.
	dollarPlaceholders bool
	// slots fill the {name} slots of the shared queries.
	slots *strings.Replacer
	// createMigrationsTable is the bookkeeping table of the migration runner.
	createMigrationsTable string
	// createStageRecords and createStageEvents create the temporary tables a sync writes into
	// before its set-based merge at Commit. indexStageRecords adds an index on the staged keys
	// when the key filter first asks for an exact check; empty, the key is indexed from the start.
	createStageRecords string
	indexStageRecords  string
	createStageEvents  string
	// stageRecordsByKey reads the staged records for the merge of input that did not arrive in
	// key order: in key order for SQLite, which then writes the records' B-tree page after page
	// instead of all over it (past the page cache, a read and a write per row).
	stageRecordsByKey string
	// timeArg turns a time into the parameter value of a time column.
	timeArg func(time.Time) any
	// createSegmentNew creates the temporary table that holds the profiles a segment's query
	// returns; fillSegmentNew fills it from the query (%s), one row per distinct profile ID, and
	// analyzeSegmentNew, when set, gives the planner its size before the diff reads it.
	createSegmentNew, fillSegmentNew, analyzeSegmentNew string
	// selectSegmentFirst runs a segment's query on its own and copies its result into the
	// temporary table, instead of filling it with INSERT ... SELECT (see EvaluateSegment).
	selectSegmentFirst bool
	// movePendingEvents move the delivery events pending up to id ?2 into events, received at ?1.
	movePendingEvents []string
}

var sqliteDialect = &dialect{
	name:               DialectSQLite,
	migrations:         "migrations/sqlite",
	dollarPlaceholders: false,
	slots: strings.NewReplacer(
		"{stage_records}", "temp.kizuna_stage_records",
		"{stage_events}", "temp.kizuna_stage_events",
		"{segment_new}", "temp.kizuna_segment_new",
		"{time}", "INTEGER",
		"{json}", "",
		// The staged keys have no index: SQLite reads them once into a temporary B-tree for
		// NOT IN, where it would scan them for each record with NOT EXISTS.
		"{not_staged}", "record_key NOT IN (SELECT record_key FROM temp.kizuna_stage_records)",
		// SQLite checks the key on insert anyway: skipping a conflict costs nothing more.
		"{only_new_records}", "WHERE true ON CONFLICT (namespace, source, record_key) DO NOTHING",
		// A row's place in its run's plan: the rowid, which every index of the table ends with.
		// VACUUM may renumber the rowids of a table without an INTEGER PRIMARY KEY: the store
		// never runs it, and a VACUUM by hand must wait until no delivery runs, or a worker's
		// cursor would point at other rows.
		"{seq}", "rowid",
		// The one writer serialises a takeover with the outcomes it fences.
		"{for_share}", "",
		// An UPDATE in a transaction that may abort on a constraint keeps a statement journal,
		// a temporary file of every page it changes, to undo itself alone: a tenth of an
		// outcome's time. Outcomes set no column a constraint could refuse, so they run with
		// OR IGNORE, which never aborts and needs no journal.
		"{update_no_abort}", "UPDATE OR IGNORE",
	),
	createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`,
	// No index on the key until an exact check needs one, which most syncs never do: its upkeep
	// costs a sixth of a load. The merge does not need it: SQLite walks the staging table and
	// looks records up by their primary key.
	createStageRecords: `CREATE TEMP TABLE kizuna_stage_records (
		record_key   TEXT NOT NULL,
		identifiers  TEXT NOT NULL,
		attributes   TEXT NOT NULL,
		content_hash BLOB NOT NULL)`,
	indexStageRecords: `CREATE UNIQUE INDEX temp.kizuna_stage_records_key ON kizuna_stage_records (record_key)`,
	createStageEvents: `CREATE TEMP TABLE kizuna_stage_events (
		event_id         TEXT    NOT NULL,
		event_type       TEXT    NOT NULL,
		occurred_at      INTEGER NOT NULL,
		identifier_type  TEXT    NOT NULL,
		identifier_value TEXT    NOT NULL,
		properties       TEXT    NOT NULL,
		received_at      INTEGER NOT NULL)`,
	// The unary + keeps SQLite from walking the key index, which would fetch rows all over the
	// staging table; a sort reads it once.
	stageRecordsByKey: `(SELECT * FROM temp.kizuna_stage_records ORDER BY +record_key)`,
	timeArg:           func(t time.Time) any { return t.UnixMicro() },
	// The key is the index the diff looks profiles up by; a conflict skips a duplicate, where
	// DISTINCT would sort the IDs into a B-tree of its own first. Not INSERT OR IGNORE, which
	// would skip a NULL ID too: ON CONFLICT covers uniqueness alone.
	createSegmentNew: `CREATE TEMP TABLE kizuna_segment_new (
		profile_id TEXT NOT NULL PRIMARY KEY) WITHOUT ROWID`,
	fillSegmentNew: "INSERT INTO temp.kizuna_segment_new (profile_id) SELECT * FROM (\n%s\n) AS q WHERE true ON CONFLICT DO NOTHING",
	// The transaction is the only writer: nothing is added between the two statements.
	movePendingEvents: []string{
		`INSERT INTO events (namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, received_at)
		SELECT namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, ?1
		FROM delivery_events_pending WHERE id <= ?2 ORDER BY id
		ON CONFLICT (namespace, source, event_id) DO NOTHING`,
		`DELETE FROM delivery_events_pending WHERE id <= ?2`,
	},
}

var postgresDialect = &dialect{
	name:               DialectPostgres,
	migrations:         "migrations/postgres",
	dollarPlaceholders: true,
	// One statement: a second one would take a new snapshot, and delete a row committed between
	// the two that the first did not copy.
	movePendingEvents: []string{`WITH moved AS (
			DELETE FROM delivery_events_pending WHERE id <= $2
			RETURNING id, namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties)
		INSERT INTO events (namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, received_at)
		SELECT namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, CAST($1 AS timestamptz)
		FROM moved ORDER BY id
		ON CONFLICT (namespace, source, event_id) DO NOTHING`},
	slots: strings.NewReplacer(
		"{stage_records}", "pg_temp.kizuna_stage_records",
		"{stage_events}", "pg_temp.kizuna_stage_events",
		"{segment_new}", "pg_temp.kizuna_segment_new",
		"{time}", "timestamptz",
		"{json}", "::jsonb",
		// PostgreSQL turns NOT EXISTS into a hashed anti-join; NOT IN would become a subplan
		// scanned per record once the keys outgrow work_mem.
		"{not_staged}", `NOT EXISTS (SELECT 1 FROM pg_temp.kizuna_stage_records AS s
			WHERE s.record_key = records.record_key)`,
		// Not ON CONFLICT: PostgreSQL's speculative insertion would double the cost of a row,
		// and the source's lock keeps other writers of its records away.
		"{only_new_records}", `WHERE NOT EXISTS (SELECT 1 FROM records AS r
			WHERE r.namespace = ?1 AND r.source = ?2 AND r.record_key = s.record_key)`,
		"{seq}", "seq",
		// A takeover of a shard waits for the transactions that write its rows, and they for it.
		"{for_share}", "FOR SHARE",
		"{update_no_abort}", "UPDATE",
	),
	createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL)`,
	// The maps are staged as text: parsing jsonb is the dearest part of loading a row, and the
	// merge parses only the records that are new or changed.
	//
	// The key is indexed from the start: right after a bulk load, the statistics of records can
	// say a source holds one row, and the planner then joins with a nested loop over the
	// staging table, which without the index reads it once per record.
	createStageRecords: `CREATE TEMP TABLE kizuna_stage_records (
		record_key   text COLLATE "C" NOT NULL PRIMARY KEY,
		identifiers  text NOT NULL,
		attributes   text NOT NULL,
		content_hash bytea NOT NULL)`,
	// Events are nearly all new: their properties are parsed while they are copied in, at the
	// same time as the writer encodes the next batch.
	createStageEvents: `CREATE TEMP TABLE kizuna_stage_events (
		event_id         text COLLATE "C" NOT NULL,
		event_type       text NOT NULL,
		occurred_at      timestamptz NOT NULL,
		identifier_type  text NOT NULL,
		identifier_value text NOT NULL,
		properties       jsonb NOT NULL,
		received_at      timestamptz NOT NULL)`,
	// Sorting first costs PostgreSQL more than inserting out of order saves.
	stageRecordsByKey: `pg_temp.kizuna_stage_records`,
	timeArg:           func(t time.Time) any { return t },
	// No index: PostgreSQL diffs with hashed anti-joins, and DISTINCT's hash costs less than
	// the speculative insertion of ON CONFLICT. A temporary table has no statistics until it
	// is analyzed, and the planner would guess its size.
	createSegmentNew:   `CREATE TEMP TABLE kizuna_segment_new (profile_id text COLLATE "C" NOT NULL)`,
	fillSegmentNew:     "INSERT INTO pg_temp.kizuna_segment_new (profile_id) SELECT DISTINCT * FROM (\n%s\n) AS q",
	analyzeSegmentNew:  `ANALYZE pg_temp.kizuna_segment_new`,
	selectSegmentFirst: true,
	analyzeAfterLoad:   `ANALYZE %s`,
}

// sql fills the slots of a shared query and numbers its placeholders for the dialect: ? is the
// next parameter, ?N the N-th (both SQLite's syntax), and PostgreSQL's $N replaces either. A query
// uses one form or the other, and holds no ? inside string literals.
func (d *dialect) sql(query string) string {
	query = d.slots.Replace(query)
	if !d.dollarPlaceholders {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		b.WriteByte('$')
		if i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9' {
			continue // ?N: keep its number
		}
		n++
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// valuesList writes rows groups of cols placeholders: "(?, ?), (?, ?)".
func valuesList(rows, cols int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(group+", ", rows), ", ")
}

// lockKey names the PostgreSQL advisory lock of a resource. A collision between two names only
// makes two unrelated syncs wait for each other.
func lockKey(parts ...string) int64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int64(h.Sum64()) //nolint:gosec // a lock key only needs 64 bits, the sign does not matter
}

// The shared queries. Each backend compiles them once with its dialect.
const (
	runColumns = `namespace, source, run_id, mode, status, started_at, finished_at, rows_read,
		rows_loaded, rows_quarantined, inserted, updated, unchanged, records_deleted, message`

	sqlGetRun = `SELECT ` + runColumns + ` FROM sync_runs
		WHERE namespace = ? AND source = ? AND run_id = ?`

	sqlListRuns = `SELECT ` + runColumns + ` FROM sync_runs
		WHERE namespace = ? AND source = ?
		ORDER BY started_at DESC, run_id DESC LIMIT ?`

	sqlRunStatus = `SELECT status FROM sync_runs WHERE namespace = ? AND source = ? AND run_id = ?`

	sqlFinishRun = `INSERT INTO sync_runs (` + runColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, source, run_id) DO UPDATE SET
			mode = excluded.mode, status = excluded.status, started_at = excluded.started_at,
			finished_at = excluded.finished_at, rows_read = excluded.rows_read,
			rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
			inserted = excluded.inserted, updated = excluded.updated, unchanged = excluded.unchanged,
			records_deleted = excluded.records_deleted, message = excluded.message`

	sqlDeleteQuarantined = `DELETE FROM quarantined_rows WHERE namespace = ? AND source = ? AND run_id = ?`

	sqlInsertQuarantinedPrefix = `INSERT INTO quarantined_rows
		(namespace, source, run_id, position, row_number, reason, raw) VALUES `

	sqlListQuarantined = `SELECT row_number, reason, raw FROM quarantined_rows
		WHERE namespace = ? AND source = ? AND run_id = ?
		ORDER BY row_number, position LIMIT ?`

	sqlScanRecords = `SELECT record_key, identifiers, attributes, first_seen_at, updated_at, deleted_at
		FROM records WHERE namespace = ? AND source = ? ORDER BY record_key`

	sqlScanLiveRecords = `SELECT record_key, identifiers, attributes, updated_at
		FROM records WHERE namespace = ? AND source = ? AND deleted_at IS NULL ORDER BY record_key`

	sqlScanEvents = `SELECT event_id, event_type, occurred_at, identifier_type, identifier_value,
			properties, received_at
		FROM events WHERE namespace = ? AND source = ? ORDER BY occurred_at, event_id`

	sqlGetSourceState = `SELECT etag, last_modified, cursor_value FROM source_state
		WHERE namespace = ? AND source = ?`

	sqlPutSourceState = `INSERT INTO source_state
			(namespace, source, etag, last_modified, cursor_value, run_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, source) DO UPDATE SET
			etag = excluded.etag, last_modified = excluded.last_modified,
			cursor_value = excluded.cursor_value, run_id = excluded.run_id,
			updated_at = excluded.updated_at`

	sqlStagedKey = `SELECT 1 FROM {stage_records} WHERE record_key = ?`

	sqlDropStageRecords = `DROP TABLE IF EXISTS {stage_records}`
	sqlDropStageEvents  = `DROP TABLE IF EXISTS {stage_events}`

	// The merge of a records sync, in this order: mark deleted what a snapshot did not hold,
	// update what changed (or comes back from deletion), insert what is new. Unchanged records
	// are not written at all, so their updated_at stays. {staged} reads the staging table as it
	// is, or in key order. Parameters: ?1 namespace, ?2 source, ?3 the sync's time.
	sqlMergeUpdated = `UPDATE records SET
			identifiers = s.identifiers{json}, attributes = s.attributes{json},
			content_hash = s.content_hash, updated_at = ?3, deleted_at = NULL
		FROM {staged} AS s
		WHERE records.namespace = ?1 AND records.source = ?2 AND records.record_key = s.record_key
			AND (records.content_hash <> s.content_hash OR records.deleted_at IS NOT NULL)`

	sqlMergeInserted = `INSERT INTO records (namespace, source, record_key, identifiers, attributes,
			content_hash, first_seen_at, updated_at)
		SELECT ?1, ?2, s.record_key, s.identifiers{json}, s.attributes{json}, s.content_hash,
			CAST(?3 AS {time}), CAST(?3 AS {time})
		FROM {staged} AS s
		{only_new_records}`

	sqlAnyRecords = `SELECT 1 FROM records WHERE namespace = ? AND source = ? LIMIT 1`
	sqlStoredKey  = `SELECT 1 FROM records WHERE namespace = ? AND source = ? AND record_key = ?`

	sqlCountLiveRecords = `SELECT count(*) FROM records
		WHERE namespace = ? AND source = ? AND deleted_at IS NULL`

	sqlMergeDeleted = `UPDATE records SET deleted_at = ?1, updated_at = ?1
		WHERE namespace = ?2 AND source = ?3 AND deleted_at IS NULL AND {not_staged}`

	// Events are never updated: an ID already stored, or staged twice, is skipped.
	sqlMergeEvents = `INSERT INTO events (namespace, source, event_id, event_type, occurred_at,
			identifier_type, identifier_value, properties, received_at)
		SELECT ?, ?, s.event_id, s.event_type, s.occurred_at, s.identifier_type, s.identifier_value,
			s.properties, s.received_at
		FROM {stage_events} AS s WHERE true
		ON CONFLICT (namespace, source, event_id) DO NOTHING`
)
