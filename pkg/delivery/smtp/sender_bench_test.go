package smtp

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/test/smtpsink"
)

var benchMessages = flag.Int("messages", 200, "messages each iteration of BenchmarkSend sends")

// BenchmarkSend sends -messages messages per iteration through the pool, from as many goroutines
// as the pool has connections, and reports messages per second: to Mailpit, which parses and
// stores every message, and to Postfix's smtp-sink, which throws them away and so measures the
// Sender itself.
func BenchmarkSend(b *testing.B) {
	messages := benchmarkMessages(*benchMessages)
	for _, connections := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("sink=mailpit/connections=%d", connections), func(b *testing.B) {
			benchmarkSend(b, sink.SMTPPort(), connections, messages)
		})
		b.Run(fmt.Sprintf("sink=smtp-sink/connections=%d", connections), func(b *testing.B) {
			benchmarkSend(b, startSMTPSink(b, smtpsink.Options{}).Port(), connections, messages)
		})
	}
}

// benchmarkMessages returns n Japanese messages of about 2 KB, the size of a campaign email
// without images.
func benchmarkMessages(n int) []*delivery.Message {
	messages := make([]*delivery.Message, n)
	for i := range messages {
		messages[i] = &delivery.Message{
			ID:             fmt.Sprintf("bench.r1.p%d.s1", i),
			To:             fmt.Sprintf("customer%d@example.jp", i),
			Subject:        japaneseSubject,
			Text:           strings.Repeat(japaneseText, 8),
			HTML:           strings.Repeat(japaneseHTML, 6),
			UnsubscribeURL: fmt.Sprintf("https://kizuna.example.co.jp/u/p%d?sig=abcdef", i),
			Metadata:       delivery.Metadata{Namespace: "shop", Campaign: "spring", Run: "r1", Step: "s1", ProfileID: fmt.Sprintf("p%d", i)},
		}
	}
	return messages
}

func benchmarkSend(b *testing.B, port, connections int, messages []*delivery.Message) {
	cfg := plainConfig(port)
	cfg.MaxConnections = connections
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()
	for b.Loop() {
		next := make(chan *delivery.Message)
		var wg sync.WaitGroup
		for range connections {
			wg.Go(func() {
				for m := range next {
					if _, err := s.Send(ctx, m); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, m := range messages {
			next <- m
		}
		close(next)
		wg.Wait()
	}
	b.ReportMetric(float64(len(messages)*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
