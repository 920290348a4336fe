package storetest

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// inDialect writes a query with ? placeholders in the store's dialect, as the segment compiler
// would: PostgreSQL numbers them.
func inDialect(t *testing.T, s store.Store, query string) string {
	t.Helper()
	switch s.Dialect() {
	case store.DialectSQLite:
		return query
	case store.DialectPostgres:
		var b strings.Builder
		n := 0
		for _, r := range query {
			if r == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	default:
		t.Fatalf("Dialect() = %q, want %q or %q", s.Dialect(), store.DialectSQLite, store.DialectPostgres)
		return ""
	}
}

// listQuery is a query that returns ids, as parameters, duplicates and all.
func listQuery(t *testing.T, s store.Store, ids ...string) (string, []any) {
	t.Helper()
	if len(ids) == 0 {
		return `SELECT column1 FROM (VALUES ('none')) AS v WHERE column1 <> 'none'`, nil
	}
	cast := "?"
	if s.Dialect() == store.DialectPostgres {
		cast = "CAST(? AS text)"
	}
	groups := strings.TrimSuffix(strings.Repeat("("+cast+"), ", len(ids)), ", ")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return inDialect(t, s, `SELECT column1 FROM (VALUES `+groups+`) AS v`), args
}

func queryProfiles(t *testing.T, s store.Store, query string, args ...any) []string {
	t.Helper()
	var out []string
	if err := s.QueryProfiles(t.Context(), inDialect(t, s, query), args, func(id string) error {
		out = append(out, id)
		return nil
	}); err != nil {
		t.Fatalf("QueryProfiles: %v", err)
	}
	return out
}

// linksOf lists a resolution's links as "type:value=profile", through a query as a segment's
// would read them.
func linksOf(t *testing.T, s store.Store, resolution string) []string {
	t.Helper()
	return queryProfiles(t, s, `SELECT identifier_type || ':' || identifier_value || '=' || profile_id
		FROM identity_links WHERE namespace = ? AND resolution = ?
		ORDER BY identifier_type, identifier_value`, ns, resolution)
}

func link(idType, value, profileID string) store.IdentityLink {
	return store.IdentityLink{Type: idType, Value: value, ProfileID: profileID}
}

func writeLinks(t *testing.T, s store.Store, u store.IdentityLinkUpdate, links ...store.IdentityLink) {
	t.Helper()
	if err := s.WriteIdentityLinks(t.Context(), u, slices.Values(links)); err != nil {
		t.Fatalf("WriteIdentityLinks: %v", err)
	}
}

func eventIdentifiers(t *testing.T, s store.Store, after time.Time) []string {
	t.Helper()
	var out []string
	if err := s.EventIdentifiers(t.Context(), ns, after, func(idType, value string) error {
		out = append(out, idType+":"+value)
		return nil
	}); err != nil {
		t.Fatalf("EventIdentifiers: %v", err)
	}
	return out
}

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	want = want.UTC().Truncate(time.Microsecond)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v in UTC", what, got, want)
	}
}

