package segment

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

var (
	benchProfiles = flag.Int("segment.profiles", 1_000_000, "profiles in BenchmarkQuery")
	benchEvents   = flag.Int("segment.events", 10_000_000, "events in BenchmarkQuery")
	benchPlan     = flag.Bool("segment.plan", false, "log the query plans of BenchmarkQuery")
)

// BenchmarkQuery times the audience of the performance target on both databases: at least two
// purchases in the last 90 days, none in the last 30, and a prefecture in Tokyo or Kanagawa.
// The data is generated inside the databases: profiles in 47 prefectures, each with one e-mail
// address linked to it, and events spread over 400 days, four in ten of them purchases.
func BenchmarkQuery(b *testing.B) {
	rule := allOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("90d"), Count: count("GreaterThanOrEqual", 2)})),
		nestedNot(leaf(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d")}))),
		nested(attr("prefecture", "In", "東京都", "神奈川県")),
	)
	dbs := openDatabases(b)
	for _, d := range dbs {
		b.Run(d.dialect.String(), func(b *testing.B) {
			start := time.Now()
			d.generate(b, *benchProfiles, *benchEvents)
			b.Logf("%s: generated %d profiles and %d events in %s", d.dialect, *benchProfiles, *benchEvents, time.Since(start).Round(time.Second))
			opts := fixtureOptions(d.dialect)
			q, err := Compile(&rule, opts)
			if err != nil {
				b.Fatal(err)
			}
			if *benchPlan {
				d.logPlan(b, q)
			}
			var n int
			for b.Loop() {
				n = len(d.query(b, q, true))
			}
			b.ReportMetric(float64(n), "members")
		})
	}
}

// generate fills the database with SQL alone: a round trip per row would take longer than the
// query measured.
func (d *database) generate(b testing.TB, profiles, events int) {
	b.Helper()
	const window = int64(400 * 24 * time.Hour / time.Microsecond)
	now := floorMicro(fixtureNow)
	var statements []string
	if d.dialect == SQLite {
		series := func(n int) string {
			return fmt.Sprintf("WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d) ", n-1)
		}
		statements = []string{
			series(profiles) + fmt.Sprintf(`INSERT INTO profiles (namespace, resolution, slot, profile_id, created_generation, identifiers, attributes, records, content_hash)
				SELECT '%s', '%s', %d, printf('cus-%%016d', i), 1, json_object('Email', json_array('u' || i || '@x.jp')),
					json_object('prefecture', CASE i %% 47 WHEN 0 THEN '東京都' WHEN 1 THEN '神奈川県' ELSE 'pref-' || (i %% 47) END, 'age', i %% 80), '{}', 0 FROM s`,
				testNamespace, testResolution, testSlot),
			series(profiles) + fmt.Sprintf(`INSERT INTO identity_links (namespace, resolution, identifier_type, identifier_value, profile_id)
				SELECT '%s', '%s', 'Email', 'u' || i || '@x.jp', printf('cus-%%016d', i) FROM s`, testNamespace, testResolution),
			series(events) + fmt.Sprintf(`INSERT INTO events (namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, received_at)
				SELECT '%s', 'shop', printf('e%%010d', i), CASE WHEN i %% 10 < 4 THEN 'purchase' WHEN i %% 10 < 9 THEN 'page_view' ELSE 'email_opened' END,
					%d - (i * 2654435761) %% %d, 'Email', 'u' || ((i * 40503) %% %d) || '@x.jp', json_object('amount', (i %% 200) * 100), %d FROM s`,
				testNamespace, now, window, profiles, now),
			"ANALYZE",
		}
	} else {
		statements = []string{
			fmt.Sprintf(`INSERT INTO profiles (namespace, resolution, slot, profile_id, created_generation, identifiers, attributes, records, content_hash)
				SELECT '%s', '%s', %d, 'cus-' || lpad(i::text, 16, '0'), 1, jsonb_build_object('Email', jsonb_build_array('u' || i || '@x.jp')),
					jsonb_build_object('prefecture', CASE i %% 47 WHEN 0 THEN '東京都' WHEN 1 THEN '神奈川県' ELSE 'pref-' || (i %% 47) END, 'age', i %% 80), '{}', 0
				FROM generate_series(0, %d) i`, testNamespace, testResolution, testSlot, profiles-1),
			fmt.Sprintf(`INSERT INTO identity_links (namespace, resolution, identifier_type, identifier_value, profile_id)
				SELECT '%s', '%s', 'Email', 'u' || i || '@x.jp', 'cus-' || lpad(i::text, 16, '0') FROM generate_series(0, %d) i`,
				testNamespace, testResolution, profiles-1),
			fmt.Sprintf(`INSERT INTO events (namespace, source, event_id, event_type, occurred_at, identifier_type, identifier_value, properties, received_at)
				SELECT '%s', 'shop', 'e' || lpad(i::text, 10, '0'), CASE WHEN i %% 10 < 4 THEN 'purchase' WHEN i %% 10 < 9 THEN 'page_view' ELSE 'email_opened' END,
					to_timestamp((%d - (i * 2654435761) %% %d) / 1e6), 'Email', 'u' || ((i * 40503) %% %d) || '@x.jp', jsonb_build_object('amount', (i %% 200) * 100), now()
				FROM generate_series(0::bigint, %d) i`, testNamespace, now, window, profiles, events-1),
			// A second VACUUM marks the pages all-visible, as autovacuum keeps a live table,
			// so that the events are read from the index alone.
			"VACUUM ANALYZE", "VACUUM",
		}
	}
	for _, s := range statements {
		if _, err := d.db.ExecContext(context.Background(), s); err != nil {
			b.Fatalf("%s: %v", s, err)
		}
	}
}

func (d *database) logPlan(b *testing.B, q Query) {
	b.Helper()
	explain := "EXPLAIN QUERY PLAN "
	if d.dialect == PostgreSQL {
		explain = "EXPLAIN (ANALYZE, BUFFERS) "
	}
	rows, err := d.db.QueryContext(context.Background(), explain+q.SQL, q.Args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, fmt.Sprint(vals...))
	}
	b.Logf("%s plan:\n%s", d.dialect, strings.Join(plan, "\n"))
}
