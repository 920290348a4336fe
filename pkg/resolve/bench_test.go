package resolve

import (
	"flag"
	"fmt"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/synth"
)

// runRecords sizes BenchmarkRun.
var runRecords = flag.Int("run.records", 1_000_000, "records BenchmarkRun resolves")

// BenchmarkRun resolves 1,000,000 generated records with three identifiers each, in memory:
// the engine alone, without reading or writing the store (BenchmarkResolveDeterministic in
// pkg/worker measures end to end).
func BenchmarkRun(b *testing.B) {
	cfg := testConfig(&testing.T{})
	cfg.Deterministic = []DeterministicRule{
		{Name: "email", Identifiers: []string{"Email"}},
		{Name: "phone", Identifiers: []string{"Phone"}},
		{Name: "customer", Identifiers: []string{"CustomerID"}},
	}
	for b.Loop() {
		b.StopTimer()
		loader := NewLoader(cfg)
		err := synth.Contacts(1, *runRecords, []string{"crm", "ec", "app"}, func(c synth.Contact) error {
			ids := map[string][]string{}
			for t, v := range map[string]string{"Email": c.Email, "Phone": c.Phone, "CustomerID": c.CustomerID} {
				if v != "" {
					ids[t] = []string{v}
				}
			}
			loader.Add(Record{Ref: store.RecordRef{Source: c.Source, Key: c.Key}, Identifiers: ids,
				Attributes: map[string]any{"segment": fmt.Sprint(c.Person % 7)}})
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		in := loader.Input()
		in.Generation = 1
		res, err := Run(b.Context(), cfg, in)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res.Profiles)), "profiles")
	}
}
