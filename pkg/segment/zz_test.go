package segment

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

func TestZZ(t *testing.T) {
	ctx := context.Background()
	d := openDatabases(t)[1]
	d.generate(t, 1000000, 10000000)
	rule := allOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("90d"), Count: count("GreaterThanOrEqual", 2)})),
		nestedNot(leaf(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("30d")}))),
		nested(attr("prefecture", "In", "東京都", "神奈川県")),
	)
	rule2 := allOf(
		nested(event(cdpv1alpha1.EventCondition{Type: "purchase", Within: duration("90d"), Count: count("GreaterThanOrEqual", 2)})),
		nestedNot(leaf(event(cdpv1alpha1.EventCondition{Type: "email_opened", Within: duration("30d")}))),
		nested(rfm(cdpv1alpha1.RFMCondition{EventType: "purchase", AmountProperty: "amount", Recency: scores(4, 5), Monetary: scores(4, 5)})),
		nested(attr("prefecture", "In", "東京都", "神奈川県")),
	)
	for ri, r := range []cdpv1alpha1.SegmentRule{rule, rule2} {
		q, _ := Compile(&r, fixtureOptions(PostgreSQL))
		for _, v := range []struct{ set, text string }{
			{"", q.SQL},
			{"", strings.ReplaceAll(strings.ReplaceAll(q.SQL, "ev1 AS (", "ev1 AS MATERIALIZED ("), "ev2 AS (", "ev2 AS MATERIALIZED (")},
			{"", strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(q.SQL, "ev1 AS (", "ev1 AS MATERIALIZED ("), "ev2 AS (", "ev2 AS MATERIALIZED ("), "rfm3 AS (", "rfm3 AS MATERIALIZED (")},
			{"SET max_parallel_workers_per_gather = 0", q.SQL},
		} {
			conn, _ := d.db.Conn(ctx)
			if v.set != "" {
				conn.ExecContext(ctx, v.set)
			}
			for k := range 3 {
				start := time.Now()
				text := v.text
				if k == 2 {
					text = "EXPLAIN (ANALYZE) " + text
				}
				rows, err := conn.QueryContext(ctx, text, q.Args...)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				var plan []string
				for rows.Next() {
					var s string
					rows.Scan(&s)
					plan = append(plan, s)
					n++
				}
				rows.Close()
				fmt.Println("rule", ri, "mat", strings.Count(text, "MATERIALIZED"), v.set, n, time.Since(start))
				if k == 2 {
					fmt.Println(strings.Join(plan, "\n"))
				}
			}
			conn.Close()
		}
	}
}
