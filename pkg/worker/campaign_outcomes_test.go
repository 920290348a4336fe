package worker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// gatedStore holds every RecordOutcomes until open is closed.
type gatedStore struct {
	store.Store
	open chan struct{}
}

func (g gatedStore) RecordOutcomes(ctx context.Context, outcomes []store.Outcome) (int, error) {
	<-g.open
	return g.Store.RecordOutcomes(ctx, outcomes)
}

// TestWebhookConnectionsDoNotWaitForTheirRecords delivers to a webhook through two connections
// while the ledger records nothing: every message goes out, since the receiver drops one sent
// twice by its Idempotency-Key, and every outcome is recorded once the ledger writes again.
func TestWebhookConnectionsDoNotWaitForTheirRecords(t *testing.T) {
	const n = 20
	st := openTestStore(t, "sqlite")
	publishCustomers(t, st, n)
	var received atomic.Int64
	all := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		if received.Add(1) == n {
			close(all)
		}
	}))
	defer hook.Close()
	payload := webhookPayload("news", webhookChannel("crm", hook.URL))

	gated := gatedStore{Store: st, open: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := DeliverRun(t.Context(), gated, payload, webhookCredentials, DeliveryOptions{
			Worker: "news-0", Now: func() time.Time { return campaignNow }, Channels: ChannelOptions{HTTPConcurrency: 2},
		})
		done <- err
	}()
	select {
	case <-all:
	case err := <-done:
		t.Fatalf("the run ended before the ledger recorded anything: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d messages went out while the ledger recorded nothing; want all", received.Load(), n)
	}
	close(gated.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	counts, err := st.DeliveryCounts(t.Context(), "shop", "news", "r1")
	if err != nil || counts.Sent != n || received.Load() != n {
		t.Errorf("counts = %+v, %v, received %d; want all %d sent once", counts, err, received.Load(), n)
	}
}
