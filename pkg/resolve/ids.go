package resolve

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// idEncoding writes minted IDs in lower-case base32 without padding: short, URL-safe, and
// unambiguous to read out.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// assignIDs gives every cluster a profile ID, keeping published IDs stable:
//   - a published profile's ID goes to the cluster holding most of its records (ties: the
//     cluster whose first record sorts first), so a split keeps the ID on the larger part;
//   - a cluster that holds several published IDs keeps the earliest issued one, and the others
//     become aliases of it, so that an ID handed to another system still resolves;
//   - a cluster holding none gets a new ID.
func (r *Result) assignIDs(clusters [][]int32, in Input) {
	prev := in.Previous
	type owner struct {
		cluster, records int
	}
	owners := map[string]owner{}
	clustersOf := map[string]int{}
	previousSize := map[string]int{}
	for _, id := range prev.ProfileOf {
		if id != "" {
			previousSize[id]++
		}
	}
	prevOf := func(i int32) string {
		if prev.ProfileOf == nil {
			return ""
		}
		return prev.ProfileOf[i]
	}
	local := map[string]int{}
	for c, members := range clusters {
		clear(local)
		for _, i := range members {
			if id := prevOf(i); id != "" {
				local[id]++
			}
		}
		for id, n := range local {
			clustersOf[id]++
			if o, ok := owners[id]; !ok || n > o.records {
				owners[id] = owner{cluster: c, records: n}
			}
		}
	}
	owned := make([][]string, len(clusters))
	for id, o := range owners {
		owned[o.cluster] = append(owned[o.cluster], id)
	}
	for _, n := range clustersOf {
		if n > 1 {
			r.Stats.Splits++
		}
	}

	// A minted ID must not be one already issued: published, an alias, or minted by this run.
	// Issued ones are looked up in the previous publication's maps; duplicates among this run's
	// are found after the sort below, rather than in a map of millions of new IDs.
	issued := func(id string) bool {
		_, published := prev.Created[id]
		_, alias := prev.Aliases[id]
		return published || alias
	}
	absorbed := map[string]string{}
	r.Profiles = make([]Profile, len(clusters))
	for c, members := range clusters {
		p := &r.Profiles[c]
		p.Records = members
		ids := owned[c]
		if len(ids) == 0 {
			p.ID = r.mint(members[0], in.Generation, 0, issued)
			p.CreatedGeneration = in.Generation
			r.Stats.NewProfiles++
			continue
		}
		slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(prev.Created[a], prev.Created[b]), cmp.Compare(a, b)) })
		p.ID, p.CreatedGeneration = ids[0], prev.Created[ids[0]]
		if len(ids) > 1 {
			r.Stats.Merges++
			for _, other := range ids[1:] {
				absorbed[other] = p.ID
			}
		}
		if len(ids) == 1 && owners[p.ID].records == len(members) && previousSize[p.ID] == len(members) {
			r.Stats.Unchanged++
		}
	}

	byID := func(a, b Profile) int { return strings.Compare(a.ID, b.ID) }
	sortProfiles(r.Profiles)
	// Two clusters minting one ID would take 2^40 clusters to be likely; should it happen, the
	// later one mints again.
	for again := true; again; {
		again = false
		for i := 1; i < len(r.Profiles); i++ {
			if p := &r.Profiles[i]; p.ID == r.Profiles[i-1].ID && p.CreatedGeneration == in.Generation {
				for attempt := int64(1); p.ID == r.Profiles[i-1].ID; attempt++ {
					p.ID = r.mint(p.Records[0], in.Generation, attempt, issued)
				}
				again = true
			}
		}
		if again {
			slices.SortFunc(r.Profiles, byID)
		}
	}
	// Aliases carry over to the profile their target now is, looked up in the sorted profiles
	// rather than a map of every live ID.
	r.Aliases = absorbed
	for alias, target := range prev.Aliases {
		if t, ok := absorbed[target]; ok {
			target = t
		}
		if _, live := slices.BinarySearchFunc(r.Profiles, target, func(p Profile, id string) int { return strings.Compare(p.ID, id) }); live {
			r.Aliases[alias] = target
		}
		// An alias whose profile lost all its records has nothing left to resolve to.
	}
	r.ProfileOf = make([]int32, len(r.Records))
	for pi, p := range r.Profiles {
		for _, i := range p.Records {
			r.ProfileOf[i] = int32(pi)
		}
	}
	r.Stats.Profiles = int64(len(r.Profiles))
}

// sortProfiles sorts profiles by ID. It compares eight bytes of each ID past the prefix they all
// share (profileIDPrefix, usually) as one integer, and whole IDs only when those are equal:
// sorting five million profiles by string comparisons of 48-byte structs took seconds.
func sortProfiles(profiles []Profile) {
	if len(profiles) == 0 {
		return
	}
	prefix := len(profiles[0].ID)
	for i := range profiles {
		id := profiles[i].ID
		n := 0
		for n < prefix && n < len(id) && id[n] == profiles[0].ID[n] {
			n++
		}
		prefix = n
	}
	type entry struct {
		key   uint64
		index int32
	}
	entries := make([]entry, len(profiles))
	for i := range profiles {
		var b [8]byte
		if id := profiles[i].ID; len(id) > prefix {
			copy(b[:], id[prefix:])
		}
		entries[i] = entry{binary.BigEndian.Uint64(b[:]), int32(i)}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return strings.Compare(profiles[a.index].ID, profiles[b.index].ID)
	})
	// Permute in place, cycle by cycle, rather than into a copy of every profile: position to
	// takes the profile at entries[to].index.
	for start := range entries {
		if entries[start].index < 0 {
			continue
		}
		held := profiles[start]
		to := start
		for {
			from := int(entries[to].index)
			entries[to].index = -1
			if from == start {
				profiles[to] = held
				break
			}
			profiles[to] = profiles[from]
			to = from
		}
	}
}

// mint issues a new profile ID. It derives from the resolution, the generation and the
// cluster's first record, so that a retried run mints the same IDs; an ID already issued,
// however unlikely at 80 bits, is avoided by hashing again.
func (r *Result) mint(firstRecord int32, generation, attempt int64, issued func(string) bool) string {
	ref := r.Records[firstRecord].Ref
	for ; ; attempt++ {
		buf := r.mintBuf[:0]
		for _, part := range []string{r.cfg.Namespace, r.cfg.Name, ref.Source, ref.Key} {
			buf = append(append(buf, part...), 0)
		}
		buf = strconv.AppendInt(append(strconv.AppendInt(buf, generation, 10), 0), attempt, 10)
		r.mintBuf = buf
		sum := sha256.Sum256(buf)
		if id := r.cfg.ProfileIDPrefix + idEncoding.EncodeToString(sum[:10]); !issued(id) {
			return id
		}
	}
}
