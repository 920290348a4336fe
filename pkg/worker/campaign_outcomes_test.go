package worker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
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

// TestAWorkerWhoseShardIsTakenOverStops starts a second worker on the shard while the first is
// sending its first message: the first one's outcomes are refused and it stops with
// store.ErrNotShardOwner, and the second one sends and records every row.
func TestAWorkerWhoseShardIsTakenOverStops(t *testing.T) {
	const n = 20
	st := openTestStore(t, "sqlite")
	publishCustomers(t, st, n)
	first, release := make(chan struct{}), make(chan struct{})
	var received atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		if received.Add(1) == 1 {
			close(first)
			<-release
		}
	}))
	defer hook.Close()
	payload := webhookPayload("news", webhookChannel("crm", hook.URL))
	run := func(worker string) error {
		_, err := DeliverRun(t.Context(), st, payload, webhookCredentials, DeliveryOptions{
			Worker: worker, Now: func() time.Time { return campaignNow }, Channels: ChannelOptions{HTTPConcurrency: 1},
		})
		return err
	}
	done := make(chan error, 1)
	go func() { done <- run("news-0") }()
	select {
	case <-first:
	case err := <-done:
		t.Fatalf("the first worker ended before it sent anything: %v", err)
	}
	// A replacement Pod starts while the first one still runs.
	if _, err := st.TakeShard(t.Context(), "shop", "news", "r1", 0, "news-1"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; !errors.Is(err, store.ErrNotShardOwner) {
		t.Fatalf("the first worker ended with %v, want ErrNotShardOwner", err)
	}
	if err := run("news-1"); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Deliveries(t.Context(), "shop", "news", "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.State != store.DeliverySent || r.RecordedBy != "news-1" {
			t.Errorf("row %s is %s, recorded by %q; want sent, recorded by the worker that took the shard over", r.ProfileID, r.State, r.RecordedBy)
		}
	}
	if len(rows) != n {
		t.Errorf("%d rows, want %d", len(rows), n)
	}
}

// sentGate holds every RecordOutcomes that records a sent message until open is closed, and
// closes sentRecording when the first one comes.
type sentGate struct {
	store.Store
	open, sentRecording chan struct{}
	once                sync.Once
}

func (g *sentGate) RecordOutcomes(ctx context.Context, outcomes []store.Outcome) (int, error) {
	for _, o := range outcomes {
		if o.State == store.DeliverySent {
			g.once.Do(func() { close(g.sentRecording) })
			<-g.open
			break
		}
	}
	return g.Store.RecordOutcomes(ctx, outcomes)
}

// TestAStoppedRunDoesNotCommitTheNextMessage stops an SMTP run while the outcome of its first
// message is being written: the connection has the next message staged, or is about to, and
// must not end it with its final dot once the write is done, since the run stopped. One
// message arrives; the other rows stay pending, no attempt counted.
func TestAStoppedRunDoesNotCommitTheNextMessage(t *testing.T) {
	sink := startMailSink(t)
	st := openTestStore(t, "sqlite")
	publishCustomers(t, st, 10)
	camp, ch := welcomeCampaign(), mailChannel(sink)
	camp.Spec.Experiment = nil
	ch.Spec.SMTP.MaxConnections = 1
	payload := &CampaignPayload{Campaign: camp, Channels: []*cdpv1alpha1.Channel{ch}, Resolution: "customers",
		Run: CampaignRun{Namespace: "shop", Campaign: "welcome", Run: "r1", Trigger: TriggerOnce, ScheduledAt: campaignNow, Shards: 1}}
	gate := &sentGate{Store: st, open: make(chan struct{}), sentRecording: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := DeliverRun(ctx, gate, payload, MapCredentials{}, DeliveryOptions{
			Worker: "welcome-0", Now: func() time.Time { return campaignNow },
		})
		done <- err
	}()
	select {
	case <-gate.sentRecording:
	case err := <-done:
		t.Fatalf("the run ended before a message was sent: %v", err)
	}
	cancel()
	close(gate.open)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the run ended with %v, want context.Canceled", err)
	}
	messages, err := sink.Messages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(messages) != 1 {
		t.Errorf("the sink received %d messages, want only the one accepted before the run stopped", len(messages))
	}
	rows, err := st.Deliveries(t.Context(), "shop", "welcome", "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var sent int
	for _, r := range rows {
		switch {
		case r.State == store.DeliverySent:
			sent++
		case r.State == store.DeliveryPending && r.Attempts != 0:
			t.Errorf("row %s is pending after %d attempts, want none: it was not sent", r.ProfileID, r.Attempts)
		}
	}
	if sent != 1 {
		t.Errorf("%d rows sent, want 1", sent)
	}
}
