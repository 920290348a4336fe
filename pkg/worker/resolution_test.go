package worker

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/resolve"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// syncPeople writes one snapshot of a source: key -> email.
func syncPeople(t *testing.T, st store.Store, source, runID string, people map[string][]string) {
	t.Helper()
	ctx := t.Context()
	w, err := st.BeginSync(ctx, store.SyncRun{Namespace: "shop", Source: source, RunID: runID, Mode: store.SyncSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	for key, emails := range people {
		if err := w.PutRecord(ctx, store.Record{Key: key, Identifiers: map[string][]string{"Email": emails},
			Attributes: map[string]any{"name": key}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, int64(len(people)), store.SourceState{}); err != nil {
		t.Fatal(err)
	}
}

func testResolution() *cdpv1alpha1.IdentityResolution {
	idr := &cdpv1alpha1.IdentityResolution{Spec: cdpv1alpha1.IdentityResolutionSpec{
		Sources:         []cdpv1alpha1.ResolutionSource{{Name: "crm"}, {Name: "ec"}},
		Deterministic:   []cdpv1alpha1.DeterministicRule{{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}}},
		ProfileIDPrefix: "cus_",
	}}
	idr.Name, idr.Namespace = "customers", "shop"
	return idr
}

// resolveTestResolution publishes generation g1 of testResolution over what the store holds,
// and returns the resolution, its configuration and each record's profile, by "source/key".
func resolveTestResolution(t *testing.T, st store.Store) (*cdpv1alpha1.IdentityResolution, *resolve.Config, map[string]string) {
	t.Helper()
	idr := testResolution()
	cfg, err := ResolveConfig(idr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(t.Context(), st, cfg, ResolveOptions{RunID: "g1"}); err != nil {
		t.Fatal(err)
	}
	byRecord, _ := profilesByRecord(t, st)
	return idr, cfg, byRecord
}

// profilesByRecord reads the published profile of every record, and the aliases.
func profilesByRecord(t *testing.T, st store.Store) (map[string]string, map[string]string) {
	t.Helper()
	byRecord, aliases := map[string]string{}, map[string]string{}
	err := st.ScanMemberships(t.Context(), "shop", "customers", func(ref store.RecordRef, id string) error {
		byRecord[ref.Source+"/"+ref.Key] = id
		return nil
	})
	if err == nil {
		err = st.ScanAliases(t.Context(), "shop", "customers", func(alias, id string) error {
			aliases[alias] = id
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return byRecord, aliases
}

// TestResolveKeepsIDsThroughTheStore publishes generation after generation through the store,
// SQLite and PostgreSQL: what one run publishes is what the next starts from.
func TestResolveKeepsIDsThroughTheStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testResolveKeepsIDs(t, "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		if err := pg.CreateDatabase("resolve_ids"); err != nil {
			t.Fatal(err)
		}
		testResolveKeepsIDs(t, pg.DSN("resolve_ids"))
	})
}

func testResolveKeepsIDs(t *testing.T, dsn string) {
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	cfg, err := ResolveConfig(testResolution())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	resolveRun := func(runID string) store.ResolutionRun {
		t.Helper()
		run, _, err := Resolve(ctx, st, cfg, ResolveOptions{RunID: runID, Now: func() time.Time { return clock }})
		if err != nil || run.Status != store.SyncSucceeded {
			t.Fatalf("resolve %s: %+v, %v", runID, run, err)
		}
		return run
	}

	syncPeople(t, st, "crm", "s1", map[string][]string{"taro": {"taro@example.jp"}, "hanako": {"hanako@example.jp"}})
	syncPeople(t, st, "ec", "s1", map[string][]string{"t1": {"TARO@example.jp"}})
	first := resolveRun("r1")
	ids, _ := profilesByRecord(t, st)
	taro, hanako := ids["crm/taro"], ids["crm/hanako"]
	if first.Generation != 1 || first.Profiles != 2 || ids["ec/t1"] != taro || taro == hanako {
		t.Fatalf("first run %+v, profiles %v", first, ids)
	}

	// A retried Job finds its run done and changes nothing.
	if again := resolveRun("r1"); again.Generation != 1 {
		t.Errorf("the retried run published generation %d", again.Generation)
	}
	// Rerunning on unchanged data changes no ID.
	second := resolveRun("r2")
	if now, _ := profilesByRecord(t, st); fmt.Sprint(now) != fmt.Sprint(ids) || second.NewProfiles != 0 || second.Generation != 2 {
		t.Errorf("rerun: %+v, profiles %v, want %v", second, now, ids)
	}

	// A bridge record merges the two profiles. Both were issued in generation 1, so the earliest
	// by (generation, ID) keeps its ID and the other becomes an alias.
	syncPeople(t, st, "ec", "s2", map[string][]string{"t1": {"TARO@example.jp"}, "bridge": {"taro@example.jp", "hanako@example.jp"}})
	merged := resolveRun("r3")
	now, aliases := profilesByRecord(t, st)
	keep, gone := min(taro, hanako), max(taro, hanako)
	if merged.Merges != 1 || merged.Profiles != 1 || now["crm/hanako"] != keep || aliases[gone] != keep {
		t.Fatalf("bridge: %+v, profiles %v, aliases %v; want all under %s and %s an alias", merged, now, aliases, keep, gone)
	}
	if p, err := st.LookupProfile(ctx, "shop", "customers", gone); err != nil || p.ID != keep {
		t.Errorf("LookupProfile(%s) = %s, %v; want the alias to resolve to %s", gone, p.ID, err, keep)
	}

	// A dry run of a rule set that links on phone numbers only (these records have none)
	// reports the split it would make and publishes nothing.
	phoneOnly := testResolution()
	phoneOnly.Spec.Deterministic[0].Identifiers = []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierPhone}
	phoneCfg, err := ResolveConfig(phoneOnly)
	if err != nil {
		t.Fatal(err)
	}
	dry, _, err := Resolve(ctx, st, phoneCfg, ResolveOptions{RunID: "r4-dry", DryRun: true})
	if err != nil || !dry.DryRun || dry.Generation != 3 || dry.Splits != 1 || dry.Profiles != 4 {
		t.Errorf("dry run %+v, %v; want a dry run against generation 3 splitting the one profile into 4", dry, err)
	}
	runs, err := st.ResolutionRuns(ctx, "shop", "customers", 1)
	if err != nil || len(runs) != 1 || runs[0].RunID != "r4-dry" || !runs[0].DryRun {
		t.Errorf("latest run %+v, %v; want the dry run recorded", runs, err)
	}
	if state, _ := st.ResolutionState(ctx, "shop", "customers"); state.PublishedGeneration != 3 {
		t.Errorf("a dry run published generation %d", state.PublishedGeneration)
	}

	// Removing the bridge splits them again: the larger part keeps the ID.
	syncPeople(t, st, "ec", "s3", map[string][]string{"t1": {"TARO@example.jp"}})
	split := resolveRun("r5")
	now, _ = profilesByRecord(t, st)
	if split.Splits != 1 || now["crm/taro"] != keep || now["ec/t1"] != keep || now["crm/hanako"] == keep {
		t.Errorf("split: %+v, profiles %v; want Taro's two records to keep %s", split, now, keep)
	}
}
