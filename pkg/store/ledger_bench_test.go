package store_test

import (
	"flag"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/procstat"
)

// benchDeliveries is the size of one benchmarked campaign run.
var benchDeliveries = flag.Int("ledger.rows", 100_000, "rows of a run in BenchmarkPlanDeliveryRun and BenchmarkLedgerCycle")

const (
	// benchReadBatch is how many due rows a benchmarked worker reads at a time.
	benchReadBatch = 500
	// benchOutcomeGroup is how many outcomes one RecordOutcomes records: a worker's group commit
	// writes about as many as it has messages in flight.
	benchOutcomeGroup = 64
)

var benchScheduled = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func benchRun(run string) store.DeliveryRun {
	return store.DeliveryRun{Namespace: "bench", Campaign: "welcome", Run: run, Trigger: "schedule",
		ScheduledAt: benchScheduled, Shards: 1}
}

// benchPlannedRows yields the rows of a run: one step for each of n profiles, in profile order,
// as a planner reading a segment's members writes them.
func benchPlannedRows(n int, peak *heapPeak) iter.Seq[store.PlannedDelivery] {
	return func(yield func(store.PlannedDelivery) bool) {
		for i := range n {
			if i%25_000 == 0 && peak != nil {
				peak.sample()
			}
			p := store.PlannedDelivery{ProfileID: fmt.Sprintf("prof-%08d", i), Step: "day-1", Variant: "a",
				Purpose: "Marketing", Channel: "mail", ChannelType: "SMTP", Address: fmt.Sprintf("user%08d@example.co.jp", i)}
			if !yield(p) {
				return
			}
		}
	}
}

// BenchmarkPlanDeliveryRun plans runs of benchDeliveries rows, each in one transaction.
func BenchmarkPlanDeliveryRun(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), be.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var peak heapPeak
			i := 0
			for b.Loop() {
				i++
				n, err := s.PlanDeliveryRun(b.Context(), benchRun(fmt.Sprintf("run-%d", i)), benchPlannedRows(*benchDeliveries, &peak))
				if err != nil || n != int64(*benchDeliveries) {
					b.Fatalf("PlanDeliveryRun = %d, %v; want %d rows", n, err, *benchDeliveries)
				}
			}
			b.ReportMetric(float64(b.N**benchDeliveries)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkLedgerCycle sends a run of benchDeliveries rows the way a worker does: take the
// shard, read benchReadBatch due rows, record them sent (each keeping its event)
// benchOutcomeGroup at a time, until none is left, and move the events into events. Planning is
// not timed. cpu-µs/row is the process's CPU time per row, which other work on the machine
// changes less than the wall clock.
func BenchmarkLedgerCycle(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), be.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			i := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				i++
				run := fmt.Sprintf("run-%d", i)
				if _, err := s.PlanDeliveryRun(b.Context(), benchRun(run), benchPlannedRows(*benchDeliveries, nil)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := procstat.CPUTime()
				if sent := sendAll(b, s, run); sent != *benchDeliveries {
					b.Fatalf("sent %d rows, want %d", sent, *benchDeliveries)
				}
				// The events count too: a worker moves them into events as it goes.
				if moved, err := s.FlushDeliveryEvents(b.Context()); err != nil || moved != int64(*benchDeliveries) {
					b.Fatalf("flushed %d events, %v; want %d", moved, err, *benchDeliveries)
				}
				cpu += procstat.CPUTime() - cpu0
			}
			b.ReportMetric(float64(b.N**benchDeliveries)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N**benchDeliveries), "cpu-µs/row")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// sendAll takes the run's shard, reads and records its rows until none is due, and returns how
// many were sent.
func sendAll(b *testing.B, s store.Store, run string) int {
	sent := 0
	now := benchScheduled.Add(time.Minute)
	outcomes := make([]store.Outcome, 0, benchReadBatch)
	if _, err := s.TakeShard(b.Context(), "bench", "welcome", run, 0, "worker-0"); err != nil {
		b.Fatal(err)
	}
	var cursor store.DueCursor
	for {
		ds, next, err := s.DueDeliveries(b.Context(), store.DueQuery{Namespace: "bench", Campaign: "welcome", Run: run,
			Limit: benchReadBatch, Now: now, After: cursor})
		if err != nil {
			b.Fatal(err)
		}
		if len(ds) == 0 {
			return sent
		}
		cursor = next
		outcomes = outcomes[:0]
		for _, d := range ds {
			outcomes = append(outcomes, store.Outcome{Namespace: d.Namespace, Campaign: d.Campaign, Run: d.Run,
				ProfileID: d.ProfileID, Step: d.Step, Shard: d.Shard, Worker: "worker-0", State: store.DeliverySent, Attempted: true,
				MessageID: "m-" + d.ProfileID, ProviderMessageID: "q-" + d.ProfileID, At: now})
		}
		for group := range slices.Chunk(outcomes, benchOutcomeGroup) {
			n, err := s.RecordOutcomes(b.Context(), group)
			if err != nil {
				b.Fatal(err)
			}
			sent += n
		}
	}
}
