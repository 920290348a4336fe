package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	for _, want := range []string{
		"crm-contacts    Succeeded  10    9       1",
		"ma-leads        Succeeded  9     9       0",
		"business-cards  Succeeded  6     6       0",
		"ec-orders       Succeeded  18    18      0",
		"customers           Succeeded  24       12        12   0       0       0        1",
		"not run locally yet: 2 Segment",
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
