package resolve

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/kizuna-dev/kizuna/pkg/identity"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

func testConfig(t *testing.T) *Config {
	t.Helper()
	n, err := identity.NewNormalizer(identity.Options{DefaultRegion: "JP"})
	if err != nil {
		t.Fatal(err)
	}
	return &Config{
		Namespace: "shop", Name: "customers", Normalizer: n, ProfileIDPrefix: "cus_",
		Sources: []Source{{Name: "crm", Priority: 10}, {Name: "ec"}},
		Deterministic: []DeterministicRule{
			{Name: "email", Identifiers: []string{"Email"}, MaxRecordsPerValue: 3},
			{Name: "phone", Identifiers: []string{"Phone"}, MaxRecordsPerValue: 3},
			{Name: "company-person", Identifiers: []string{"CompanyName", "PersonName"}},
		},
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rec(source, key string, ids map[string][]string, attrs map[string]any, age time.Duration) Record {
	return Record{Ref: store.RecordRef{Source: source, Key: key}, Identifiers: ids, Attributes: attrs, UpdatedAt: t0.Add(-age)}
}

func email(v ...string) map[string][]string { return map[string][]string{"Email": v} }

// groups renders a result's profiles as sorted groups of source/key, for comparison.
func groups(r *Result) []string {
	var out []string
	for _, p := range r.Profiles {
		var refs []string
		for _, i := range p.Records {
			refs = append(refs, r.Records[i].Ref.Source+"/"+r.Records[i].Ref.Key)
		}
		out = append(out, strings.Join(refs, " "))
	}
	slices.Sort(out)
	return out
}

// published is a publication as the tests write it: a map, lined up with the records by
// previousInput.
type published struct {
	profileOf map[store.RecordRef]string
	created   map[string]int64
	aliases   map[string]string
}

func previousInput(records []Record, p published, generation int64) Input {
	records = slices.Clone(records)
	SortRecords(records)
	prev := Previous{ProfileOf: make([]string, len(records)), Created: p.created, Aliases: p.aliases}
	for i, r := range records {
		prev.ProfileOf[i] = p.profileOf[r.Ref]
	}
	return Input{Records: records, Previous: prev, Generation: generation}
}

func run(t *testing.T, cfg *Config, in Input) *Result {
	t.Helper()
	if in.Generation == 0 {
		in.Generation = 1
	}
	res, err := Run(t.Context(), cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDeterministicLinking(t *testing.T) {
	cfg := testConfig(t)
	records := []Record{
		rec("crm", "1", email("Taro@Example.co.jp"), nil, 0),
		rec("ec", "a", email(" taro@example.co.jp "), nil, 0),
		// Same phone written two ways links to crm/3.
		rec("crm", "2", map[string][]string{"Phone": {"03-1234-5678"}}, nil, 0),
		rec("ec", "b", map[string][]string{"Phone": {"+81 3 1234 5678"}}, nil, 0),
		// Company and person together link; the company alone does not.
		rec("crm", "4", map[string][]string{"CompanyName": {"株式会社朝日物産"}, "PersonName": {"山田 太郎"}}, nil, 0),
		rec("ec", "c", map[string][]string{"CompanyName": {"朝日物産(株)"}, "PersonName": {"山田　太郎"}}, nil, 0),
		rec("ec", "d", map[string][]string{"CompanyName": {"朝日物産"}, "PersonName": {"山田 花子"}}, nil, 0),
		// A transitive chain: e1 shares an email with crm/1's record group through a second email.
		rec("ec", "e", email("other@example.com", "TARO@example.co.jp"), nil, 0),
	}
	res := run(t, cfg, Input{Records: records})
	want := []string{"crm/1 ec/a ec/e", "crm/2 ec/b", "crm/4 ec/c", "ec/d"}
	if got := groups(res); !slices.Equal(got, want) {
		t.Errorf("groups = %q, want %q", got, want)
	}
}

func TestCardinalityLimit(t *testing.T) {
	cfg := testConfig(t)
	var records []Record
	// Four records share test@example.com, above the rule's limit of 3: none link through it.
	for i := range 4 {
		records = append(records, rec("ec", fmt.Sprint(i), email("test@example.com"), nil, 0))
	}
	// Three share a phone, at the limit: they link.
	for i := range 3 {
		records = append(records, rec("crm", fmt.Sprint(i), map[string][]string{"Phone": {"0120-000-111"}}, nil, 0))
	}
	res := run(t, cfg, Input{Records: records})
	if len(res.Profiles) != 5 {
		t.Errorf("%d profiles, want 5 (4 separate ec records and the 3 crm records together): %q", len(res.Profiles), groups(res))
	}
	if len(res.Ignored) != 1 {
		t.Fatalf("ignored = %+v, want one value", res.Ignored)
	}
	ig := res.Ignored[0]
	if ig.Rule != "email" || ig.Type != "Email" || ig.Records != 4 || strings.Contains(ig.Value, "example") || ig.Value[0] != 't' {
		t.Errorf("ignored = %+v, want rule email, type Email, 4 records, the value masked but for its ends", ig)
	}
}

func TestStableIDs(t *testing.T) {
	cfg := testConfig(t)
	taro := []Record{rec("crm", "t1", email("taro@example.jp"), nil, 0), rec("ec", "t2", email("taro@example.jp"), nil, 0)}
	hanako := []Record{rec("crm", "h1", email("hanako@example.jp"), nil, 0)}

	publish := func(res *Result) published {
		prev := published{profileOf: map[store.RecordRef]string{}, created: map[string]int64{}, aliases: res.Aliases}
		for _, p := range res.Profiles {
			prev.created[p.ID] = p.CreatedGeneration
			for _, i := range p.Records {
				prev.profileOf[res.Records[i].Ref] = p.ID
			}
		}
		return prev
	}
	idOf := func(res *Result, key string) string {
		for _, p := range res.Profiles {
			for _, i := range p.Records {
				if res.Records[i].Ref.Key == key {
					return p.ID
				}
			}
		}
		t.Fatalf("no profile holds %s", key)
		return ""
	}

	// Generation 1: Taro only. Generation 2: Hanako arrives.
	g1 := run(t, cfg, Input{Records: slices.Clone(taro), Generation: 1})
	taroID := idOf(g1, "t1")
	if !strings.HasPrefix(taroID, "cus_") || len(taroID) != len("cus_")+16 {
		t.Errorf("minted ID %q, want cus_ and 16 base32 characters", taroID)
	}
	g2 := run(t, cfg, previousInput(slices.Concat(taro, hanako), publish(g1), 2))
	hanakoID := idOf(g2, "h1")
	if idOf(g2, "t1") != taroID || hanakoID == taroID || g2.Stats.NewProfiles != 1 || g2.Stats.Unchanged != 1 {
		t.Fatalf("generation 2: IDs %s/%s, stats %+v; want Taro's ID kept, one new profile, one unchanged", idOf(g2, "t1"), hanakoID, g2.Stats)
	}

	// Rerun on unchanged data: no ID changes.
	again := run(t, cfg, previousInput(slices.Concat(taro, hanako), publish(g2), 3))
	if idOf(again, "t1") != taroID || idOf(again, "h1") != hanakoID || again.Stats.Unchanged != 2 || again.Stats.NewProfiles != 0 {
		t.Fatalf("rerun changed IDs or stats: %+v", again.Stats)
	}

	// A bridge record with both emails merges them under the earlier ID; Hanako's becomes an alias.
	bridge := rec("ec", "bridge", email("taro@example.jp", "hanako@example.jp"), nil, 0)
	g3 := run(t, cfg, previousInput(slices.Concat(taro, hanako, []Record{bridge}), publish(g2), 3))
	if len(g3.Profiles) != 1 || g3.Profiles[0].ID != taroID || g3.Aliases[hanakoID] != taroID || g3.Stats.Merges != 1 {
		t.Fatalf("bridge: profiles %q (%s), aliases %v, stats %+v; want one profile %s with alias %s", groups(g3), g3.Profiles[0].ID, g3.Aliases, g3.Stats, taroID, hanakoID)
	}

	// Removing the bridge splits them again: the larger part (Taro, two records) keeps the ID.
	g4 := run(t, cfg, previousInput(slices.Concat(taro, hanako), publish(g3), 4))
	if idOf(g4, "t1") != taroID || idOf(g4, "h1") == taroID || g4.Stats.Splits != 1 || g4.Stats.NewProfiles != 1 {
		t.Fatalf("split: Taro %s, Hanako %s, stats %+v; want Taro to keep %s, Hanako a new ID", idOf(g4, "t1"), idOf(g4, "h1"), g4.Stats, taroID)
	}
	// The old alias still resolves, to the part that kept the ID.
	if g4.Aliases[hanakoID] != taroID {
		t.Errorf("aliases after the split: %v, want %s -> %s kept", g4.Aliases, hanakoID, taroID)
	}

	// Minting is deterministic: a retried run mints the same IDs.
	retry := run(t, cfg, previousInput(slices.Concat(taro, hanako), publish(g3), 4))
	if idOf(retry, "h1") != idOf(g4, "h1") {
		t.Errorf("a retried run minted %s, the first try %s", idOf(retry, "h1"), idOf(g4, "h1"))
	}
}

func TestMergeKeepsEarliestIssuedID(t *testing.T) {
	cfg := testConfig(t)
	prev := published{
		profileOf: map[store.RecordRef]string{{Source: "crm", Key: "1"}: "cus_late", {Source: "ec", Key: "1"}: "cus_early"},
		created:   map[string]int64{"cus_late": 5, "cus_early": 2},
	}
	records := []Record{rec("crm", "1", email("a@example.jp"), nil, 0), rec("ec", "1", email("a@example.jp"), nil, 0)}
	res := run(t, cfg, previousInput(records, prev, 6))
	if len(res.Profiles) != 1 || res.Profiles[0].ID != "cus_early" || res.Profiles[0].CreatedGeneration != 2 || res.Aliases["cus_late"] != "cus_early" {
		t.Errorf("profiles %+v, aliases %v; want cus_early (issued in generation 2) with cus_late as alias", res.Profiles, res.Aliases)
	}
}

func TestSurvivorship(t *testing.T) {
	cfg := testConfig(t)
	cfg.Survivorship = Survivorship{Default: MostRecent, Attributes: map[string]Strategy{
		"tier": SourcePriority, "city": MostFrequent, "first_channel": FirstNonEmpty,
	}}
	records := []Record{
		// crm has priority 10 and is listed first; ec is newer.
		rec("crm", "1", email("a@example.jp"), map[string]any{"name": "山田太郎", "tier": "gold", "city": "大阪", "first_channel": "store"}, 48*time.Hour),
		rec("ec", "1", email("a@example.jp"), map[string]any{"name": "山田 太郎（新）", "tier": "silver", "city": "東京", "first_channel": ""}, 0),
		rec("ec", "2", email("a@example.jp"), map[string]any{"city": "東京", "first_channel": "web"}, time.Hour),
	}
	res := run(t, cfg, Input{Records: records})
	if len(res.Profiles) != 1 {
		t.Fatalf("profiles: %q", groups(res))
	}
	got := res.ProfileAttributes(0)
	want := map[string]any{"name": "山田 太郎（新）", "tier": "gold", "city": "東京", "first_channel": "store"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if ids := res.ProfileIdentifiers(0)["Email"]; !slices.Equal(ids, []string{"a@example.jp"}) {
		t.Errorf("identifiers = %v, want the one normalised email", res.ProfileIdentifiers(0))
	}
}

func TestExplain(t *testing.T) {
	cfg := testConfig(t)
	var records []Record
	records = append(records,
		rec("crm", "1", email("a@example.jp"), nil, 0),
		rec("ec", "1", map[string][]string{"Email": {"A@example.jp"}, "Phone": {"090-1111-2222"}}, nil, 0),
		rec("ec", "2", map[string][]string{"Phone": {"09011112222"}}, nil, 0),
		rec("ec", "3", email("b@example.jp"), nil, 0),
	)
	for i := range 4 {
		records = append(records, rec("crm", fmt.Sprintf("shared%d", i), email("shared@example.jp"), nil, 0))
	}
	res := run(t, cfg, Input{Records: records})

	e, err := res.Explain(store.RecordRef{Source: "crm", Key: "1"}, store.RecordRef{Source: "ec", Key: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if !e.SameProfile || !e.Rules[0].Linked || !strings.Contains(e.Rules[0].Reason, "a@example.jp") || e.Rules[1].Linked {
		t.Errorf("direct link: %+v", e)
	}
	e, _ = res.Explain(store.RecordRef{Source: "crm", Key: "1"}, store.RecordRef{Source: "ec", Key: "2"})
	if !e.SameProfile || e.Rules[0].Linked || e.Rules[1].Linked || !strings.Contains(e.Summary, "same profile") {
		t.Errorf("transitive link: %+v", e)
	}
	e, _ = res.Explain(store.RecordRef{Source: "crm", Key: "shared0"}, store.RecordRef{Source: "crm", Key: "shared1"})
	if e.SameProfile || e.Rules[0].Linked || !strings.Contains(e.Rules[0].Reason, "4 records") {
		t.Errorf("ignored value: %+v", e)
	}
	if _, err := res.Explain(store.RecordRef{Source: "crm", Key: "nope"}, store.RecordRef{Source: "ec", Key: "1"}); err == nil {
		t.Error("Explain of an unknown record: no error")
	}
}

func TestRunRefusesDuplicateRecords(t *testing.T) {
	cfg := testConfig(t)
	records := []Record{rec("crm", "1", nil, nil, 0), rec("crm", "1", nil, nil, 0)}
	if _, err := Run(t.Context(), cfg, Input{Records: records, Generation: 1}); err == nil || !strings.Contains(err.Error(), "crm/1") {
		t.Errorf("err = %v, want one naming crm/1", err)
	}
}

// TestLoaderMatchesRun checks that records normalised by a Loader as they arrive, in any order
// and across several batches, resolve exactly as when Run normalises them itself.
func TestLoaderMatchesRun(t *testing.T) {
	cfg := testConfig(t)
	var records []Record
	for i := range 3*loaderBatch + 17 {
		// Every third record shares an email with the one before it, written differently.
		id := i / 3 * 2
		if i%3 == 2 {
			id = i/3*2 + 1
		}
		e := fmt.Sprintf("user%d@example.jp", id)
		if i%2 == 0 {
			e = strings.ToUpper(e)
		}
		records = append(records, rec([]string{"crm", "ec"}[i%2], fmt.Sprintf("k%06d", (i*7919)%100000), email(e), nil, 0))
	}
	direct := run(t, cfg, Input{Records: slices.Clone(records), Generation: 1})

	loader := NewLoader(cfg)
	for _, r := range records {
		loader.Add(r)
	}
	in := loader.Input()
	in.Generation = 1
	sameResult(t, "a Loader's input", run(t, cfg, in), direct)

	// As a store scan adds them: two parts at once, each identifier's type and value views of
	// one buffer that is overwritten as soon as the Loader has seen them.
	loader = NewLoader(cfg)
	parts := []*LoaderPart{loader.Part(), loader.Part()}
	var wg sync.WaitGroup
	for n, part := range parts {
		wg.Go(func() {
			var buf []byte
			for i, r := range records {
				if i%2 != n {
					continue
				}
				err := part.AddScanned(r.Ref, r.UpdatedAt, nil, func(fn func(idType, value string)) error {
					for idType, values := range r.Identifiers {
						for _, v := range values {
							buf = append(append(buf[:0], idType...), v...)
							fn(unsafe.String(&buf[0], len(idType)), unsafe.String(&buf[len(idType)], len(v)))
							clear(buf)
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	in = loader.Input()
	in.Generation = 1
	sameResult(t, "records added as scanned", run(t, cfg, in), direct)
}

// sameResult fails unless got has the profiles of want, with the same identifiers.
func sameResult(t *testing.T, what string, got, want *Result) {
	t.Helper()
	if g, w := groups(got), groups(want); !slices.Equal(g, w) {
		t.Fatalf("%s resolved into %d profiles, Run's own into %d", what, len(g), len(w))
	}
	for p := range got.Profiles {
		if fmt.Sprint(got.ProfileIdentifiers(p)) != fmt.Sprint(want.ProfileIdentifiers(p)) {
			t.Fatalf("%s: profile %d: identifiers %v, want %v", what, p, got.ProfileIdentifiers(p), want.ProfileIdentifiers(p))
		}
	}
}

// TestAttributeTableRoundTrip checks that every kind of value comes back from the compact
// encoding as it went in, empty ones dropped.
func TestAttributeTableRoundTrip(t *testing.T) {
	at := time.Date(1975, 4, 1, 9, 30, 0, 123456789, time.UTC)
	in := []map[string]any{
		{"name": "山田太郎", "spend": 1234.5, "vip": true, "birth": at, "tags": []any{"a", 1.0}, "empty": "", "none": nil},
		nil,
		{"name": "", "spend": -0.25, "vip": false},
	}
	want := []map[string]any{
		{"name": "山田太郎", "spend": 1234.5, "vip": true, "birth": at, "tags": []any{"a", 1.0}},
		{},
		{"spend": -0.25, "vip": false},
	}
	table := newAttributeTable()
	for _, attrs := range in {
		table.add(attrs)
	}
	table.reorder([]int32{2, 0, 1})
	want = []map[string]any{want[2], want[0], want[1]}
	for rec, w := range want {
		got := map[string]any{}
		for _, a := range table.row(int32(rec), nil) {
			got[table.names[a.name]] = a.value
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("record %d: %v, want %v", rec, got, w)
		}
		for name, v := range w {
			if fmt.Sprint(table.value(int32(rec), name)) != fmt.Sprint(v) {
				t.Errorf("record %d: value(%s) = %v, want %v", rec, name, table.value(int32(rec), name), v)
			}
		}
	}
}

// TestClustersOfDeepTrees merges sets pairwise, as binomial trees, so that union by size leaves
// records several links below their root, and checks that every record lands in its own set's
// cluster.
func TestClustersOfDeepTrees(t *testing.T) {
	const n = 1 << 12
	s := newLinkSet(2 * n)
	// Two sets: even records and odd records, each merged in rounds of equal-sized halves.
	for width := 2; width <= n; width *= 2 {
		for start := 0; start < n; start += width {
			for parity := range 2 {
				s.union(int32(2*start+parity), int32(2*(start+width/2)+parity))
			}
		}
	}
	got := s.clusters()
	if len(got) != 2 || len(got[0]) != n || len(got[1]) != n {
		t.Fatalf("%d clusters, want 2 of %d records", len(got), n)
	}
	for c, members := range got {
		for k, m := range members {
			if int(m) != 2*k+c {
				t.Fatalf("cluster %d holds %d at %d, want %d", c, m, k, 2*k+c)
			}
		}
	}
}

// TestSortProfilesMatchesStringOrder sorts IDs that share prefixes of several lengths, some
// differing only past their eighth distinguishing byte.
func TestSortProfilesMatchesStringOrder(t *testing.T) {
	ids := []string{"cus_aaaaaaaab", "cus_aaaaaaaaa", "cus_b", "cus_", "cus_aaaaaaaa", "cus_zz", "cus_abc", "cus_aaaaaaab"}
	for _, extra := range []string{"", "x_other"} {
		var profiles []Profile
		for _, id := range ids {
			profiles = append(profiles, Profile{ID: id})
		}
		if extra != "" {
			profiles = append(profiles, Profile{ID: extra})
		}
		for i := range 1000 {
			profiles = append(profiles, Profile{ID: fmt.Sprintf("cus_n%x", (i*7919)%1000)})
		}
		sortProfiles(profiles)
		got := make([]string, len(profiles))
		for i, p := range profiles {
			got[i] = p.ID
		}
		want := len(ids) + 1000
		if extra != "" {
			want++
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != want {
			t.Errorf("%d IDs sorted as %q, want %d in order", len(got), got, want)
		}
	}
}
