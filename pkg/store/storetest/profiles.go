package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

const resolution = "customers"

func ref(source, key string) store.RecordRef { return store.RecordRef{Source: source, Key: key} }

// customer is a profile whose content depends on version, so that a test can change it.
func customer(id string, created int64, version int, refs ...store.RecordRef) store.Profile {
	return store.Profile{
		ID: id, CreatedGeneration: created,
		Identifiers: map[string][]string{"Email": {id + "@example.co.jp"}, "Phone": {fmt.Sprintf("+8190%08d", version)}},
		Attributes: map[string]any{
			"name": "山田 " + id, "visits": float64(version), "vip": version%2 == 0,
			"lastSeenAt": time.Date(2025, 4, 1, 9, 30, 15, 123456789, jst),
		},
		Records: refs,
	}
}

// profileContent renders a profile the way content renders a record; records in (source, key)
// order, as the store returns them.
func profileContent(p store.Profile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s created=%d ", p.ID, p.CreatedGeneration)
	writeMaps(&b, p.Identifiers, p.Attributes)
	b.WriteString(" records[")
	refs := slices.Clone(p.Records)
	slices.SortFunc(refs, func(a, b store.RecordRef) int {
		return strings.Compare(a.Source+"\x00"+a.Key, b.Source+"\x00"+b.Key)
	})
	for _, r := range refs {
		fmt.Fprintf(&b, "%s/%s ", r.Source, r.Key)
	}
	b.WriteString("]")
	return b.String()
}

// published is what a generation should hold: profiles as stored (created generation filled
// in), sorted by ID.
func published(generation int64, profiles []store.Profile) []string {
	sorted := slices.Clone(profiles)
	slices.SortFunc(sorted, func(a, b store.Profile) int { return strings.Compare(a.ID, b.ID) })
	out := make([]string, len(sorted))
	for i, p := range sorted {
		if p.CreatedGeneration == 0 {
			p.CreatedGeneration = generation
		}
		if p.Identifiers == nil {
			p.Identifiers = map[string][]string{}
		}
		out[i] = profileContent(p)
	}
	return out
}

// membershipsOf lists "source/key=profile" of profiles in (source, key) order.
func membershipsOf(profiles []store.Profile) []string {
	type m struct{ source, key, id string }
	var all []m
	for _, p := range profiles {
		for _, r := range p.Records {
			all = append(all, m{r.Source, r.Key, p.ID})
		}
	}
	slices.SortFunc(all, func(a, b m) int { return strings.Compare(a.source+"\x00"+a.key, b.source+"\x00"+b.key) })
	out := make([]string, len(all))
	for i, x := range all {
		out[i] = x.source + "/" + x.key + "=" + x.id
	}
	return out
}

func aliasesOf(aliases map[string]string) []string {
	var out []string
	for _, a := range slices.Sorted(maps.Keys(aliases)) {
		out = append(out, a+"="+aliases[a])
	}
	return out
}

func newResolutionRun(namespace, resolution, runID string) store.ResolutionRun {
	return store.ResolutionRun{Namespace: namespace, Resolution: resolution, RunID: runID}
}

func beginPublish(t *testing.T, s store.Store, run store.ResolutionRun) store.ProfileWriter {
	t.Helper()
	w, err := s.BeginPublish(t.Context(), run)
	if err != nil {
		t.Fatalf("BeginPublish %s: %v", run.RunID, err)
	}
	t.Cleanup(func() { _, _ = w.Abort(context.Background(), "the test ended") })
	return w
}

func putProfiles(t *testing.T, w store.ProfileWriter, profiles []store.Profile) {
	t.Helper()
	for _, p := range profiles {
		if err := w.PutProfile(t.Context(), p); err != nil {
			t.Fatalf("PutProfile %s: %v", p.ID, err)
		}
	}
}

func putAliases(t *testing.T, w store.ProfileWriter, aliases map[string]string) {
	t.Helper()
	for alias, id := range aliases {
		if err := w.PutAlias(t.Context(), alias, id); err != nil {
			t.Fatalf("PutAlias %s: %v", alias, err)
		}
	}
}

// publishProfiles publishes a whole generation and returns its run.
func publishProfiles(t *testing.T, s store.Store, run store.ResolutionRun, profiles []store.Profile, aliases map[string]string) store.ResolutionRun {
	t.Helper()
	w := beginPublish(t, s, run)
	putProfiles(t, w, profiles)
	putAliases(t, w, aliases)
	done, err := w.Commit(t.Context(), run)
	if err != nil {
		t.Fatalf("Commit %s: %v", run.RunID, err)
	}
	return done
}

func scanProfiles(t *testing.T, s store.Store, namespace, resolution string) []string {
	t.Helper()
	var out []string
	if err := s.ScanProfiles(t.Context(), namespace, resolution, func(p store.Profile) error {
		if !slices.IsSortedFunc(p.Records, func(a, b store.RecordRef) int {
			return strings.Compare(a.Source+"\x00"+a.Key, b.Source+"\x00"+b.Key)
		}) {
			t.Errorf("profile %s: records %v are not in (source, key) order", p.ID, p.Records)
		}
		out = append(out, profileContent(p))
		return nil
	}); err != nil {
		t.Fatalf("ScanProfiles: %v", err)
	}
	return out
}

