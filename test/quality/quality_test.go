// Package quality measures identity resolution against data with a known truth, through the
// committed example manifests exactly as `kizuna run` runs them: sync every DataSource into a
// fresh store, resolve, read the published profiles, and score them by pairwise precision,
// recall and F1. The bars are the project's acceptance figures; a run below them fails.
package quality

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/ingest"
	"github.com/kizuna-dev/kizuna/pkg/manifest"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
	"github.com/kizuna-dev/kizuna/test/envtest"
)

// sharedData is the folder of the reference data sets, next to the repository; a user's clone
// does not have it, and the tests that need it say so and skip.
func sharedData(t *testing.T, parts ...string) string {
	t.Helper()
	dir := filepath.Join(append([]string{envtest.RepoRoot(), "..", "shared", "data"}, parts...)...)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("reference data %s is not available (it sits beside the repository in the project's CI): %v", dir, err)
	}
	return dir
}

// example copies an example's manifests into a temporary folder, with data files taken from
// files (name in data/ -> path); without files, the example's own data is used.
func example(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	src := filepath.Join(envtest.RepoRoot(), "examples", name)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	if files == nil {
		files = map[string]string{}
		data, err := os.ReadDir(filepath.Join(src, "data"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range data {
			files[e.Name()] = filepath.Join(src, "data", e.Name())
		}
	}
	for name, path := range files {
		copyFile(t, path, filepath.Join(dir, "data", name))
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// resolveExample runs the manifests of dir as `kizuna run` does and returns the published
// profile of every record.
func resolveExample(t *testing.T, dir string) map[store.RecordRef]string {
	t.Helper()
	ctx := t.Context()
	set, err := manifest.Load(dir, "default")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, located := range set.DataSources {
		cfg, err := worker.SyncConfig(ctx, located.Object, worker.MapCredentials{}, worker.SyncOptions{
			Namespace: "default", RunID: "quality", BaseDir: located.Dir, TempDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		run, err := ingest.Sync(ctx, st, cfg)
		if err != nil || run.Status != store.SyncSucceeded || run.RowsQuarantined > 0 {
			t.Fatalf("sync %s: %+v, %v", located.Object.Name, run, err)
		}
	}
	if len(set.IdentityResolutions) != 1 {
		t.Fatalf("%s declares %d IdentityResolutions, want 1", dir, len(set.IdentityResolutions))
	}
	idr := set.IdentityResolutions[0].Object
	cfg, err := worker.ResolveConfig(idr)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := worker.Resolve(ctx, st, cfg, worker.ResolveOptions{RunID: "quality"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", idr.Name, run.Message)
	profiles := map[store.RecordRef]string{}
	err = st.ScanMemberships(ctx, idr.Namespace, idr.Name, func(ref store.RecordRef, id string) error {
		profiles[ref] = id
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return profiles
}

// scores are pairwise precision, recall and F1 of a clustering against the truth: a pair is
// predicted linked when both records got the same profile, truly linked when both are the
// same entity.
type scores struct {
	precision, recall, f1 float64
	truePairs, predicted  int64
}

func (s scores) String() string {
	return fmt.Sprintf("precision %.4f, recall %.4f, F1 %.4f (%d true pairs, %d predicted)", s.precision, s.recall, s.f1, s.truePairs, s.predicted)
}

func score(t *testing.T, truth, predicted map[store.RecordRef]string) scores {
	t.Helper()
	if len(predicted) != len(truth) {
		t.Errorf("%d records resolved, the truth has %d", len(predicted), len(truth))
	}
	// Count pairs by the sizes of clusters and of their intersections: n*(n-1)/2 each.
	pairs := func(counts map[string]int64) int64 {
		var n int64
		for _, c := range counts {
			n += c * (c - 1) / 2
		}
		return n
	}
	byEntity, byProfile, byBoth := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for ref, entity := range truth {
		profile, ok := predicted[ref]
		if !ok {
			profile = "missing:" + ref.Source + "/" + ref.Key
		}
		byEntity[entity]++
		byProfile[profile]++
		byBoth[entity+"\x00"+profile]++
	}
	s := scores{truePairs: pairs(byEntity), predicted: pairs(byProfile)}
	correct := float64(pairs(byBoth))
	if s.predicted > 0 {
		s.precision = correct / float64(s.predicted)
	}
	if s.truePairs > 0 {
		s.recall = correct / float64(s.truePairs)
	}
	if s.precision+s.recall > 0 {
		s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall)
	}
	return s
}

// readTruth reads a truth.csv: source, record_key, entity.
func readTruth(t *testing.T, path string) map[store.RecordRef]string {
	t.Helper()
	rows := readCSV(t, path)
	truth := map[store.RecordRef]string{}
	for _, r := range rows[1:] {
		truth[store.RecordRef{Source: r[0], Key: r[1]}] = r[2]
	}
	return truth
}

// febrlTruth reads the truth of a FEBRL file from its record IDs: rec-N-org and rec-N-dup-K are
// the same person.
func febrlTruth(t *testing.T, source, path string, truth map[store.RecordRef]string) {
	t.Helper()
	rows := readCSV(t, path)
	for _, r := range rows[1:] {
		id := strings.TrimSpace(r[0])
		parts := strings.Split(id, "-")
		if len(parts) < 3 {
			t.Fatalf("%s: record ID %q is not rec-N-org or rec-N-dup-K", path, id)
		}
		truth[store.RecordRef{Source: source, Key: id}] = parts[1]
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func check(t *testing.T, what string, s scores, bar float64) {
	t.Helper()
	t.Logf("%s: %s", what, s)
	if s.f1 < bar {
		t.Errorf("%s: F1 %.4f is below the bar %.3f (%s)", what, s.f1, bar, s)
	}
}

func TestJPSample(t *testing.T) {
	dir := sharedData(t, "jp-sample")
	files := map[string]string{}
	for _, s := range []string{"crm", "ma", "meishi", "ec"} {
		files[s+".csv"] = filepath.Join(dir, s+".csv")
	}
	got := resolveExample(t, example(t, "jp", files))
	check(t, "jp-sample through examples/jp", score(t, readTruth(t, filepath.Join(dir, "truth.csv")), got), 0.995)
}

func TestJPExampleData(t *testing.T) {
	dir := example(t, "jp", nil)
	got := resolveExample(t, dir)
	check(t, "examples/jp with its own data", score(t, readTruth(t, filepath.Join(dir, "data", "truth.csv")), got), 0.99)
}

// splitFEBRL writes a FEBRL file's originals and duplicates into two files.
func splitFEBRL(t *testing.T, path string) (a, b string) {
	t.Helper()
	rows := readCSV(t, path)
	dir := t.TempDir()
	a, b = filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	var orgs, dups [][]string
	for _, r := range rows[1:] {
		if strings.HasSuffix(strings.TrimSpace(r[0]), "-org") {
			orgs = append(orgs, r)
		} else {
			dups = append(dups, r)
		}
	}
	for path, part := range map[string][][]string{a: orgs, b: dups} {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(f)
		_ = w.Write(rows[0])
		_ = w.WriteAll(part)
		if err := errors.Join(w.Error(), f.Close()); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func TestFEBRLDedupe(t *testing.T) {
	dir := sharedData(t, "febrl")
	for _, name := range []string{"dataset1.csv", "dataset2.csv"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			got := resolveExample(t, example(t, "febrl-dedupe", map[string]string{"records.csv": path}))
			truth := map[store.RecordRef]string{}
			febrlTruth(t, "records", path, truth)
			check(t, name+" through examples/febrl-dedupe", score(t, truth, got), 0.95)
		})
	}
}

func TestFEBRLLink(t *testing.T) {
	path := filepath.Join(sharedData(t, "febrl"), "dataset1.csv")
	a, b := splitFEBRL(t, path)
	got := resolveExample(t, example(t, "febrl-link", map[string]string{"a.csv": a, "b.csv": b}))
	truth := map[store.RecordRef]string{}
	febrlTruth(t, "a", a, truth)
	febrlTruth(t, "b", b, truth)
	check(t, "dataset1 originals and duplicates through examples/febrl-link", score(t, truth, got), 0.98)
}

// TestExamplesWithTheirOwnData runs the FEBRL examples on the data committed with them, which
// is what `kizuna run` and a newcomer see.
func TestExamplesWithTheirOwnData(t *testing.T) {
	for _, c := range []struct {
		example string
		sources []string
		bar     float64
	}{{"febrl-dedupe", []string{"records"}, 0.95}, {"febrl-link", []string{"a", "b"}, 0.98}} {
		t.Run(c.example, func(t *testing.T) {
			dir := example(t, c.example, nil)
			got := resolveExample(t, dir)
			truth := map[store.RecordRef]string{}
			for _, s := range c.sources {
				febrlTruth(t, s, filepath.Join(dir, "data", s+".csv"), truth)
			}
			check(t, c.example+" with its own data", score(t, truth, got), c.bar)
		})
	}
}
