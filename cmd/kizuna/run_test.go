package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/envtest"
)

// kizuna runs the command line with args and returns what it printed.
func kizuna(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestRunSyncsTheExampleAndExportWritesItsRecords(t *testing.T) {
	examples := filepath.Join(envtest.RepoRoot(), "examples", "retail")
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "kizuna.db")

	out, err := kizuna(t, "run", "-f", examples, "--store", dsn)
	if err != nil {
		t.Fatalf("kizuna run: %v\n%s", err, out)
	}
	runOutput := out
	for _, want := range []string{
		"crm-contacts    Succeeded  10    9       1",
		"ma-leads        Succeeded  9     9       0",
		"business-cards  Succeeded  6     6       0",
		"ec-orders       Succeeded  18    18      0",
		"customers           Succeeded  24       12        12   0       0       0        1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kizuna run printed\n%s\nwithout %q", out, want)
		}
	}

	out, err = kizuna(t, "export", "records", "--store", dsn, "--source", "business-cards")
	if err != nil {
		t.Fatalf("kizuna export records: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, out)
	}
	if len(rows) != 7 || rows[0][0] != "key" || rows[1][0] != "M301" {
		t.Fatalf("export = %v, want a header and six cards from M301", rows)
	}
	if !strings.Contains(strings.Join(rows[1], ","), "㈱絆ストア") {
		t.Errorf("the Shift_JIS company name was not decoded: %v", rows[1])
	}

	// 田中 健 is in the CRM, the MA tool and the business cards: one profile.
	out, err = kizuna(t, "export", "identities", "--store", dsn)
	if err != nil {
		t.Fatalf("kizuna export identities: %v\n%s", err, out)
	}
	rows, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 25 || strings.Join(rows[0], ",") != "source,record_key,profile_id" {
		t.Fatalf("export identities = %v, %v; want the header and 24 records", rows, err)
	}
	profileOf := map[string]string{}
	for _, r := range rows[1:] {
		profileOf[r[0]+"/"+r[1]] = r[2]
	}
	tanaka := profileOf["crm-contacts/C1005"]
	if !strings.HasPrefix(tanaka, "cus_") || profileOf["business-cards/M303"] != tanaka || profileOf["ma-leads/L-502"] != tanaka {
		t.Errorf("田中 健's records have profiles %s, %s, %s; want one cus_ profile",
			tanaka, profileOf["business-cards/M303"], profileOf["ma-leads/L-502"])
	}

	out, err = kizuna(t, "explain", "-f", examples, "--store", dsn, "crm-contacts/C1005", "business-cards/M303")
	if err != nil || !strings.Contains(out, `YES  email                    they share Email "ken.tanaka@example.co.jp"`) {
		t.Errorf("kizuna explain: %v\n%s", err, out)
	}
	out, err = kizuna(t, "resolve", "-f", examples, "--store", dsn, "--dry-run")
	if err != nil || !strings.Contains(out, "not published (dry run), compared with generation 1") || !strings.Contains(out, "unchanged    12") {
		t.Errorf("kizuna resolve --dry-run: %v\n%s", err, out)
	}

	checkSegments(t, examples, dsn, runOutput)

	out, err = kizuna(t, "export", "quarantine", "--store", dsn, "--source", "crm-contacts")
	if err != nil {
		t.Fatalf("kizuna export quarantine: %v\n%s", err, out)
	}
	if !strings.Contains(out, `11,"column ""lifetime_value"": ""たくさん"" is not a number"`) {
		t.Errorf("quarantine export = %q, want line 11 and its reason", out)
	}
}

func TestRunFailsWhenASourceCannotSync(t *testing.T) {
	dir := t.TempDir()
	manifest := `apiVersion: cdp.kizuna.dev/v1alpha1
kind: DataSource
metadata:
  name: missing
spec:
  type: Records
  source:
    file:
      path: nowhere.csv
  format:
    type: CSV
  recordKey:
    column: id
`
	if err := os.WriteFile(filepath.Join(dir, "ds.yaml"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := kizuna(t, "run", "-f", dir, "--store", "sqlite:"+filepath.Join(dir, "kizuna.db"))
	if err == nil || !strings.Contains(out, "nowhere.csv does not exist") {
		t.Fatalf("kizuna run of a missing file: %v\n%s", err, out)
	}
}

func TestExplainShowsMatchWeights(t *testing.T) {
	example := filepath.Join(envtest.RepoRoot(), "examples", "febrl-dedupe")
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "kizuna.db")
	if out, err := kizuna(t, "run", "-f", example, "--store", dsn); err != nil {
		t.Fatalf("kizuna run: %v\n%s", err, out)
	}
	out, err := kizuna(t, "explain", "-f", example, "--store", dsn, "records/rec-1559-org", "records/rec-1559-dup-0")
	if err != nil {
		t.Fatalf("kizuna explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Probabilistic matching: candidates by blocking rule",
		`soc-sec-id                 +`,
		"at or above the threshold 0.95: linked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kizuna explain printed\n%s\nwithout %q", out, want)
		}
	}
	if strings.Contains(out, "records 7") {
		t.Errorf("kizuna explain named records by their positions in the run:\n%s", out)
	}
}

// checkSegments checks the example's segments as `kizuna run` evaluated them: Tokyo's size
// against the profiles' own attributes, and what preview says against what run recorded.
func checkSegments(t *testing.T, examples, dsn, runOutput string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tokyo := 0
	err = st.ScanProfiles(ctx, "default", "customers", func(p store.Profile) error {
		if p.Attributes["prefecture"] == "東京都" {
			tokyo++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, name := range []string{"tokyo-customers", "repeat-buyers"} {
		evals, err := st.SegmentEvaluations(ctx, "default", name, 1)
		if err != nil || len(evals) != 1 {
			t.Fatalf("evaluations of %s = %v, %v; want the run's one", name, evals, err)
		}
		sizes[name] = evals[0].Size
		if evals[0].Entered != evals[0].Size || evals[0].Exited != 0 {
			t.Errorf("first evaluation of %s = %+v: every member should have entered", name, evals[0])
		}
		if !regexp.MustCompile(`(?m)^` + name + `\s+` + strconv.FormatInt(evals[0].Size, 10) + `\s`).MatchString(runOutput) {
			t.Errorf("kizuna run printed\n%s\nwithout %s's size %d", runOutput, name, evals[0].Size)
		}
	}
	_ = st.Close()
	if tokyo == 0 || sizes["tokyo-customers"] != int64(tokyo) {
		t.Errorf("tokyo-customers has %d members, the profiles %d in 東京都", sizes["tokyo-customers"], tokyo)
	}
	if sizes["repeat-buyers"] == 0 {
		t.Error("repeat-buyers is empty: the example's orders have repeat buyers")
	}

	out, err := kizuna(t, "preview", "segment", "-f", filepath.Join(examples, "segments.yaml"), "--store", dsn)
	if err != nil {
		t.Fatalf("kizuna preview segment: %v\n%s", err, out)
	}
	for name, size := range sizes {
		if want := "Segment " + name + ": " + strconv.FormatInt(size, 10) + " profiles"; !strings.Contains(out, want) {
			t.Errorf("preview printed\n%s\nwithout %q", out, want)
		}
	}
	if !strings.Contains(out, "PREFECTURE") || !strings.Contains(out, "東京都") || !strings.Contains(out, "FROM profiles p") {
		t.Errorf("preview printed\n%s\nwithout the attribute the rule reads, its values, or the SQL", out)
	}
}
