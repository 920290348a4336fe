// Command gen-examples writes the made-up data of examples/jp (four systems' CSV exports and the
// ground truth) from test/synth. The output is committed; run it again only to change the data:
//
//	go run ./hack/gen-examples -out examples/jp/data
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kizuna-dev/kizuna/test/synth"
)

func main() {
	out := flag.String("out", "examples/jp/data", "folder to write the CSV files into")
	people := flag.Int("people", 300, "number of people")
	seed := flag.Uint64("seed", 20261123, "random seed")
	flag.Parse()
	if err := write(*out, synth.JPContacts(*seed, *people)); err != nil {
		fmt.Fprintln(os.Stderr, "gen-examples:", err)
		os.Exit(1)
	}
}

func write(dir string, records []synth.JPContact) error {
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
