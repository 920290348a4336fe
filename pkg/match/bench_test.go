package match_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/match/synth"
	"github.com/kizuna-dev/kizuna/test/procstat"
)

// BenchmarkDedupe1M deduplicates 1,000,000 generated FEBRL-like records with FEBRLConfig:
//
//	go test ./pkg/match -run '^$' -bench Dedupe1M -benchtime 1x
//
// Besides the time (s/link; cpu-s/link is the CPU time, steadier on a shared machine), it
// reports the candidate pairs, the peak Go heap during Link and the heap the generated data
// takes before it (data-heap-MiB), the process's peak resident memory, and the clustering's
// pairwise precision, recall and F1 against the generator's truth.
func BenchmarkDedupe1M(b *testing.B) { benchmarkDedupe(b, 1_000_000) }

// BenchmarkDedupe100k is the same on 100,000 records.
func BenchmarkDedupe100k(b *testing.B) { benchmarkDedupe(b, 100_000) }

func benchmarkDedupe(b *testing.B, n int) {
	data := synth.Generate(synth.Config{Records: n, Seed: 1})
	d := &match.Dataset{N: data.N, Fields: data.Fields}
	cfg := FEBRLConfig()
	runtime.GC()
	base := heapBytes()
	b.ResetTimer()
	var res *match.Result
	var peak uint64
	for range b.N {
		stop := sampleHeap(&peak)
		cpu0 := procstat.CPUTime()
		start := time.Now()
		var err error
		res, err = match.Link(context.Background(), d, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/link")
		b.ReportMetric((procstat.CPUTime() - cpu0).Seconds(), "cpu-s/link")
		stop()
	}
	b.StopTimer()
	s := pairScores(match.Cluster(d.N, res.Links), data.Entity)
	b.ReportMetric(float64(res.CandidatePairs), "pairs")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base)/(1<<20), "data-heap-MiB")
	b.ReportMetric(float64(procstat.PeakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(s.F1, "F1")
	b.ReportMetric(s.Precision, "precision")
	b.ReportMetric(s.Recall, "recall")
	b.Logf("%d records: %d candidate pairs, %d patterns, %d EM iterations (converged %v), %d links, λ=%.3g; P=%.4f R=%.4f F1=%.4f",
		d.N, res.CandidatePairs, res.Patterns, res.Iterations, res.Converged, len(res.Links), res.Model.Lambda, s.Precision, s.Recall, s.F1)
	b.Logf("  timings %+v", res.Timings)
	for _, r := range res.Blocking {
		b.Logf("  rule %-16s groups %7d pairs %9d skipped groups %d (%d records)", r.Name, r.Groups, r.CandidatePairs, r.SkippedGroups, r.SkippedRecords)
	}
}

// sampleHeap records the largest heap (live and not yet collected objects) seen every 20ms
// until stop is called. It reads runtime/metrics, which, unlike runtime.ReadMemStats, does not
// stop the world.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			*peak = max(*peak, heapBytes())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// heapBytes is the heap occupied by objects, live or not yet collected.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}
