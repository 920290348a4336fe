package store_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// benchRows is the size of one benchmarked sync.
const benchRows = 200_000

type benchBackend struct {
	name string
	dsn  func(b *testing.B) string
}

var benchBackends = []benchBackend{
	{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "kizuna.db") }},
	{"postgres", func(b *testing.B) string { return newPostgresDatabase(b) }},
}

// heapPeak samples the live heap during a sync, to show that it does not grow with the rows.
type heapPeak struct {
	mu  sync.Mutex
	max uint64
}

func (h *heapPeak) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.mu.Lock()
	h.max = max(h.max, m.HeapInuse)
	h.mu.Unlock()
}

func (h *heapPeak) reset() {
	h.mu.Lock()
	h.max = 0
	h.mu.Unlock()
}

// sampleEvery samples the heap until stop is called, for work that happens out of the
// benchmark's sight (a commit). stop may be called more than once.
func (h *heapPeak) sampleEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				h.sample()
			}
		}
	})
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// BenchmarkLoadRecords loads snapshots of benchRows customer records with eight attributes and two
// identifiers: new records in key order, new records in random key order, and the same snapshot
// loaded again (nothing changes).
func BenchmarkLoadRecords(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, sc := range []struct {
				name     string
				shuffled bool
				resync   bool
			}{
				{"new", false, false},
				{"new-shuffled", true, false},
				{"unchanged", false, true},
			} {
				b.Run(sc.name, func(b *testing.B) {
					s, err := store.Open(b.Context(), be.dsn(b))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					var peak heapPeak
					load := func(source, runID string) store.SyncRun {
						w, err := s.BeginSync(b.Context(), store.SyncRun{Namespace: "bench", Source: source, RunID: runID, Mode: store.SyncSnapshot})
						if err != nil {
							b.Fatal(err)
						}
						r := benchRecord()
						for i := range benchRows {
							n := i
							if sc.shuffled {
								n = (i * 7919) % benchRows // a permutation: 7919 is prime and does not divide benchRows
							}
							setBenchRecord(&r, n)
							if err := w.PutRecord(b.Context(), r); err != nil {
								b.Fatal(err)
							}
							if i%50_000 == 0 {
								peak.sample()
							}
						}
						run, err := w.Commit(b.Context(), benchRows, store.SourceState{})
						if err != nil {
							b.Fatal(err)
						}
						return run
					}
					if sc.resync {
						load("crm", "setup")
					}
					i := 0
					for b.Loop() {
						i++
						source := fmt.Sprintf("crm-%d", i)
						if sc.resync {
							source = "crm"
						}
						run := load(source, "run-"+strconv.Itoa(i))
						if want := int64(benchRows); (sc.resync && run.Unchanged != want) || (!sc.resync && run.Inserted != want) {
							b.Fatalf("run %+v: want %d rows inserted or unchanged", run, want)
						}
					}
					b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
					b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
					b.ReportMetric(0, "ns/op")
				})
			}
		})
	}
}

var benchSignup = time.Date(2023, 5, 1, 10, 0, 0, 0, time.UTC)

func benchRecord() store.Record {
	return store.Record{
		Identifiers: map[string][]string{"Email": {""}, "Phone": {""}},
		Attributes: map[string]any{
			"firstName": "太郎", "lastName": "山田", "city": "Tokyo", "plan": "gold",
			"age": 0.0, "lifetimeValue": 0.0, "vip": false, "signedUpAt": benchSignup,
		},
	}
}

// setBenchRecord fills r with the n-th customer. The maps are reused: the store encodes a record
// when it is put and keeps no reference to it. Texts are built with strconv, not fmt, so that the
// benchmark measures the store rather than its own formatting.
func setBenchRecord(r *store.Record, n int) {
	r.Key = "cust-" + zeroPad(n, 9)
	r.Identifiers["Email"][0] = "customer" + strconv.Itoa(n) + "@example.co.jp"
	r.Identifiers["Phone"][0] = "+8190" + zeroPad(n, 8)
	r.Attributes["age"] = float64(20 + n%60)
	r.Attributes["lifetimeValue"] = float64(n%100000) * 1.5
	r.Attributes["vip"] = n%10 == 0
	r.Attributes["signedUpAt"] = benchSignup.Add(time.Duration(n) * time.Minute)
}

func zeroPad(n, width int) string {
	s := strconv.Itoa(n)
	if len(s) >= width {
		return s
	}
	return "000000000000"[:width-len(s)] + s
}