func scanMemberships(t *testing.T, s store.Store, namespace, resolution string) []string {
	t.Helper()
	var out []string
	if err := s.ScanMemberships(t.Context(), namespace, resolution, func(r store.RecordRef, id string) error {
		out = append(out, r.Source+"/"+r.Key+"="+id)
		return nil
	}); err != nil {
		t.Fatalf("ScanMemberships: %v", err)
	}
	return out
}

func scanAliases(t *testing.T, s store.Store, namespace, resolution string) []string {
	t.Helper()
	var out []string
	if err := s.ScanAliases(t.Context(), namespace, resolution, func(alias, id string) error {
		out = append(out, alias+"="+id)
		return nil
	}); err != nil {
		t.Fatalf("ScanAliases: %v", err)
	}
	return out
}

// checkGeneration checks that readers see exactly a generation.
func checkGeneration(t *testing.T, s store.Store, namespace, resolution string, generation int64, profiles []store.Profile, aliases map[string]string) {
	t.Helper()
	what := fmt.Sprintf("generation %d of %s/%s", generation, namespace, resolution)
	mustEqual(t, "profiles of "+what, scanProfiles(t, s, namespace, resolution), published(generation, profiles))
	mustEqual(t, "memberships of "+what, scanMemberships(t, s, namespace, resolution), membershipsOf(profiles))
	mustEqual(t, "aliases of "+what, scanAliases(t, s, namespace, resolution), aliasesOf(aliases))
	if st, err := s.ResolutionState(t.Context(), namespace, resolution); err != nil || st.PublishedGeneration != generation {
		t.Errorf("ResolutionState of %s/%s = %+v, %v; want generation %d", namespace, resolution, st, err, generation)
	}
}

// people of a generation: n profiles of two records each, whose IDs and records depend on shift.
func manyCustomers(n, shift, version int) []store.Profile {
	out := make([]store.Profile, n)
	for i := range n {
		out[i] = customer(fmt.Sprintf("cus_%06d", i+shift), 0, version,
			ref("crm", fmt.Sprintf("c%06d", i+shift)), ref("shop", fmt.Sprintf("s%06d", (i+shift)*7%100003)))
	}
	return out
}

