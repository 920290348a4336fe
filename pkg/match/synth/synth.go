// Package synth generates FEBRL-like person records, originals and duplicates carrying the
// errors people make when typing them (substitutions, insertions, deletions, transpositions,
// split and joined words, missing values, swapped names and address lines), with the truth
// of which records describe one person. The same Config, seed included, always gives the
// same records, so benchmarks and accuracy figures can be reproduced.
//
// The fields are FEBRL's: given_name, surname, street_number, address_1, address_2, suburb,
// postcode, state, date_of_birth (YYYYMMDD) and soc_sec_id (seven digits), normalised as the
// match package expects (lower case, trimmed, "" for missing).
package synth

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Fields lists the generated fields, in FEBRL's order.
var Fields = []string{"given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"}

// Field indexes into a record.
const (
	givenName = iota
	surname
	streetNumber
	address1
	address2
	suburb
	postcode
	state
	dateOfBirth
	socSecID
	numFields
)

// Config describes a dataset.
type Config struct {
	// Records in total, originals and duplicates.
	Records int
	// DuplicateShare is the share of records that are duplicates. Default 0.2 (FEBRL's
	// dataset2: 4,000 originals, 1,000 duplicates).
	DuplicateShare float64
	// MaxDuplicates per original. Default 5.
	MaxDuplicates int
	// MaxModifications per duplicate, each a typo, a missing value or a swap. Default 3.
	MaxModifications int
	Seed             uint64
}

// Data is a generated dataset, columnar like match.Dataset.
type Data struct {
	N      int
	Fields map[string][]string
	// Entity gives each record's person: records with the same Entity are one person.
	Entity []int32
	// Originals and Duplicates count the records of each kind.
	Originals, Duplicates int
}

var (
	theWorld *world
	once     sync.Once
)

// Generate makes a dataset.
func Generate(cfg Config) *Data {
	if cfg.DuplicateShare == 0 {
		cfg.DuplicateShare = 0.2
	}
	if cfg.MaxDuplicates == 0 {
		cfg.MaxDuplicates = 5
	}
	if cfg.MaxModifications == 0 {
		cfg.MaxModifications = 3
	}
	once.Do(func() { theWorld = newWorld() })
	w := theWorld
	rng := newRand(cfg.Seed)
	dups := int(float64(cfg.Records) * cfg.DuplicateShare)
	origs := cfg.Records - dups
	if origs <= 0 {
		origs, dups = cfg.Records, 0
	}
	dups = min(dups, origs*cfg.MaxDuplicates)
	records := make([][numFields]string, 0, origs+dups)
	entity := make([]int32, 0, origs+dups)
	for i := range origs {
		records = append(records, w.person(rng))
		entity = append(entity, int32(i))
	}
	perOrig := make([]uint8, origs)
	for range dups {
		o := rng.IntN(origs)
		for int(perOrig[o]) >= cfg.MaxDuplicates {
			o = rng.IntN(origs)
		}
		perOrig[o]++
		d := records[o]
		for range 1 + rng.IntN(cfg.MaxModifications) {
			modify(rng, w, &d)
		}
		records = append(records, d)
		entity = append(entity, int32(o))
	}
	// Shuffle so that a duplicate is not next to its original.
	perm := rng.Perm(len(records))
	data := &Data{N: len(records), Fields: map[string][]string{}, Entity: make([]int32, len(records)), Originals: origs, Duplicates: dups}
	cols := make([][]string, numFields)
	for f := range cols {
		cols[f] = make([]string, len(records))
		data.Fields[Fields[f]] = cols[f]
	}
	for to, from := range perm {
		for f := range numFields {
			cols[f][to] = records[from][f]
		}
		data.Entity[to] = entity[from]
	}
	return data
}

var (
	dobFrom = time.Date(1920, 1, 1, 0, 0, 0, 0, time.UTC)
	dobDays = int(time.Date(2015, 12, 31, 0, 0, 0, 0, time.UTC).Sub(dobFrom).Hours() / 24)
)

// person draws an original record.
func (w *world) person(rng *rand.Rand) [numFields]string {
	var r [numFields]string
	r[givenName] = w.given.draw(rng)
	r[surname] = w.surname.draw(rng)
	if rng.Float64() >= 0.05 {
		r[streetNumber] = strconv.Itoa(streetNo(rng))
	}
	r[address1] = w.street.draw(rng)
	switch x := rng.Float64(); {
	case x < 0.15:
		r[address2] = []string{"unit ", "flat ", "flt ", "apartment "}[rng.IntN(4)] + strconv.Itoa(1+rng.IntN(60))
	case x < 0.45:
		r[address2] = w.building.draw(rng)
	}
	loc := w.drawLocality(rng)
	r[suburb], r[postcode], r[state] = loc.suburb, loc.postcode, loc.state
	if rng.Float64() >= 0.02 {
		r[dateOfBirth] = dobFrom.AddDate(0, 0, rng.IntN(dobDays+1)).Format("20060102")
	}
	r[socSecID] = strconv.Itoa(1_000_000 + rng.IntN(9_000_000))
	return r
}

// streetNo is small more often than large, as house numbers are.
func streetNo(rng *rand.Rand) int {
	return 1 + min(int(rng.ExpFloat64()*30), 998)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x73796e7468)) }
