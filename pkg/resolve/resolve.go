// Package resolve merges the records of one customer into one profile (名寄せ). It links records
// by deterministic rules (a shared normalised identifier) and by probabilistic matching (package
// match), clusters the links with union-find, gives every cluster a profile ID that stays stable
// across runs, and chooses each profile attribute's value by survivorship rules.
//
// It works in memory on the records it is given and imports no store or Kubernetes code beyond
// the store's value types: the worker reads the records and the previous publication, calls Run,
// and publishes the result.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/identity"
	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Config is one resolution, as an IdentityResolution's spec declares it.
type Config struct {
	Namespace string
	// Name is the IdentityResolution's name; minted profile IDs derive from it.
	Name string
	// Sources are the DataSources taking part, in the order the spec lists them.
	Sources []Source
	// Normalizer normalises identifiers before they are compared.
	Normalizer *identity.Normalizer
	// Deterministic rules link records that share normalised identifiers.
	Deterministic []DeterministicRule
	// Probabilistic links records that look alike; nil for none. Its fields are attribute
	// names, or identifier types written identifier.<Type> (identifier.Email).
	Probabilistic *match.Config
	// Survivorship chooses each attribute's value.
	Survivorship Survivorship
	// ProfileIDPrefix is put before every minted profile ID.
	ProfileIDPrefix string
}

// Source is a DataSource taking part in a resolution.
type Source struct {
	Name string
	// Priority orders sources for the SourcePriority strategy: higher wins.
	Priority int
}

// DeterministicRule links records whose normalised values of every listed identifier type are
// equal.
type DeterministicRule struct {
	Name string
	// Identifiers are identifier types as records carry them: Email, Phone, Custom:member_no.
	Identifiers []string
	// MaxRecordsPerValue ignores a value shared by more records than this (a reception desk's
	// phone, test@example.com): linking on it would merge strangers.
	MaxRecordsPerValue int
}

// DefaultMaxRecordsPerValue is the cardinality limit of a rule that sets none.
const DefaultMaxRecordsPerValue = 20

// Record is one source record, as resolution reads it.
type Record struct {
	Ref store.RecordRef
	// Identifiers are the raw identifier values by type; resolution normalises them.
	Identifiers map[string][]string
	Attributes  map[string]any
	// UpdatedAt is when the record last changed, for the MostRecent strategy.
	UpdatedAt time.Time
}

// Input is what a run works on: the live records of every source and what the previous
// publication said of them.
type Input struct {
	// Records, sorted by reference (SortRecords) when Previous.ProfileOf is set; otherwise in
	// any order, and Run sorts them.
	Records []Record
	// Previous is the published profiles: which profile each record belonged to, when each
	// profile ID was issued, and the aliases that still resolve. Empty before the first
	// publication.
	Previous Previous
	// Generation is the generation this run publishes; profiles it mints carry it.
	Generation int64

	// normalized holds the identifiers a Loader normalised, aligned with Records.
	normalized *normalized
}

// Previous is the publication a run starts from.
type Previous struct {
	// ProfileOf holds, for each of Input.Records, its published profile ID, "" for a record not
	// published yet; nil before the first publication. It is a slice aligned with the records,
	// not a map, because at ten million records a map of references would take gigabytes.
	ProfileOf []string
	// Created maps a published profile ID to the generation that issued it.
	Created map[string]int64
	// Aliases maps absorbed profile IDs to the profile they now resolve to.
	Aliases map[string]string
}

// Profile is one resolved customer. Its attributes and identifiers are computed on demand:
// Result.ProfileAttributes and Result.ProfileIdentifiers.
type Profile struct {
	ID                string
	CreatedGeneration int64
	// Records indexes Result.Records, in reference order.
	Records []int32
}

// Result is a run's outcome.
type Result struct {
	// Records are the input records, sorted by reference.
	Records []Record
	// Profiles, in ID order.
	Profiles []Profile
	// Aliases maps every absorbed profile ID that still resolves to its profile.
	Aliases map[string]string
	// ProfileOf gives, for each record, the index of its profile in Profiles.
	ProfileOf []int32
	Stats     Stats
	// Ignored are the identifier values shared by too many records to link on, most shared
	// first, their values masked.
	Ignored []IgnoredValue
	// Match is the probabilistic matching's outcome, nil without probabilistic rules.
	Match *match.Result

	cfg   *Config
	links *linkSet
	data  *match.Dataset
	// idTypes are the identifier types the records carry; ids holds each record's normalised
	// identifiers, sorted by type index then value.
	idTypes []string
	ids     *idTable
	// attrs are the records' attributes.
	attrs *attributeTable
	// mintBuf is mint's scratch space.
	mintBuf []byte
	// sourceOrder and sourcePriority rank sources for survivorship.
	sourceOrder, sourcePriority map[string]int
}