var profileTests = []test{
	{"a publish comes back as it went in", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		early := customer("cus_b", 0, 1, ref("shop", "9"), ref("crm", "2"), ref("crm", "10"))
		early.Attributes["nested"] = map[string]any{"at": time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), "n": 3.0}
		profiles := []store.Profile{
			early,
			{ID: "cus_a", Records: []store.RecordRef{ref("crm", "1")}},
			customer("名寄せ-1", 0, 2, ref("web", "ä"), ref("crm", "3")),
			customer("cus_Z", 0, 3),
		}
		aliases := map[string]string{"cus_old1": "cus_b", "cus_old0": "cus_a"}
		run := newResolutionRun(ns, resolution, "r1")
		run.Merges, run.Splits, run.Message = 2, 1, "4 profiles"
		run.Ignored = []store.IgnoredValue{{Type: "Email", Value: "t***@example.com", Records: 40}, {Type: "Phone", Value: "0***0", Records: 25}}
		win := window{from: time.Now()}
		done := publishProfiles(t, s, run, profiles, aliases)
		win.to = time.Now()

		checkGeneration(t, s, ns, resolution, 1, profiles, aliases)
		if done.Generation != 1 || done.Status != store.SyncSucceeded || done.Records != 6 || done.Profiles != 4 ||
			done.NewProfiles != 4 || done.Merges != 2 || done.Splits != 1 || done.Message != "4 profiles" || done.DryRun {
			t.Errorf("Commit returned %+v, want generation 1, Succeeded, 6 records in 4 new profiles, 2 merges, 1 split", done)
		}
		win.check(t, "FinishedAt", done.FinishedAt)
		runs, err := s.ResolutionRuns(t.Context(), ns, resolution, 0)
		if err != nil || len(runs) != 1 {
			t.Fatalf("ResolutionRuns = %+v, %v; want one run", runs, err)
		}
		got := runs[0]
		if got.RunID != "r1" || got.Generation != 1 || got.Status != store.SyncSucceeded || got.Records != 6 ||
			got.Profiles != 4 || got.NewProfiles != 4 || got.Merges != 2 || got.Splits != 1 || got.Message != "4 profiles" ||
			!slices.Equal(got.Ignored, run.Ignored) || !got.FinishedAt.Equal(done.FinishedAt) || got.FinishedAt.Location() != time.UTC {
			t.Errorf("recorded run = %+v, want %+v", got, done)
		}
		st, err := s.ResolutionState(t.Context(), ns, resolution)
		if err != nil || st.RunID != "r1" {
			t.Errorf("ResolutionState = %+v, %v; want published by r1", st, err)
		}
		win.check(t, "PublishedAt", st.PublishedAt)

		for _, id := range []string{"cus_b", "cus_old1"} {
			p, err := s.LookupProfile(t.Context(), ns, resolution, id)
			if err != nil || profileContent(p) != published(1, profiles[:1])[0] {
				t.Errorf("LookupProfile %s = %s, %v; want cus_b", id, profileContent(p), err)
			}
		}
		if at, ok := mustLookup(t, s, "cus_b").Attributes["lastSeenAt"].(time.Time); !ok || at.Location() != time.UTC || at.Nanosecond() != 123456789 {
			t.Errorf("lastSeenAt came back as %#v, want a UTC time.Time with its nanoseconds", at)
		}
		if _, err := s.LookupProfile(t.Context(), ns, resolution, "cus_nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupProfile of an unknown ID: %v, want ErrNotFound", err)
		}
		// In a batch: by ID, by alias (keyed by the alias asked for), and not at all.
		batch, err := s.LookupProfiles(t.Context(), ns, resolution, []string{"cus_b", "cus_old1", "cus_nobody", "cus_b"})
		if err != nil || len(batch) != 2 || profileContent(batch["cus_b"]) != published(1, profiles[:1])[0] ||
			profileContent(batch["cus_old1"]) != published(1, profiles[:1])[0] {
			t.Errorf("LookupProfiles = %d profiles, %v; want cus_b by its ID and by the alias cus_old1, and no cus_nobody", len(batch), err)
		}
		for r, want := range map[store.RecordRef]string{ref("crm", "10"): "cus_b", ref("web", "ä"): "名寄せ-1", ref("crm", "1"): "cus_a"} {
			if got, err := s.ProfileOf(t.Context(), ns, resolution, r); err != nil || got != want {
				t.Errorf("ProfileOf %v = %q, %v; want %q", r, got, err, want)
			}
		}
		if _, err := s.ProfileOf(t.Context(), ns, resolution, ref("crm", "99")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ProfileOf an unknown record: %v, want ErrNotFound", err)
		}
		stats, err := s.ResolutionStats(t.Context(), ns, resolution)
		if want := (store.ResolutionStats{Published: store.GenerationStats{Generation: 1, Profiles: 4, Records: 6, Aliases: 2}}); err != nil || stats != want {
			t.Errorf("ResolutionStats = %+v, %v; want %+v", stats, err, want)
		}
		if names, err := s.Resolutions(t.Context(), ns); err != nil || !slices.Equal(names, []string{resolution}) {
			t.Errorf("Resolutions = %q, %v; want [%s]", names, err, resolution)
		}
	}},
	{"a resolution that never published is empty", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		checkGeneration(t, s, ns, resolution, 0, nil, nil)
		if st, err := s.ResolutionState(t.Context(), ns, resolution); err != nil || st != (store.ResolutionState{}) {
			t.Errorf("ResolutionState = %+v, %v; want zero", st, err)
		}
		if _, err := s.LookupProfile(t.Context(), ns, resolution, "cus_a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupProfile: %v, want ErrNotFound", err)
		}
		if _, err := s.ProfileOf(t.Context(), ns, resolution, ref("crm", "1")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ProfileOf: %v, want ErrNotFound", err)
		}
		if runs, err := s.ResolutionRuns(t.Context(), ns, resolution, 0); err != nil || len(runs) != 0 {
			t.Errorf("ResolutionRuns = %+v, %v; want none", runs, err)
		}
		if names, err := s.Resolutions(t.Context(), ns); err != nil || len(names) != 0 {
			t.Errorf("Resolutions = %q, %v; want none", names, err)
		}
		if stats, err := s.ResolutionStats(t.Context(), ns, resolution); err != nil || stats != (store.ResolutionStats{}) {
			t.Errorf("ResolutionStats = %+v, %v; want zero", stats, err)
		}
	}},
	{"readers see the previous generation until the publish commits", func(t *testing.T, open func(t *testing.T) store.Store) {
		s, other := open(t), open(t)
		first := manyCustomers(50, 0, 1)
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r1"), first, map[string]string{"cus_gone": "cus_000001"})
		// Enough rows that some have left the writer's buffers for the database.
		second := manyCustomers(6000, 25, 2)
		w := beginPublish(t, s, newResolutionRun(ns, resolution, "r2"))
		putProfiles(t, w, second)
		putAliases(t, w, map[string]string{"cus_000000": "cus_000025"})
		for _, reader := range []store.Store{s, other} {
			checkGeneration(t, reader, ns, resolution, 1, first, map[string]string{"cus_gone": "cus_000001"})
			if id, err := reader.ProfileOf(t.Context(), ns, resolution, ref("crm", "c000030")); err != nil || id != "cus_000030" {
				t.Errorf("ProfileOf while a publish is open = %q, %v", id, err)
			}
			if _, err := reader.LookupProfile(t.Context(), ns, resolution, "cus_005000"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("LookupProfile of a profile being published: %v, want ErrNotFound", err)
			}
			if runs, err := reader.ResolutionRuns(t.Context(), ns, resolution, 0); err != nil || len(runs) != 1 {
				t.Errorf("ResolutionRuns while a publish is open = %d runs, %v; want the first only", len(runs), err)
			}
		}
		run, err := w.Commit(t.Context(), newResolutionRun(ns, resolution, "r2"))
		if err != nil {
			t.Fatal(err)
		}
		if run.Generation != 2 || run.Profiles != 6000 || run.Records != 12000 || run.NewProfiles != 6000 {
			t.Errorf("Commit = %+v, want generation 2 of 6000 new profiles and 12000 records", run)
		}
		for _, reader := range []store.Store{s, other} {
			checkGeneration(t, reader, ns, resolution, 2, second, map[string]string{"cus_000000": "cus_000025"})
		}
	}},
	{"an aborted publish publishes nothing and records why", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		first := manyCustomers(20, 0, 1)
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r1"), first, nil)
		w := beginPublish(t, s, newResolutionRun(ns, resolution, "r2"))
		putProfiles(t, w, manyCustomers(6000, 10, 2))
		putAliases(t, w, map[string]string{"cus_x": "cus_000010"})
		win := window{from: time.Now()}
		run, err := w.Abort(t.Context(), "out of memory")
		win.to = time.Now()
		if err != nil {
			t.Fatalf("Abort: %v", err)
		}
		checkGeneration(t, s, ns, resolution, 1, first, nil)
		runs, err := s.ResolutionRuns(t.Context(), ns, resolution, 0)
		if err != nil || len(runs) != 2 {
			t.Fatalf("ResolutionRuns = %+v, %v; want two", runs, err)
		}
		failed := runs[0]
		if runs[1].RunID == "r2" {
			failed = runs[1]
		}
		if failed.RunID != "r2" || failed.Status != store.SyncFailed || failed.Message != "out of memory" || failed.Generation != 2 ||
			run.Status != store.SyncFailed || run.Message != failed.Message {
			t.Errorf("failed run = %+v (Abort returned %+v), want r2 Failed with its message", failed, run)
		}
		win.check(t, "FinishedAt", failed.FinishedAt)
		if stats, err := s.ResolutionStats(t.Context(), ns, resolution); err != nil || stats.Published.Profiles != 20 || stats.Previous.Generation != 0 {
			t.Errorf("ResolutionStats = %+v, %v; want generation 1 alone", stats, err)
		}
		// The resolution is free for the next publish, which is generation 2.
		second := manyCustomers(30, 5, 3)
		if run := publishProfiles(t, s, newResolutionRun(ns, resolution, "r3"), second, nil); run.Generation != 2 {
			t.Errorf("the publish after an abort published generation %d, want 2", run.Generation)
		}
		checkGeneration(t, s, ns, resolution, 2, second, nil)
	}},
	{"generations before the previous one are removed", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		// Each generation keeps some profiles of the one two before, changes some, drops some
		// and adds some, with its records and aliases.
		gens := []struct {
			profiles []store.Profile
			aliases  map[string]string
		}{
			{manyCustomers(300, 0, 1), map[string]string{"a1": "cus_000001", "a2": "cus_000002"}},
			{manyCustomers(200, 250, 1), map[string]string{"a1": "cus_000260"}},
			{append(manyCustomers(150, 100, 1), manyCustomers(100, 400, 2)...), map[string]string{"a1": "cus_000101", "a3": "cus_000450"}},
			{manyCustomers(200, 250, 1), map[string]string{"a1": "cus_000260"}},
			{append(manyCustomers(150, 100, 1), manyCustomers(100, 400, 2)...), map[string]string{"a1": "cus_000101", "a3": "cus_000450"}},
			{nil, nil},
			{manyCustomers(10, 0, 5), nil},
		}
		// A profile moves between records in generation 3.
		moved := customer("cus_000120", 1, 9, ref("crm", "c000121"), ref("shop", "moved"))
		gens[2].profiles[20], gens[2].profiles[21] = moved, customer("cus_000121", 1, 1, ref("shop", "s000847"))
		for i, g := range gens {
			generation := int64(i + 1)
			publishProfiles(t, s, newResolutionRun(ns, resolution, fmt.Sprintf("r%d", generation)), g.profiles, g.aliases)
			checkGeneration(t, s, ns, resolution, generation, g.profiles, g.aliases)
			stats, err := s.ResolutionStats(t.Context(), ns, resolution)
			if err != nil {
				t.Fatal(err)
			}
			want := store.ResolutionStats{Published: generationStats(generation, g.profiles, g.aliases)}
			if i > 0 {
				want.Previous = generationStats(generation-1, gens[i-1].profiles, gens[i-1].aliases)
			}
			if stats != want {
				t.Errorf("after generation %d: ResolutionStats = %+v, want %+v", generation, stats, want)
			}
		}
	}},
	{"a run that published does not publish again", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		profiles := manyCustomers(10, 0, 1)
		first := publishProfiles(t, s, newResolutionRun(ns, resolution, "job-1"), profiles, nil)
		w, err := s.BeginPublish(t.Context(), newResolutionRun(ns, resolution, "job-1"))
		if w != nil {
			t.Cleanup(func() { _, _ = w.Abort(context.Background(), "the test ended") })
		}
		if !errors.Is(err, store.ErrRunFinished) || w != nil {
			t.Fatalf("BeginPublish of a published run = %v, %v; want ErrRunFinished", w, err)
		}
		dry := newResolutionRun(ns, resolution, "job-1")
		dry.DryRun, dry.Status = true, store.SyncSucceeded
		if err := s.PutResolutionRun(t.Context(), dry); !errors.Is(err, store.ErrRunFinished) {
			t.Errorf("PutResolutionRun over a published run = %v, want ErrRunFinished", err)
		}
		runs, err := s.ResolutionRuns(t.Context(), ns, resolution, 0)
		if err != nil || len(runs) != 1 || runs[0].Status != store.SyncSucceeded || runs[0].DryRun || !runs[0].FinishedAt.Equal(first.FinishedAt) {
			t.Errorf("runs = %+v, %v; want the first one, unchanged", runs, err)
		}
		checkGeneration(t, s, ns, resolution, 1, profiles, nil)

		// A failed run may run again, and then publishes.
		w = beginPublish(t, s, newResolutionRun(ns, resolution, "job-2"))
		putProfiles(t, w, manyCustomers(5, 0, 2))
		if _, err := w.Abort(t.Context(), "first attempt"); err != nil {
			t.Fatal(err)
		}
		second := manyCustomers(12, 3, 2)
		run := newResolutionRun(ns, resolution, "job-2")
		run.Message = "second attempt"
		if done := publishProfiles(t, s, run, second, nil); done.Generation != 2 {
			t.Errorf("retried run published generation %d, want 2", done.Generation)
		}
		checkGeneration(t, s, ns, resolution, 2, second, nil)
		runs, err = s.ResolutionRuns(t.Context(), ns, resolution, 0)
		if err != nil || len(runs) != 2 {
			t.Fatalf("runs = %+v, %v", runs, err)
		}
		for _, r := range runs {
			if r.RunID == "job-2" && (r.Status != store.SyncSucceeded || r.Message != "second attempt" || r.Profiles != 12) {
				t.Errorf("run job-2 = %+v, want the second attempt's success", r)
			}
		}
	}},
	{"dry runs and failures are recorded without publishing", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		var ignored []store.IgnoredValue
		for i := range store.MaxIgnoredValuesPerRun + 20 {
			ignored = append(ignored, store.IgnoredValue{Type: "Email", Value: fmt.Sprintf("v***%d\xff", i), Records: int64(1000 - i)})
		}
		for i, r := range []store.ResolutionRun{
			{RunID: "dry-1", DryRun: true, Status: store.SyncSucceeded, Generation: 0, Records: 9, Profiles: 7, Merges: 2, Ignored: ignored},
			{RunID: "dry-2", DryRun: true, Status: store.SyncFailed, Message: "no records"},
			{RunID: "failed", Status: store.SyncFailed, Message: "source crm is not Ready"},
		} {
			r.Namespace, r.Resolution = ns, resolution
			r.StartedAt = t0.Add(time.Duration(i) * time.Hour).In(jst)
			r.FinishedAt = r.StartedAt.Add(time.Minute)
			if err := s.PutResolutionRun(t.Context(), r); err != nil {
				t.Fatalf("PutResolutionRun %s: %v", r.RunID, err)
			}
		}
		runs, err := s.ResolutionRuns(t.Context(), ns, resolution, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.RunID)
		}
		mustEqual(t, "runs, newest first", ids, []string{"failed", "dry-2", "dry-1"})
		if len(runs) == 3 {
			dry := runs[2]
			if !dry.DryRun || dry.Status != store.SyncSucceeded || dry.Records != 9 || dry.Profiles != 7 || dry.Merges != 2 ||
				!dry.StartedAt.Equal(t0) || dry.StartedAt.Location() != time.UTC || !dry.FinishedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("dry run = %+v", dry)
			}
			if len(dry.Ignored) != store.MaxIgnoredValuesPerRun || dry.Ignored[0] != (store.IgnoredValue{Type: "Email", Value: "v***0\uFFFD", Records: 1000}) {
				t.Errorf("dry run kept %d ignored values, first %+v; want %d, the first ones, readable", len(dry.Ignored), dry.Ignored[0], store.MaxIgnoredValuesPerRun)
			}
			if runs[0].DryRun || runs[0].Status != store.SyncFailed || runs[0].Message != "source crm is not Ready" {
				t.Errorf("failed run = %+v", runs[0])
			}
		}
		if limited, err := s.ResolutionRuns(t.Context(), ns, resolution, 2); err != nil || len(limited) != 2 || limited[0].RunID != "failed" {
			t.Errorf("with limit 2: %+v, %v", limited, err)
		}
		checkGeneration(t, s, ns, resolution, 0, nil, nil)
		// A dry run that succeeded is done; a failed one may run again.
		again := store.ResolutionRun{Namespace: ns, Resolution: resolution, RunID: "dry-1", DryRun: true, Status: store.SyncSucceeded}
		if err := s.PutResolutionRun(t.Context(), again); !errors.Is(err, store.ErrRunFinished) {
			t.Errorf("PutResolutionRun of a dry run that succeeded = %v, want ErrRunFinished", err)
		}
		again.RunID = "dry-2"
		if err := s.PutResolutionRun(t.Context(), again); err != nil {
			t.Errorf("PutResolutionRun of a dry run that failed: %v", err)
		}
		for _, bad := range []store.ResolutionRun{
			{Namespace: ns, Resolution: resolution, RunID: "published", Status: store.SyncSucceeded},
			{Namespace: ns, Resolution: resolution, RunID: "running", DryRun: true, Status: store.SyncRunning},
			{Namespace: ns, RunID: "x", DryRun: true, Status: store.SyncSucceeded},
		} {
			if err := s.PutResolutionRun(t.Context(), bad); err == nil {
				t.Errorf("PutResolutionRun %+v succeeded", bad)
			}
		}
		if w, err := s.BeginPublish(t.Context(), store.ResolutionRun{Namespace: ns, Resolution: resolution, RunID: "d", DryRun: true}); err == nil {
			_, _ = w.Abort(t.Context(), "")
			t.Error("BeginPublish of a dry run succeeded")
		}
		for _, run := range []store.ResolutionRun{
			{Resolution: resolution, RunID: "r"}, {Namespace: ns, RunID: "r"}, {Namespace: ns, Resolution: resolution},
		} {
			if w, err := s.BeginPublish(t.Context(), run); err == nil {
				_, _ = w.Abort(t.Context(), "")
				t.Errorf("BeginPublish %+v succeeded", run)
			}
		}
	}},
	{"namespaces and resolutions do not see each other", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		type target struct{ namespace, resolution string }
		targets := []target{{ns, "customers"}, {ns, "companies"}, {"team-b", "customers"}}
		sets := map[target][]store.Profile{}
		for i, tg := range targets {
			// The same IDs and records in each, with other content.
			sets[tg] = manyCustomers(40+i, 0, i)
			publishProfiles(t, s, newResolutionRun(tg.namespace, tg.resolution, "r1"), sets[tg], map[string]string{"alias": fmt.Sprintf("cus_%06d", i)})
		}
		// A second generation of one of them changes nothing in the others.
		changed := target{ns, "companies"}
		sets[changed] = manyCustomers(10, 3, 9)
		publishProfiles(t, s, newResolutionRun(changed.namespace, changed.resolution, "r2"), sets[changed], nil)
		for i, tg := range targets {
			generation, aliases := int64(1), map[string]string{"alias": fmt.Sprintf("cus_%06d", i)}
			if tg == changed {
				generation, aliases = 2, nil
			}
			checkGeneration(t, s, tg.namespace, tg.resolution, generation, sets[tg], aliases)
			if runs, err := s.ResolutionRuns(t.Context(), tg.namespace, tg.resolution, 0); err != nil || int64(len(runs)) != generation {
				t.Errorf("runs of %v: %d, %v; want %d", tg, len(runs), err, generation)
			}
		}
		if names, err := s.Resolutions(t.Context(), ns); err != nil || !slices.Equal(names, []string{"companies", "customers"}) {
			t.Errorf("Resolutions of %s = %q, %v", ns, names, err)
		}
		if names, err := s.Resolutions(t.Context(), "team-b"); err != nil || !slices.Equal(names, []string{"customers"}) {
			t.Errorf("Resolutions of team-b = %q, %v", names, err)
		}
	}},
	{"a duplicate profile, record or alias is refused, the publish goes on", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := beginPublish(t, s, newResolutionRun(ns, resolution, "r1"))
		// Enough profiles, in ID order, that the first ones have left the writer's buffers.
		many := manyCustomers(8000, 0, 1)
		putProfiles(t, w, many)
		putAliases(t, w, map[string]string{"cus_old": "cus_000001"})
		for _, p := range []store.Profile{
			customer("cus_000000", 0, 2, ref("crm", "new-1")),                       // the first profile again
			customer("cus_007999", 0, 2, ref("crm", "new-2")),                       // the last one again
			customer("cus_new1", 0, 2, ref("crm", "c000005")),                       // a record of another profile
			customer("cus_new2", 0, 2, ref("crm", "new-3"), ref("shop", "s048993")), // one of two records taken
			customer("cus_new3", 0, 2, ref("crm", "new-4"), ref("crm", "new-4")),    // a record twice
			customer("cus_old", 0, 2, ref("crm", "new-5")),                          // an alias
		} {
			if err := w.PutProfile(t.Context(), p); !errors.Is(err, store.ErrDuplicateKey) {
				t.Errorf("PutProfile %s %v: %v, want ErrDuplicateKey", p.ID, p.Records, err)
			}
		}
		for alias, id := range map[string]string{"cus_old": "cus_000002", "cus_000003": "cus_000004"} {
			if err := w.PutAlias(t.Context(), alias, id); !errors.Is(err, store.ErrDuplicateKey) {
				t.Errorf("PutAlias %s: %v, want ErrDuplicateKey", alias, err)
			}
		}
		bad := []store.Profile{
			{ID: ""},
			{ID: strings.Repeat("x", 5000)},
			{ID: "nul\x00id"},
			{ID: "bad-utf8-\xff"},
			{ID: "nan", Attributes: map[string]any{"x": math.NaN()}},
			{ID: "nul-value", Attributes: map[string]any{"x": "a\x00b"}},
			{ID: "nul-identifier", Identifiers: map[string][]string{"Email": {"a\x00b"}}},
			{ID: "empty-source", Records: []store.RecordRef{ref("", "1")}},
			{ID: "bad-key", Records: []store.RecordRef{ref("crm", "\xff")}},
			{ID: "future", CreatedGeneration: 2},
			{ID: "negative", CreatedGeneration: -1},
		}
		for _, p := range bad {
			if err := w.PutProfile(t.Context(), p); !errors.Is(err, store.ErrInvalidRow) {
				t.Errorf("PutProfile %.20q: %v, want ErrInvalidRow", p.ID, err)
			}
		}
		for _, a := range [][2]string{{"", "cus_000001"}, {"x", ""}, {"same", "same"}, {"nul\x00", "cus_000001"}} {
			if err := w.PutAlias(t.Context(), a[0], a[1]); !errors.Is(err, store.ErrInvalidRow) {
				t.Errorf("PutAlias %q -> %q: %v, want ErrInvalidRow", a[0], a[1], err)
			}
		}
		// The refused profiles took none of their records: they are free for others.
		late := []store.Profile{customer("cus_late", 0, 3, ref("crm", "new-1"), ref("crm", "new-3"), ref("crm", "new-4"))}
		putProfiles(t, w, late)
		run, err := w.Commit(t.Context(), newResolutionRun(ns, resolution, "r1"))
		if err != nil {
			t.Fatal(err)
		}
		all := append(many, late...)
		if run.Profiles != int64(len(all)) || run.Records != 16003 {
			t.Errorf("run = %+v, want %d profiles and 16003 records", run, len(all))
		}
		checkGeneration(t, s, ns, resolution, 1, all, map[string]string{"cus_old": "cus_000001"})
	}},
	{"profiles in any order", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		many := manyCustomers(9000, 0, 1)
		// In ID order for a while, then backwards, then mixed: late profiles fall among those
		// already written.
		order := slices.Clone(many[:6000])
		for i := 8999; i >= 7000; i-- {
			order = append(order, many[i])
		}
		for i := 6000; i < 7000; i++ {
			order = append(order, many[(i*7919)%1000+6000])
		}
		order = append(order, customer("cus_000500x", 0, 4, ref("crm", "late")))
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r1"), order, nil)
		checkGeneration(t, s, ns, resolution, 1, order, nil)
		// Again, into the other slot, then over the first generation, shuffled, with changes.
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r2"), many, nil)
		third := slices.Clone(order)
		for i := range third {
			j := (i * 7919) % len(third)
			third[i], third[j] = third[j], third[i]
		}
		third = slices.DeleteFunc(third, func(p store.Profile) bool { return strings.HasSuffix(p.ID, "7") })
		for i := range third {
			third[i].CreatedGeneration = 1
			if i%5 == 0 {
				third[i] = customer(third[i].ID, 1, 7, third[i].Records...)
			}
		}
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r3"), third, nil)
		checkGeneration(t, s, ns, resolution, 3, third, nil)
		if p := mustLookup(t, s, "cus_000005"); p.CreatedGeneration != 1 {
			t.Errorf("cus_000005 was created in generation %d, want 1", p.CreatedGeneration)
		}
	}},
	{"publishes of one resolution take turns", func(t *testing.T, open func(t *testing.T) store.Store) {
		s, other := open(t), open(t)
		w := beginPublish(t, s, newResolutionRun(ns, resolution, "r1"))
		putProfiles(t, w, manyCustomers(10, 0, 1))
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if w2, err := other.BeginPublish(ctx, newResolutionRun(ns, resolution, "r2")); !errors.Is(err, context.DeadlineExceeded) {
			if w2 != nil {
				_, _ = w2.Abort(context.Background(), "")
			}
			t.Fatalf("BeginPublish while another publish is open = %v, want it to wait until its context ends", err)
		}
		type result struct {
			run store.ResolutionRun
			err error
		}
		done := make(chan result, 1)
		go func() {
			w2, err := other.BeginPublish(t.Context(), newResolutionRun(ns, resolution, "r2"))
			if err != nil {
				done <- result{err: err}
				return
			}
			if err := w2.PutProfile(t.Context(), customer("cus_x", 0, 1, ref("crm", "x"))); err != nil {
				_, _ = w2.Abort(context.Background(), "")
				done <- result{err: err}
				return
			}
			run, err := w2.Commit(t.Context(), newResolutionRun(ns, resolution, "r2"))
			done <- result{run, err}
		}()
		if _, err := w.Commit(t.Context(), newResolutionRun(ns, resolution, "r1")); err != nil {
			t.Fatal(err)
		}
		second := <-done
		if second.err != nil || second.run.Generation != 2 {
			t.Fatalf("the second publish = %+v, %v; want generation 2", second.run, second.err)
		}
		checkGeneration(t, s, ns, resolution, 2, []store.Profile{customer("cus_x", 0, 1, ref("crm", "x"))}, nil)
	}},
	{"a publish whose context ended is still recorded as failed", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		first := manyCustomers(10, 0, 1)
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r1"), first, nil)
		ctx, cancel := context.WithCancel(t.Context())
		w, err := s.BeginPublish(ctx, newResolutionRun(ns, resolution, "r2"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = w.Abort(context.Background(), "the test ended") })
		putProfiles(t, w, manyCustomers(100, 0, 2))
		cancel() // the Job is being stopped
		if _, err := w.Commit(ctx, newResolutionRun(ns, resolution, "r2")); err == nil {
			t.Fatal("Commit with an ended context succeeded")
		}
		if _, err := w.Abort(t.Context(), "stopped"); err != nil {
			t.Fatalf("Abort after the context ended: %v", err)
		}
		checkGeneration(t, s, ns, resolution, 1, first, nil)
		runs, err := s.ResolutionRuns(t.Context(), ns, resolution, 1)
		if err != nil || len(runs) != 1 || runs[0].RunID != "r2" || runs[0].Status != store.SyncFailed || runs[0].Message != "stopped" {
			t.Errorf("latest run = %+v, %v; want r2 Failed", runs, err)
		}
		// The resolution is free for the next publish.
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r3"), first[:5], nil)
		checkGeneration(t, s, ns, resolution, 2, first[:5], nil)
	}},
	{"a writer that has finished refuses more work", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		w := beginPublish(t, s, newResolutionRun(ns, resolution, "r1"))
		if _, err := w.Commit(t.Context(), newResolutionRun(ns, resolution, "r1")); err != nil {
			t.Fatal(err)
		}
		if err := w.PutProfile(t.Context(), customer("cus_a", 0, 1)); err == nil {
			t.Error("PutProfile after Commit succeeded")
		}
		if err := w.PutAlias(t.Context(), "a", "b"); err == nil {
			t.Error("PutAlias after Commit succeeded")
		}
		if _, err := w.Commit(t.Context(), newResolutionRun(ns, resolution, "r1")); err == nil {
			t.Error("Commit after Commit succeeded")
		}
		if _, err := w.Abort(t.Context(), "late"); err == nil {
			t.Error("Abort after Commit succeeded")
		}
		w = beginPublish(t, s, newResolutionRun(ns, resolution, "r2"))
		if _, err := w.Abort(t.Context(), "failed"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(t.Context(), newResolutionRun(ns, resolution, "r2")); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		// An empty generation is a generation.
		checkGeneration(t, s, ns, resolution, 1, nil, nil)
	}},
	{"published profiles survive migrating again", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		profiles := manyCustomers(30, 0, 1)
		publishProfiles(t, s, newResolutionRun(ns, resolution, "r1"), profiles, map[string]string{"a": "cus_000001"})
		for range 2 {
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate again: %v", err)
			}
		}
		other := open(t) // Open migrates too
		checkGeneration(t, other, ns, resolution, 1, profiles, map[string]string{"a": "cus_000001"})
		publishProfiles(t, other, newResolutionRun(ns, resolution, "r2"), profiles[:10], nil)
		checkGeneration(t, s, ns, resolution, 2, profiles[:10], nil)
	}},
}

func mustLookup(t *testing.T, s store.Store, id string) store.Profile {
	t.Helper()
	p, err := s.LookupProfile(t.Context(), ns, resolution, id)
	if err != nil {
		t.Fatalf("LookupProfile %s: %v", id, err)
	}
	return p
}

func generationStats(generation int64, profiles []store.Profile, aliases map[string]string) store.GenerationStats {
	st := store.GenerationStats{Generation: generation, Profiles: int64(len(profiles)), Aliases: int64(len(aliases))}
	for _, p := range profiles {
		st.Records += int64(len(p.Records))
	}
	return st
}
