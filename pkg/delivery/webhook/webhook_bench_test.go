package webhook

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

var benchMessages = flag.Int("webhook.messages", 0, "messages BenchmarkWebhook posts per iteration; 0 posts b.N")

// BenchmarkWebhook posts messages from 32 concurrent senders to a loopback sink that only reads
// the body and answers 200, and reports the rate the sender sustains:
//
//	go test ./pkg/delivery/webhook -run '^$' -bench Webhook -benchtime 1x -webhook.messages 200000
func BenchmarkWebhook(b *testing.B) {
	const concurrency = 32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()

	s, err := New(Config{URL: sink.URL + "/hook", SigningKey: []byte(signingKey),
		Headers: map[string]string{"X-Api-Key": apiKeyValue}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	perIteration := b.N
	if *benchMessages > 0 {
		perIteration = *benchMessages * b.N
	}
	messages := make([]delivery.Message, 1024)
	for i := range messages {
		m := message()
		m.ID = "welcome-series.r1.p-" + strconv.Itoa(i) + ".s1"
		m.Metadata.ProfileID = "p-" + strconv.Itoa(i)
		messages[i] = *m
	}

	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(perIteration) {
					return
				}
				if _, err := s.Send(context.Background(), &messages[i%int64(len(messages))]); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d sends failed", n, perIteration)
	}
	b.ReportMetric(float64(perIteration)/elapsed.Seconds(), "messages/s")
}
