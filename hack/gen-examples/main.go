// Command gen-examples writes the made-up data of the examples: examples/jp (four systems' CSV
// exports and the ground truth, from test/synth) and examples/febrl-dedupe and febrl-link
// (FEBRL-like person records, from pkg/match/synth; record IDs rec-N-org and rec-N-dup-K carry
// the truth). The output is committed; run it again only to change the data:
//
//	go run ./hack/gen-examples
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	matchsynth "github.com/kizuna-dev/kizuna/pkg/match/synth"
	"github.com/kizuna-dev/kizuna/test/synth"
)

func main() {
	examples := flag.String("examples", "examples", "the examples folder")
	seed := flag.Uint64("seed", 20261123, "random seed")
	flag.Parse()
	err := writeJP(filepath.Join(*examples, "jp", "data"), synth.JPContacts(*seed, 300))
	if err == nil {
		err = writeFEBRL(filepath.Join(*examples, "febrl-dedupe", "data"), *seed)
	}
	if err == nil {
		err = writeFEBRLLink(filepath.Join(*examples, "febrl-link", "data"), *seed)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-examples:", err)
		os.Exit(1)
	}
}

// febrlHeader is FEBRL's, with its space after each comma.
var febrlHeader = append([]string{"rec_id"}, matchsynth.Fields...)

// febrlRows gives each generated record its FEBRL ID: the first record of a person is
// rec-N-org, the others rec-N-dup-K.
func febrlRows(d *matchsynth.Data) (rows [][]string, original []bool) {
	seen := map[int32]int{}
	for i := range d.N {
		e := d.Entity[i]
		id := fmt.Sprintf("rec-%d-org", e)
		if k, ok := seen[e]; ok {
			id = fmt.Sprintf("rec-%d-dup-%d", e, k-1)
		}
		seen[e]++
		row := []string{id}
		for _, f := range matchsynth.Fields {
			row = append(row, d.Fields[f][i])
		}
		rows = append(rows, row)
		original = append(original, seen[e] == 1)
	}
	return rows, original
}

func writeFEBRL(dir string, seed uint64) error {
	rows, _ := febrlRows(matchsynth.Generate(matchsynth.Config{Records: 2000, Seed: seed}))
	return writeCSV(filepath.Join(dir, "records.csv"), febrlHeader, rows)
}

// writeFEBRLLink splits originals (a) from their duplicates (b), one duplicate each.
func writeFEBRLLink(dir string, seed uint64) error {
	rows, original := febrlRows(matchsynth.Generate(matchsynth.Config{Records: 1000, DuplicateShare: 0.5, MaxDuplicates: 1, Seed: seed}))
	var a, b [][]string
	for i, r := range rows {
		if original[i] {
			a = append(a, r)
		} else {
			b = append(b, r)
		}
	}
	if err := writeCSV(filepath.Join(dir, "a.csv"), febrlHeader, a); err != nil {
		return err
	}
	return writeCSV(filepath.Join(dir, "b.csv"), febrlHeader, b)
}

func writeCSV(path string, header []string, rows [][]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func writeJP(dir string, records []synth.JPContact) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]*csv.Writer{}
	var closers []*os.File
	open := func(name string, header ...string) (*csv.Writer, error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		closers = append(closers, f)
		w := csv.NewWriter(f)
		return w, w.Write(header)
	}
	for _, s := range synth.JPSystems {
		w, err := open(s+".csv", "id", "company", "name", "email", "phone", "postal_code", "prefecture")
		if err != nil {
			return err
		}
		files[s] = w
	}
	truth, err := open("truth.csv", "source", "record_key", "entity")
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := files[r.System].Write([]string{r.ID, r.Company, r.Name, r.Email, r.Phone, r.PostalCode, r.Prefecture}); err != nil {
			return err
		}
		if err := truth.Write([]string{r.System, r.ID, r.Entity}); err != nil {
			return err
		}
	}
	for _, w := range append([]*csv.Writer{truth}, mapValues(files)...) {
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	}
	for _, f := range closers {
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func mapValues(m map[string]*csv.Writer) []*csv.Writer {
	out := make([]*csv.Writer, 0, len(m))
	for _, s := range synth.JPSystems {
		out = append(out, m[s])
	}
	return out
}