// BenchmarkLoadEvents appends benchRows new events with four properties each.
func BenchmarkLoadEvents(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), be.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var peak heapPeak
			e := store.Event{
				Type: "purchase", IdentifierType: "Email",
				Properties: map[string]any{"sku": "", "amount": 0.0, "currency": "JPY", "coupon": false},
			}
			i := 0
			for b.Loop() {
				i++
				w, err := s.BeginSync(b.Context(), store.SyncRun{Namespace: "bench", Source: "web", RunID: "run-" + strconv.Itoa(i), Mode: store.SyncAppend})
				if err != nil {
					b.Fatal(err)
				}
				for n := range benchRows {
					id := i*benchRows + n
					e.ID = "ev-" + zeroPad(id, 12)
					e.OccurredAt = benchSignup.Add(time.Duration(id) * time.Second)
					e.IdentifierValue = "customer" + strconv.Itoa(n%50_000) + "@example.co.jp"
					e.Properties["sku"] = "SKU-" + zeroPad(n%10_000, 5)
					e.Properties["amount"] = float64(n%20_000) + 0.5
					e.Properties["coupon"] = n%7 == 0
					if err := w.PutEvent(b.Context(), e); err != nil {
						b.Fatal(err)
					}
					if n%50_000 == 0 {
						peak.sample()
					}
				}
				run, err := w.Commit(b.Context(), benchRows, store.SourceState{})
				if err != nil {
					b.Fatal(err)
				}
				if run.Inserted != benchRows {
					b.Fatalf("run %+v: want %d events inserted", run, benchRows)
				}
			}
			b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// publishRecords is the size of a benchmarked publish: that many records in half as many
// profiles. `go test -bench PublishProfiles -benchtime 1x -publish.records 10000000` measures
// the size the store is built for.
var publishRecords = flag.Int("publish.records", 1_000_000, "records in a publish of BenchmarkPublishProfiles")

// BenchmarkPublishProfiles publishes a generation of profiles of two records each, with two
// identifiers and eight attributes, in ID order (as a resolution writes them), their records in
// no order: "first" into a resolution that has none, "again" over two generations already
// published, with one profile in a hundred changed. rows/s counts the profile and membership
// rows published.
func BenchmarkPublishProfiles(b *testing.B) {
	records := *publishRecords
	profiles := records / 2
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, again := range []bool{false, true} {
				name := "first"
				if again {
					name = "again"
				}
				b.Run(fmt.Sprintf("%s-%d", name, records), func(b *testing.B) {
					dsn := be.dsn(b)
					s, err := store.Open(b.Context(), dsn)
					if err != nil {
						b.Fatal(err)
					}
					defer func() { _ = s.Close() }()
					var peak heapPeak
					stop := peak.sampleEvery(100 * time.Millisecond)
					defer stop()
					publish := func(resolution, runID string, changed int) {
						run := store.ResolutionRun{Namespace: "bench", Resolution: resolution, RunID: runID}
						w, err := s.BeginPublish(b.Context(), run)
						if err != nil {
							b.Fatal(err)
						}
						p := benchProfile()
						for i := range profiles {
							setBenchProfile(&p, i, records, i%100 == changed%100 && changed > 0)
							if err := w.PutProfile(b.Context(), p); err != nil {
								b.Fatal(err)
							}
						}
						done, err := w.Commit(b.Context(), run)
						if err != nil {
							b.Fatal(err)
						}
						if done.Profiles != int64(profiles) || done.Records != int64(2*profiles) {
							b.Fatalf("run %+v: want %d profiles of %d records", done, profiles, 2*profiles)
						}
					}
					if again {
						publish("customers", "setup-1", 0)
						publish("customers", "setup-2", 0)
						// As a day later: the setup's writes are checkpointed into the
						// database file, which closing waits for.
						if err := s.Close(); err != nil {
							b.Fatal(err)
						}
						if s, err = store.Open(b.Context(), dsn); err != nil {
							b.Fatal(err)
						}
						peak.reset()
					}
					i := 0
					for b.Loop() {
						i++
						if again {
							publish("customers", "run-"+strconv.Itoa(i), i)
						} else {
							publish("customers-"+strconv.Itoa(i), "run", 0)
						}
					}
					stop()
					b.ReportMetric(float64(b.N*3*profiles)/b.Elapsed().Seconds(), "rows/s")
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/publish")
					b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
					b.ReportMetric(0, "ns/op")
				})
			}
		})
	}
}

func benchProfile() store.Profile {
	r := benchRecord()
	return store.Profile{
		CreatedGeneration: 1, Identifiers: r.Identifiers, Attributes: r.Attributes,
		Records: make([]store.RecordRef, 2),
	}
}