var identityLinkTests = []test{
	{"links are upserted, replaced, and kept apart by resolution", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		u := store.IdentityLinkUpdate{Namespace: ns, Resolution: resolution, Generation: 1, Replace: true}
		writeLinks(t, s, store.IdentityLinkUpdate{Namespace: ns, Resolution: "other", Generation: 4},
			link("Email", "a@example.com", "o1"))
		writeLinks(t, s, u, link("Email", "a@example.com", "p1"), link("Phone", "+8190", "p2"),
			link("Email", "a@example.com", "p3"), link("Email", "B@example.com", "p2"))
		mustEqual(t, "first write", linksOf(t, s, resolution),
			[]string{"Email:B@example.com=p2", "Email:a@example.com=p3", "Phone:+8190=p2"})

		u.Replace, u.Generation = false, 1
		writeLinks(t, s, u, link("Phone", "+8190", "p5"), link("Email", "c@example.com", "p4"))
		mustEqual(t, "upsert", linksOf(t, s, resolution),
			[]string{"Email:B@example.com=p2", "Email:a@example.com=p3", "Email:c@example.com=p4", "Phone:+8190=p5"})

		u.Replace, u.Generation = true, 2
		writeLinks(t, s, u, link("Email", "d@example.com", "p6"))
		mustEqual(t, "replace", linksOf(t, s, resolution), []string{"Email:d@example.com=p6"})
		mustEqual(t, "other resolution", linksOf(t, s, "other"), []string{"Email:a@example.com=o1"})
	}},
	{"the link state round-trips and is zero before the first write", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		st, err := s.IdentityLinkState(t.Context(), ns, resolution)
		if err != nil || st != (store.IdentityLinkState{}) {
			t.Fatalf("IdentityLinkState before any write = %+v, %v; want zero", st, err)
		}
		through := time.Date(2025, 3, 1, 19, 0, 0, 123456789, jst)
		writeLinks(t, s, store.IdentityLinkUpdate{Namespace: ns, Resolution: resolution, Generation: 7, ReceivedThrough: through})
		st, err = s.IdentityLinkState(t.Context(), ns, resolution)
		if err != nil {
			t.Fatal(err)
		}
		if st.Generation != 7 {
			t.Errorf("Generation = %d, want 7", st.Generation)
		}
		checkTime(t, "ReceivedThrough", st.ReceivedThrough, through)
		if other, err := s.IdentityLinkState(t.Context(), "team-b", resolution); err != nil || other != (store.IdentityLinkState{}) {
			t.Errorf("state of another namespace = %+v, %v; want zero", other, err)
		}
	}},
	{"a write of many batches keeps the last link of each identifier", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		// 12,000 links over 7,000 identifiers: the second link of each of the first 5,000 comes
		// batches later, and "dup" comes twice in one batch.
		links := func(yield func(store.IdentityLink) bool) {
			for i := range 12000 {
				if !yield(link("Email", fmt.Sprintf("v%05d", i%7000), fmt.Sprintf("p%d", i))) {
					return
				}
			}
			_ = yield(link("Email", "dup", "first")) && yield(link("Email", "dup", "last"))
		}
		u := store.IdentityLinkUpdate{Namespace: ns, Resolution: resolution, Generation: 1, Replace: true}
		if err := s.WriteIdentityLinks(t.Context(), u, links); err != nil {
			t.Fatal(err)
		}
		var want []string
		for v := range 7000 {
			p := v
			if v < 5000 {
				p = v + 7000
			}
			want = append(want, fmt.Sprintf("Email:v%05d=p%d", v, p))
		}
		want = append([]string{"Email:dup=last"}, want...)
		mustEqual(t, "links", linksOf(t, s, resolution), want)
	}},
	{"readers see the old links until a write commits, and a failed write changes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		old := store.IdentityLinkUpdate{Namespace: ns, Resolution: resolution, Generation: 1,
			ReceivedThrough: t0, Replace: true}
		writeLinks(t, s, old, link("Email", "a@example.com", "p1"))
		before := []string{"Email:a@example.com=p1"}

		// Past the first batch of either backend, so that rows are written before the reader looks.
		const checkAt = 6000
		var during []string
		replace := func(bad bool) iter.Seq[store.IdentityLink] {
			return func(yield func(store.IdentityLink) bool) {
				for i := range checkAt + 10 {
					if i == checkAt {
						during = linksOf(t, s, resolution)
						if bad {
							_ = yield(link("Email", "", "p0"))
							return
						}
					}
					if !yield(link("Email", fmt.Sprintf("n%05d", i), "p2")) {
						return
					}
				}
			}
		}
		u := store.IdentityLinkUpdate{Namespace: ns, Resolution: resolution, Generation: 2, ReceivedThrough: t0.Add(time.Hour), Replace: true}
		err := s.WriteIdentityLinks(t.Context(), u, replace(true))
		if err == nil || !strings.Contains(err.Error(), "identifier value is empty") {
			t.Errorf("WriteIdentityLinks with an empty identifier value: %v, want an error that says so", err)
		}
		mustEqual(t, "links during the failed write", during, before)
		mustEqual(t, "links after the failed write", linksOf(t, s, resolution), before)
		st, err := s.IdentityLinkState(t.Context(), ns, resolution)
		if err != nil || st.Generation != 1 || !st.ReceivedThrough.Equal(t0) {
			t.Errorf("state after the failed write = %+v, %v; want generation 1 through %v", st, err, t0)
		}

		if err := s.WriteIdentityLinks(t.Context(), u, replace(false)); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "links during the write", during, before)
		if got := linksOf(t, s, resolution); len(got) != checkAt+10 || got[0] != "Email:n00000=p2" {
			t.Errorf("after the write: %d links starting %q, want %d starting Email:n00000=p2", len(got), got[:min(len(got), 1)], checkAt+10)
		}
	}},
	{"writes that name nothing are refused", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		for _, u := range []store.IdentityLinkUpdate{
			{Resolution: resolution}, {Namespace: ns}, {Namespace: ns, Resolution: resolution, Generation: -1},
		} {
			if err := s.WriteIdentityLinks(t.Context(), u, slices.Values([]store.IdentityLink{link("Email", "a", "p1")})); err == nil {
				t.Errorf("WriteIdentityLinks(%+v) succeeded", u)
			}
		}
	}},
	{"event identifiers are distinct, ordered, and filtered by receipt", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		if latest, err := s.LatestEventReceipt(t.Context(), ns); err != nil || !latest.IsZero() {
			t.Errorf("LatestEventReceipt without events = %v, %v; want the zero time", latest, err)
		}
		at := func(e store.Event, received time.Duration) store.Event {
			e.ReceivedAt = t0.Add(received).In(jst)
			return e
		}
		phone := click("e4", t0, "+8190")
		phone.IdentifierType = "Phone"
		syncEvents(t, s, newRun("web", "r1", store.SyncAppend), []store.Event{
			at(click("e1", t0, "a@example.com"), time.Second),
			at(click("e2", t0, "a@example.com"), 2*time.Second),
			at(click("e3", t0, "B@example.com"), 2*time.Second),
		})
		syncEvents(t, s, newRun("app", "r1", store.SyncAppend), []store.Event{at(phone, 3*time.Second+time.Microsecond)})
		other := newRun("web", "r1", store.SyncAppend)
		other.Namespace = "team-b"
		syncEvents(t, s, other, []store.Event{at(click("e9", t0, "z@example.com"), time.Hour)})

		all := []string{"Email:B@example.com", "Email:a@example.com", "Phone:+8190"}
		mustEqual(t, "all identifiers", eventIdentifiers(t, s, time.Time{}), all)
		mustEqual(t, "after the first receipt", eventIdentifiers(t, s, t0.Add(time.Second)), all)
		mustEqual(t, "after the second receipt", eventIdentifiers(t, s, t0.Add(2*time.Second)), []string{"Phone:+8190"})
		mustEqual(t, "after the last receipt", eventIdentifiers(t, s, t0.Add(3*time.Second+time.Microsecond)), nil)
		latest, err := s.LatestEventReceipt(t.Context(), ns)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "LatestEventReceipt", latest, t0.Add(3*time.Second+time.Microsecond))
	}},
	{"a segment's query joins events to profiles through the links", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		phone := click("e4", t0.Add(2*time.Hour), "+8190")
		phone.IdentifierType = "Phone"
		syncEvents(t, s, newRun("web", "r1", store.SyncAppend), []store.Event{
			click("e1", t0, "a@example.com"), click("e2", t0.Add(time.Hour), "b@example.com"),
			click("e3", t0.Add(time.Hour), "a@example.com"), phone, click("e5", t0.Add(time.Hour), "unlinked@example.com"),
		})
		var ids []store.IdentityLink
		if err := s.EventIdentifiers(t.Context(), ns, time.Time{}, func(idType, value string) error {
			if value != "unlinked@example.com" {
				ids = append(ids, link(idType, value, map[string]string{"+8190": "p1", "a@example.com": "p1", "b@example.com": "p2"}[value]))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		writeLinks(t, s, store.IdentityLinkUpdate{Namespace: ns, Resolution: resolution, Generation: 1, Replace: true}, ids...)
		// A time parameter compares with a time column in both dialects.
		query := `SELECT l.profile_id FROM events AS e
			JOIN identity_links AS l ON l.namespace = e.namespace
				AND l.identifier_type = e.identifier_type AND l.identifier_value = e.identifier_value
			WHERE e.namespace = ? AND l.resolution = ? AND e.event_type = ? AND e.occurred_at >= ?
			ORDER BY l.profile_id`
		args := []any{ns, resolution, "click", t0.Add(time.Hour).In(jst)}
		mustEqual(t, "profiles that clicked", queryProfiles(t, s, query, args...), []string{"p1", "p1", "p2"})
		res, err := s.EvaluateSegment(t.Context(), store.SegmentEvaluation{
			Namespace: ns, Segment: "clickers", Resolution: resolution, ResolutionGeneration: 1,
			Query: inDialect(t, s, query), Args: args,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != 2 || res.Entered != 2 {
			t.Errorf("evaluation: size %d, entered %d; want 2 and 2", res.Size, res.Entered)
		}
	}},
}

func evaluation(t *testing.T, s store.Store, segment string, started time.Time, ids ...string) store.SegmentEvaluation {
	t.Helper()
	query, args := listQuery(t, s, ids...)
	return store.SegmentEvaluation{
		Namespace: ns, Segment: segment, Resolution: resolution, ResolutionGeneration: 3,
		Query: query, Args: args, StartedAt: started,
	}
}

func evaluate(t *testing.T, s store.Store, segment string, ids ...string) store.SegmentEvaluationResult {
	t.Helper()
	res, err := s.EvaluateSegment(t.Context(), evaluation(t, s, segment, time.Time{}, ids...))
	if err != nil {
		t.Fatalf("EvaluateSegment %s %v: %v", segment, ids, err)
	}
	return res
}

// sizes renders what an evaluation counted.
func sizes(r store.SegmentEvaluationResult) string {
	return fmt.Sprintf("#%d size=%d entered=%d exited=%d", r.Evaluation, r.Size, r.Entered, r.Exited)
}

func members(t *testing.T, s store.Store, segment string, limit int) []store.SegmentMember {
	t.Helper()
	out, err := s.SegmentMembers(t.Context(), ns, segment, limit)
	if err != nil {
		t.Fatalf("SegmentMembers: %v", err)
	}
	return out
}

func memberIDs(ms []store.SegmentMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ProfileID)
	}
	return out
}

// history renders a segment's changes as "#evaluation change profile".
func history(t *testing.T, s store.Store, segment string, since int64) []string {
	t.Helper()
	changes, err := s.SegmentHistory(t.Context(), ns, segment, since)
	if err != nil {
		t.Fatalf("SegmentHistory: %v", err)
	}
	var out []string
	for _, c := range changes {
		out = append(out, fmt.Sprintf("#%d %s %s", c.Evaluation, c.Change, c.ProfileID))
	}
	return out
}

func evaluations(t *testing.T, s store.Store, segment string, limit int) []store.SegmentEvaluationResult {
	t.Helper()
	out, err := s.SegmentEvaluations(t.Context(), ns, segment, limit)
	if err != nil {
		t.Fatalf("SegmentEvaluations: %v", err)
	}
	return out
}

func evaluationSizes(rs []store.SegmentEvaluationResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, sizes(r))
	}
	return out
}