// Stats compares a run with the previous publication.
type Stats struct {
	Records  int64
	Profiles int64
	// Merges counts profiles that absorbed at least one other published profile.
	Merges int64
	// Splits counts published profiles whose records now belong to several profiles.
	Splits int64
	// NewProfiles counts profile IDs minted by this run.
	NewProfiles int64
	// Unchanged counts profiles with the same ID and the same records as before.
	Unchanged int64
	// DeterministicLinks and ProbabilisticLinks count the pairs each kind of rule linked
	// (deterministic links are counted as the edges that join a group: n-1 for n records).
	DeterministicLinks  int64
	ProbabilisticLinks  int64
	CandidatePairs      int64
	IdentifierValues    int64
	IgnoredValueRecords int64
}

// IgnoredValue is an identifier value not used for linking because too many records share it.
type IgnoredValue struct {
	Rule string
	// Type is the identifier type, or the rule's types joined with "+".
	Type string
	// Value is masked to its first and last characters: status carries no personal data.
	Value   string
	Records int64
}

// Run resolves the input into profiles. It takes ownership of the input's records: it sorts
// them, and moves their identifiers and attributes into compact tables of its own (the records'
// maps are dropped).
func Run(ctx context.Context, cfg *Config, in Input) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	records := in.Records
	if !slices.IsSortedFunc(records, compareRecords) {
		if in.Previous.ProfileOf != nil || in.normalized != nil {
			return nil, errors.New("resolve: the records are not sorted by reference, so what was computed for them does not line up: add them in order, or call SortRecords first")
		}
		SortRecords(records)
	}
	if p := in.Previous.ProfileOf; p != nil && len(p) != len(records) {
		return nil, fmt.Errorf("resolve: %d previous profiles for %d records", len(p), len(records))
	}
	for i := 1; i < len(records); i++ {
		if records[i].Ref == records[i-1].Ref {
			return nil, fmt.Errorf("record %s/%s appears twice in the input", records[i].Ref.Source, records[i].Ref.Key)
		}
	}
	res := &Result{Records: records, cfg: cfg, links: newLinkSet(len(records))}
	res.Stats.Records = int64(len(records))
	if in.normalized != nil {
		res.idTypes, res.ids, res.attrs = in.normalized.idTypes, in.normalized.ids, in.normalized.attrs
	} else {
		res.normalizeAll()
		res.attrs = newAttributeTable()
		for i := range records {
			res.attrs.add(records[i].Attributes)
			records[i].Attributes = nil
		}
	}

	if err := res.linkDeterministic(ctx); err != nil {
		return nil, err
	}
	if cfg.Probabilistic != nil {
		if err := res.linkProbabilistic(ctx); err != nil {
			return nil, err
		}
	}
	clusters := res.links.clusters()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.assignIDs(clusters, in)
	res.sourceOrder, res.sourcePriority = map[string]int{}, map[string]int{}
	for i, s := range cfg.Sources {
		res.sourceOrder[s.Name] = i
		res.sourcePriority[s.Name] = s.Priority
	}
	return res, nil
}

func (c *Config) validate() error {
	if c.Normalizer == nil {
		return errors.New("resolve: the configuration has no normalizer")
	}
	if len(c.Deterministic) == 0 && c.Probabilistic == nil {
		return errors.New("resolve: no deterministic or probabilistic rules: without rules no records are merged")
	}
	for _, r := range c.Deterministic {
		if len(r.Identifiers) == 0 {
			return fmt.Errorf("resolve: deterministic rule %q lists no identifiers", r.Name)
		}
	}
	return nil
}

// SortRecords sorts records by reference: source, then key.
func SortRecords(records []Record) { slices.SortFunc(records, compareRecords) }

func compareRecords(a, b Record) int { return compareRefs(a.Ref, b.Ref) }

// CompareRefs orders record references by source, then key, bytewise: the order of SortRecords
// and of the store's scans.
func CompareRefs(a, b store.RecordRef) int { return compareRefs(a, b) }

func compareRefs(a, b store.RecordRef) int {
	if a.Source != b.Source {
		if a.Source < b.Source {
			return -1
		}
		return 1
	}
	switch {
	case a.Key < b.Key:
		return -1
	case a.Key > b.Key:
		return 1
	}
	return 0
}
