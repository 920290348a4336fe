package worker

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestCampaignSurvivesKills delivers a run of 10,000 recipients with a worker process that is
// killed (SIGKILL) at random moments 20 times, each time started again, as a Job replaces its
// Pod. Every recipient is accounted for exactly once in the ledger and once in the store's
// events; at the SMTP server every message arrives, and a Message-ID arrives twice at most once
// per kill: the message whose acceptance the killed worker could not record (RFC 1047's window,
// one per connection; the channel has one).
func TestCampaignSurvivesKills(t *testing.T) {
	const recipients, kills = 10_000, 20
	sink := startMailSink(t)
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "kizuna.db")
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	publishCustomers(t, st, recipients)
	camp, ch := welcomeCampaign(), mailChannel(sink)
	camp.Spec.Experiment = nil
	ch.Spec.SMTP.MaxConnections = 1
	payload, err := json.Marshal(CampaignPayload{Campaign: camp, Channels: []*cdpv1alpha1.Channel{ch}, Resolution: "customers",
		Run: CampaignRun{Namespace: "shop", Campaign: "welcome", Run: "r1", Trigger: TriggerOnce, ScheduledAt: campaignNow, Shards: 1}})
	if err != nil {
		t.Fatal(err)
	}
	worker := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashWorkerEnv+"=1", EnvCampaign+"="+string(payload), EnvStoreDSN+"="+dsn)
		cmd.Stderr = os.Stderr
		return cmd
	}

	rng := rand.New(rand.NewPCG(20, 26))
	killed := 0
	for killed < kills {
		cmd := worker()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("the worker finished before kill %d (%v): the run is too short to test kills", killed+1, err)
		case <-time.After(time.Duration(150+rng.IntN(400)) * time.Millisecond):
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var exit *exec.ExitError
			if err := <-done; !errors.As(err, &exit) {
				t.Fatalf("the killed worker ended with %v", err)
			}
			killed++
		}
	}
	if err := worker().Run(); err != nil {
		t.Fatalf("the last worker: %v", err)
	}

	counts, err := st.DeliveryCounts(t.Context(), "shop", "welcome", "r1")
	if err != nil {
		t.Fatal(err)
	}
	reachable := int64(recipients - recipients/5) // every fifth customer has no email
	if counts.Total != recipients || counts.Sent != reachable || counts.Suppressed != recipients-reachable ||
		counts.Pending+counts.Failed+counts.Deferred+counts.Capped != 0 {
		t.Fatalf("ledger after %d kills: %+v; want %d sent and %d suppressed of %d", killed, counts, reachable, recipients-reachable, recipients)
	}
	events := 0
	if err := st.ScanEvents(t.Context(), "shop", store.CampaignEventSource, func(store.Event) error {
		events++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if events != recipients {
		t.Errorf("%d delivery events, want one per recipient: %d", events, recipients)
	}

	messages, err := sink.Messages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	arrivals := map[string]int{}
	for _, m := range messages {
		arrivals[m.MessageID]++
	}
	duplicates := len(messages) - len(arrivals)
	if int64(len(arrivals)) != reachable || duplicates > killed {
		t.Fatalf("the server received %d messages with %d distinct Message-IDs (%d duplicates) after %d kills; want %d distinct and at most one duplicate per kill",
			len(messages), len(arrivals), duplicates, killed, reachable)
	}
	t.Logf("%d kills: %d messages, %d delivered twice", killed, len(messages), duplicates)
}
