package identity

import (
	"encoding/csv"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// jpSampleDir finds the shared Japanese sample data: $KIZUNA_JP_SAMPLE, or ../shared/data/jp-sample
// beside the module root. The data lives outside the repository and is not copied into it.
func jpSampleDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KIZUNA_JP_SAMPLE"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "data", "jp-sample")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// readCSV reads a CSV file with a header into one map per row.
func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no header", path)
	}
	out := make([]map[string]string, 0, len(rows)-1)
	for _, row := range rows[1:] {
		m := make(map[string]string, len(row))
		for i, col := range rows[0] {
			m[col] = row[i]
		}
		out = append(out, m)
	}
	return out
}

// TestJPSampleAgreement checks, on the shared sample of one customer base as four systems wrote
// it, that the records truth.csv assigns to one entity normalise to equal identifiers, and that
// no identifier a source wrote is rejected. Where the sources hold genuinely different values
// (another phone number, a different e-mail address) no normaliser can make them agree; the test
// logs those and reports how many entities agree per identifier, before and after
// normalisation.
func TestJPSampleAgreement(t *testing.T) {
	dir := jpSampleDir(t)
	if _, err := os.Stat(filepath.Join(dir, "truth.csv")); errors.Is(err, fs.ErrNotExist) || dir == "" {
		t.Skipf("shared sample data absent (%s/truth.csv): set KIZUNA_JP_SAMPLE to run this test", dir)
	}
	records := map[string]map[string]string{}
	for _, src := range []string{"crm", "ma", "meishi", "ec"} {
		for _, r := range readCSV(t, filepath.Join(dir, src+".csv")) {
			records[src+"/"+r["id"]] = r
		}
	}
	entities := map[string][]map[string]string{}
	for _, row := range readCSV(t, filepath.Join(dir, "truth.csv")) {
		r, ok := records[row["source"]+"/"+row["record_key"]]
		if !ok {
			t.Fatalf("truth.csv names %s/%s, which no source holds", row["source"], row["record_key"])
		}
		entities[row["entity"]] = append(entities[row["entity"]], r)
	}
	n := mustNormalizer(t, Options{})
	company := func(s string) (string, bool) {
		name, _, ok := n.CompanyName(s)
		return name, ok
	}
	for _, c := range []struct {
		column    string
		normalize func(string) (string, bool)
	}{
		{"email", Email},
		{"phone", n.Phone},
		{"company", company},
		{"name", PersonName},
		{"postal_code", PostalCode},
	} {
		var compared, rawAgree, agree, rejected int
		owners := map[string]map[string]bool{} // normalised value -> entities holding it
		for entity, recs := range entities {
			var raws, vals []string
			for _, r := range recs {
				raw := r[c.column]
				if strings.TrimSpace(raw) == "" {
					continue
				}
				v, ok := c.normalize(raw)
				if !ok {
					rejected++
					t.Errorf("%s: %s %q of %s rejected", entity, c.column, raw, r["id"])
					continue
				}
				raws = append(raws, raw)
				vals = append(vals, v)
				if owners[v] == nil {
					owners[v] = map[string]bool{}
				}
				owners[v][entity] = true
			}
			if len(vals) < 2 {
				continue
			}
			compared++
			if allEqual(raws) {
				rawAgree++
			}
			if allEqual(vals) {
				agree++
			} else {
				t.Logf("%s: %s differs: %q -> %q", entity, c.column, raws, vals)
			}
		}
		shared := 0
		for _, es := range owners {
			if len(es) > 1 {
				shared++
			}
		}
		t.Logf("%-11s %3d entities with 2+ values: %3d agree as written, %3d agree normalised; %d values rejected; %d normalised values shared by different entities",
			c.column, compared, rawAgree, agree, rejected, shared)
		// A few genuinely different values (a second phone number) are data, not a fault of the
		// normaliser; more than 1% of entities disagreeing is.
		if compared == 0 || agree*100 < compared*99 {
			t.Errorf("%s: only %d of %d entities agree once normalised", c.column, agree, compared)
		}
	}

	// Sources also disagree on how they write the legal form; the canonical form must not.
	var compared, agree int
	for entity, recs := range entities {
		var forms []string
		for _, r := range recs {
			if _, form, ok := n.CompanyName(r["company"]); ok {
				forms = append(forms, form)
			}
		}
		if len(forms) < 2 {
			continue
		}
		compared++
		if allEqual(forms) {
			agree++
		} else {
			t.Logf("%s: legal form differs: %q", entity, forms)
		}
	}
	t.Logf("legal form  %3d entities with 2+ values: %3d agree", compared, agree)
	if agree*100 < compared*99 {
		t.Errorf("legal form: only %d of %d entities agree", agree, compared)
	}
}

func allEqual(vs []string) bool {
	return !slices.ContainsFunc(vs, func(v string) bool { return v != vs[0] })
}

func mustNormalizer(t testing.TB, o Options) *Normalizer {
	t.Helper()
	n, err := NewNormalizer(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