// setBenchProfile fills p with the n-th profile of a publish of records records: profile n holds
// records 2n and 2n+1 of a permutation, so that memberships come in no key order. Its texts share
// one allocation, so that the benchmark measures the store rather than its own formatting.
func setBenchProfile(p *store.Profile, n, records int, changed bool) {
	var buf [128]byte
	b := append(buf[:0], "cus_"...)
	b = appendZeroPad(b, n, 10)
	id := len(b)
	b = append(b, "customer"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "@example.co.jp"...)
	email := len(b)
	b = append(b, "+8190"...)
	b = appendZeroPad(b, n, 8)
	phone := len(b)
	b = append(b, "cust-"...)
	// 7919 is prime and does not divide a number of records made of twos and fives.
	b = appendZeroPad(b, (2*n*7919)%records, 9)
	crm := len(b)
	b = append(b, "s-"...)
	b = appendZeroPad(b, ((2*n+1)*7919)%records, 9)
	s := string(b)
	p.ID = s[:id]
	p.Identifiers["Email"][0] = s[id:email]
	p.Identifiers["Phone"][0] = s[email:phone]
	p.Records[0] = store.RecordRef{Source: "crm", Key: s[phone:crm]}
	p.Records[1] = store.RecordRef{Source: "shop", Key: s[crm:]}
	p.Attributes["age"] = float64(20 + n%60)
	p.Attributes["lifetimeValue"] = float64(n%100000) * 1.5
	p.Attributes["vip"] = n%10 == 0 || changed
	p.Attributes["signedUpAt"] = benchSignup.Add(time.Duration(n) * time.Minute)
}

func appendZeroPad(b []byte, n, width int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, int64(n), 10)
	for len(b)-start < width {
		b = append(b, 0)
		copy(b[start+1:], b[start:])
		b[start] = '0'
	}
	return b
}

// segmentProfiles is the size of a benchmarked segment and of a benchmarked set of identity
// links: `-segment.profiles 5000000` measures the size the store is built for.
var segmentProfiles = flag.Int("segment.profiles", 1_000_000, "links in BenchmarkWriteIdentityLinks and members in BenchmarkEvaluateSegment")

// BenchmarkWriteIdentityLinks rebuilds the identity links of a resolution (Replace), as the
// segment worker does for each new generation, in identifier order.
func BenchmarkWriteIdentityLinks(b *testing.B) {
	n := *segmentProfiles
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), be.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			generation := int64(0)
			for b.Loop() {
				generation++
				links := func(yield func(store.IdentityLink) bool) {
					for i := range n {
						l := store.IdentityLink{Type: "Email", Value: "customer" + zeroPad(i, 9) + "@example.co.jp", ProfileID: "prof-" + zeroPad(i/2, 12)}
						if !yield(l) {
							return
						}
					}
				}
				u := store.IdentityLinkUpdate{Namespace: "bench", Resolution: "customers", Generation: generation, Replace: true}
				if err := s.WriteIdentityLinks(b.Context(), u, links); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "links/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkEvaluateSegment evaluates a segment of segmentProfiles members whose query reads
// the identity links, each evaluation after the first swapping one member in ten.
func BenchmarkEvaluateSegment(b *testing.B) {
	n := *segmentProfiles
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), be.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// Two links a profile, so that the query has duplicates to drop.
			links := func(yield func(store.IdentityLink) bool) {
				for i := range n * 12 / 10 * 2 {
					if !yield(store.IdentityLink{Type: "Email", Value: "c" + zeroPad(i, 9), ProfileID: "prof-" + zeroPad(i/2, 12)}) {
						return
					}
				}
			}
			if err := s.WriteIdentityLinks(b.Context(), store.IdentityLinkUpdate{Namespace: "bench", Resolution: "customers", Replace: true}, links); err != nil {
				b.Fatal(err)
			}
			// Members are the profiles whose number, shifted by the evaluation, is below n: one in
			// ten is replaced at each evaluation.
			query := `SELECT profile_id FROM identity_links WHERE namespace = $1 AND resolution = $2
				AND substr(profile_id, 6) >= $3 AND substr(profile_id, 6) < $4`
			if s.Dialect() == store.DialectSQLite {
				query = strings.NewReplacer("$", "?").Replace(query)
			}
			i := 0
			for b.Loop() {
				from := (i % 2) * n / 10
				i++
				res, err := s.EvaluateSegment(b.Context(), store.SegmentEvaluation{
					Namespace: "bench", Segment: "vip", Resolution: "customers", Query: query,
					Args: []any{"bench", "customers", zeroPad(from, 12), zeroPad(from+n, 12)},
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Size != int64(n) {
					b.Fatalf("evaluation %+v: want %d members", res, n)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "members/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