// segmentState renders all the store holds of a segment.
func segmentState(t *testing.T, s store.Store, segment string) []string {
	t.Helper()
	var out []string
	for _, m := range members(t, s, segment, 0) {
		out = append(out, "member "+m.ProfileID+" "+m.EnteredAt.Format(time.RFC3339Nano))
	}
	out = append(out, history(t, s, segment, 0)...)
	return append(out, evaluationSizes(evaluations(t, s, segment, 0))...)
}

var segmentTests = []test{
	{"evaluations record who entered and who exited", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		started := time.Date(2025, 4, 1, 9, 0, 0, 123456789, jst)
		first, err := s.EvaluateSegment(t.Context(), evaluation(t, s, "vip", started, "p1", "p2", "p2", "p3"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sizes(first), "#1 size=3 entered=3 exited=0"; got != want {
			t.Errorf("first evaluation: %s, want %s", got, want)
		}
		checkTime(t, "StartedAt", first.StartedAt, started)
		second := evaluate(t, s, "vip", "p5", "p2", "p3", "p4")
		if got, want := sizes(second), "#2 size=4 entered=2 exited=1"; got != want {
			t.Errorf("second evaluation: %s, want %s", got, want)
		}
		if !second.FinishedAt.After(first.FinishedAt) {
			t.Fatalf("second evaluation finished at %v, not after the first at %v", second.FinishedAt, first.FinishedAt)
		}
		got := members(t, s, "vip", 0)
		mustEqual(t, "members", memberIDs(got), []string{"p2", "p3", "p4", "p5"})
		for _, m := range got {
			want := first.FinishedAt // those who stayed keep their entry
			if m.ProfileID == "p4" || m.ProfileID == "p5" {
				want = second.FinishedAt
			}
			checkTime(t, "EnteredAt of "+m.ProfileID, m.EnteredAt, want)
		}
		mustEqual(t, "history", history(t, s, "vip", 0), []string{
			"#1 entered p1", "#1 entered p2", "#1 entered p3",
			"#2 exited p1", "#2 entered p4", "#2 entered p5",
		})
		mustEqual(t, "history since #1", history(t, s, "vip", 1), []string{"#2 exited p1", "#2 entered p4", "#2 entered p5"})
		changes, err := s.SegmentHistory(t.Context(), ns, "vip", 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			checkTime(t, "At of "+c.ProfileID, c.At, second.FinishedAt)
		}

		third := evaluate(t, s, "vip", "p2", "p3", "p4", "p5")
		if got, want := sizes(third), "#3 size=4 entered=0 exited=0"; got != want {
			t.Errorf("third evaluation: %s, want %s", got, want)
		}
		mustEqual(t, "members after an evaluation that changed nothing",
			memberIDs(members(t, s, "vip", 0)), []string{"p2", "p3", "p4", "p5"})
		checkTime(t, "EnteredAt of p2 after three evaluations", members(t, s, "vip", 1)[0].EnteredAt, first.FinishedAt)
		mustEqual(t, "first two members", memberIDs(members(t, s, "vip", 2)), []string{"p2", "p3"})

		all := evaluations(t, s, "vip", 0)
		mustEqual(t, "evaluations", evaluationSizes(all), []string{
			"#3 size=4 entered=0 exited=0", "#2 size=4 entered=2 exited=1", "#1 size=3 entered=3 exited=0",
		})
		if got := all[2]; got != first {
			t.Errorf("stored first evaluation = %+v, want what EvaluateSegment returned, %+v", got, first)
		}
		if got := all[2]; got.Namespace != ns || got.Segment != "vip" || got.Resolution != resolution || got.ResolutionGeneration != 3 {
			t.Errorf("stored first evaluation = %+v, want it of %s/vip, from %s generation 3", got, ns, resolution)
		}
		mustEqual(t, "latest evaluation", evaluationSizes(evaluations(t, s, "vip", 1)), []string{"#3 size=4 entered=0 exited=0"})

		empty := evaluate(t, s, "vip")
		if got, want := sizes(empty), "#4 size=0 entered=0 exited=4"; got != want {
			t.Errorf("evaluation that finds no one: %s, want %s", got, want)
		}
		mustEqual(t, "members after everyone exited", memberIDs(members(t, s, "vip", 0)), nil)
	}},
	{"a query that fails changes nothing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		evaluate(t, s, "vip", "p1", "p2")
		before := segmentState(t, s, "vip")
		list, args := listQuery(t, s, "p3")
		for _, query := range []string{
			"SELEC profile_id FROM segment_members",
			"SELECT profile_id, segment FROM segment_members",
			"SELECT NULL",
			list + "; DELETE FROM segment_members",
		} {
			e := evaluation(t, s, "vip", time.Time{})
			e.Query = query
			if strings.HasPrefix(query, list) {
				e.Args = args
			}
			if _, err := s.EvaluateSegment(t.Context(), e); err == nil || !strings.Contains(err.Error(), "evaluate segment team-a/vip: ") {
				t.Errorf("EvaluateSegment(%q): %v, want an error about segment team-a/vip", query, err)
			}
			mustEqual(t, "after "+query, segmentState(t, s, "vip"), before)
		}
		if got, want := sizes(evaluate(t, s, "vip", "p2", "p3")), "#2 size=2 entered=1 exited=1"; got != want {
			t.Errorf("evaluation after the failures: %s, want %s", got, want)
		}
	}},
	{"evaluations that name nothing are refused", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		valid := evaluation(t, s, "vip", time.Time{}, "p1")
		for what, change := range map[string]func(*store.SegmentEvaluation){
			"namespace is empty":  func(e *store.SegmentEvaluation) { e.Namespace = "" },
			"segment is empty":    func(e *store.SegmentEvaluation) { e.Segment = "" },
			"resolution is empty": func(e *store.SegmentEvaluation) { e.Resolution = "" },
			"the query is empty":  func(e *store.SegmentEvaluation) { e.Query = " ;\n" },
		} {
			e := valid
			change(&e)
			if _, err := s.EvaluateSegment(t.Context(), e); err == nil || !strings.Contains(err.Error(), what) {
				t.Errorf("EvaluateSegment when %s: %v, want an error that says so", what, err)
			}
		}
		if err := s.DeleteSegment(t.Context(), ns, ""); err == nil {
			t.Error("DeleteSegment of an empty name succeeded")
		}
	}},
	{"evaluations of one segment take turns", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		const n = 8
		lists := make([][]string, n)
		results := make([]store.SegmentEvaluationResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			lists[i] = []string{fmt.Sprintf("p%d", i), fmt.Sprintf("p%d", (i+1)%n), "everyone"}
			e := evaluation(t, s, "vip", time.Time{}, lists[i]...)
			wg.Go(func() { results[i], errs[i] = s.EvaluateSegment(t.Context(), e) })
		}
		wg.Wait()
		// Replayed in evaluation order, each result must follow from the one before.
		order := make([]int, n)
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("evaluation %d: %v", i, errs[i])
			}
			if ev := results[i].Evaluation; ev < 1 || ev > n {
				t.Fatalf("evaluation numbered %d, want 1 to %d", ev, n)
			}
			order[results[i].Evaluation-1] = i
		}
		current := map[string]bool{}
		for k, i := range order {
			want := store.SegmentEvaluationResult{Evaluation: int64(k + 1), Size: int64(len(lists[i]))}
			next := map[string]bool{}
			for _, id := range lists[i] {
				next[id] = true
				if !current[id] {
					want.Entered++
				}
			}
			for id := range current {
				if !next[id] {
					want.Exited++
				}
			}
			if got := sizes(results[i]); got != sizes(want) {
				t.Errorf("evaluation %d: %s, want %s", i, got, sizes(want))
			}
			current = next
		}
		want := slices.Clone(lists[order[n-1]])
		slices.Sort(want)
		mustEqual(t, "members", memberIDs(members(t, s, "vip", 0)), want)
	}},
	{"deleting a segment forgets it and no other", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		evaluate(t, s, "vip", "p1", "p2")
		evaluate(t, s, "vip", "p2", "p3")
		evaluate(t, s, "churn", "p9")
		keep := segmentState(t, s, "churn")
		if err := s.DeleteSegment(t.Context(), ns, "vip"); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "deleted segment", segmentState(t, s, "vip"), nil)
		mustEqual(t, "other segment", segmentState(t, s, "churn"), keep)
		if err := s.DeleteSegment(t.Context(), ns, "vip"); err != nil {
			t.Errorf("DeleteSegment of a segment already deleted: %v", err)
		}
		if got, want := sizes(evaluate(t, s, "vip", "p2")), "#1 size=1 entered=1 exited=0"; got != want {
			t.Errorf("evaluation after the delete: %s, want %s", got, want)
		}
	}},
	{"QueryProfiles streams a query's rows and cannot write", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		evaluate(t, s, "vip", "p1", "p2")
		list, args := listQuery(t, s, "p3", "p1", "p3")
		var got []string
		if err := s.QueryProfiles(t.Context(), list, args, func(id string) error {
			got = append(got, id)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "profiles", got, []string{"p3", "p1", "p3"})

		stop := errors.New("enough")
		if err := s.QueryProfiles(t.Context(), list, args, func(string) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("QueryProfiles whose callback fails: %v, want the callback's error", err)
		}
		if err := s.QueryProfiles(t.Context(), "SELEC 1", nil, func(string) error { return nil }); err == nil {
			t.Error("QueryProfiles of a syntax error succeeded")
		}
		write := inDialect(t, s, "DELETE FROM segment_members WHERE namespace = ? RETURNING profile_id")
		if err := s.QueryProfiles(t.Context(), write, []any{ns}, func(string) error { return nil }); err == nil {
			t.Error("QueryProfiles of a DELETE succeeded")
		}
		mustEqual(t, "members after the DELETE", memberIDs(members(t, s, "vip", 0)), []string{"p1", "p2"})
	}},
}
