package worker

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/procstat"
	"github.com/kizuna-dev/kizuna/test/smtpsink"
)

// deliverRecipients sizes BenchmarkDeliver; the figure is 100,000.
var (
	deliverRecipients  = flag.Int("deliver.recipients", 10_000, "recipients of BenchmarkDeliver's run")
	deliverConnections = flag.Int("deliver.connections", 64, "SMTP connections (and webhook requests) in flight in BenchmarkDeliver")
	deliverStore       = flag.String("deliver.store", "sqlite", "store of BenchmarkDeliver: sqlite or postgres")
	deliverCaps        = flag.Bool("deliver.caps", false, "run BenchmarkDeliver under a frequency cap, which reserves every send")
)

// BenchmarkDeliver runs a one-step campaign over every published profile with one worker,
// ledger included: planning, claims, policy decisions, rendering, sending and recording every
// outcome with its event, on SQLite, to Postfix's smtp-sink and to a loopback webhook receiver.
// messages/s is the wall clock from the start of planning to the last outcome recorded, and
// cpu-µs/recipient the CPU time of this process (the webhook receiver's included) per recipient;
// -deliver.store=postgres runs it on PostgreSQL, and -deliver.caps under a policy with a
// frequency cap (3 marketing messages a week), whose reservations cost a write per send.
func BenchmarkDeliver(b *testing.B) {
	b.Run("smtp-sink", func(b *testing.B) {
		sink, err := smtpsink.Start(smtpsink.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sink.Stop() })
		ch := &cdpv1alpha1.Channel{Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelSMTP, SMTP: &cdpv1alpha1.SMTPChannel{
			Host: "127.0.0.1", Port: int32(sink.Port()), TLS: cdpv1alpha1.TLSModeNone,
			From:           cdpv1alpha1.EmailAddress{Address: "news@kizuna-store.example", Name: "絆ストア"},
			MaxConnections: int32(*deliverConnections),
		}}}
		benchmarkDeliver(b, ch, cdpv1alpha1.MessageTemplate{
			Subject: "{{ honorific .Attributes.last_name }}、秋の新作のご案内",
			Text:    "{{ honorific .Attributes.last_name }}\n秋の新作をご用意しました。",
			HTML:    "<p>{{ honorific .Attributes.last_name }}</p><p>秋の新作をご用意しました。</p>",
		})
	})
	b.Run("webhook", func(b *testing.B) {
		var received atomic.Int64
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			received.Add(1)
		}))
		b.Cleanup(hook.Close)
		benchmarkDeliver(b, webhookChannel("bench", hook.URL), cdpv1alpha1.MessageTemplate{Payload: `{"profile": "{{ .ProfileID }}", "name": "{{ .Attributes.last_name }}"}`})
		if received.Load() == 0 {
			b.Fatal("the webhook received nothing")
		}
	})
}

func benchmarkDeliver(b *testing.B, ch *cdpv1alpha1.Channel, tmpl cdpv1alpha1.MessageTemplate) {
	ch.Name, ch.Namespace = "bench", "shop"
	n := *deliverRecipients
	var sent int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dsn := "sqlite:" + filepath.Join(b.TempDir(), "kizuna.db")
		if *deliverStore == "postgres" {
			name := "deliver_bench_" + strconv.FormatInt(time.Now().UnixNano(), 10)
			if err := pg.CreateDatabase(name); err != nil {
				b.Fatal(err)
			}
			dsn = pg.DSN(name)
		}
		st, err := store.Open(b.Context(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		publishCustomers(b, st, n)
		camp := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{
			Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}}},
			Trigger:  cdpv1alpha1.CampaignTrigger{Once: &cdpv1alpha1.OnceTrigger{}},
			Steps: []cdpv1alpha1.CampaignStep{{Name: "newsletter", Messages: []cdpv1alpha1.StepMessage{{
				ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "bench"}, Template: tmpl,
			}}}},
		}}
		camp.Name, camp.Namespace = "newsletter", "shop"
		payload := &CampaignPayload{Campaign: camp, Channels: []*cdpv1alpha1.Channel{ch}, Resolution: "customers",
			Run: CampaignRun{Namespace: "shop", Campaign: "newsletter", Run: "r" + strconv.Itoa(i), Trigger: TriggerOnce, ScheduledAt: campaignNow, Shards: 1}}
		if *deliverCaps {
			payload.Policy = &cdpv1alpha1.DeliveryPolicy{Spec: cdpv1alpha1.DeliveryPolicySpec{FrequencyCaps: []cdpv1alpha1.FrequencyCap{{
				Name: "weekly", MaxMessages: 3, Period: "7d",
			}}}}
			payload.Policy.Name = "default"
		}
		b.StartTimer()
		start, cpu0 := time.Now(), procstat.CPUTime()
		if _, err := DeliverRun(b.Context(), st, payload, webhookCredentials, DeliveryOptions{
			Worker: "bench", Now: func() time.Time { return campaignNow },
			Channels: ChannelOptions{HTTPConcurrency: *deliverConnections},
		}); err != nil {
			b.Fatal(err)
		}
		elapsed, cpu := time.Since(start), procstat.CPUTime()-cpu0
		b.StopTimer()
		counts, err := st.DeliveryCounts(b.Context(), "shop", "newsletter", payload.Run.Run)
		if err != nil {
			b.Fatal(err)
		}
		if counts.Pending+counts.Failed != 0 || counts.Total != int64(n) {
			b.Fatalf("counts = %+v", counts)
		}
		sent = counts.Sent
		b.ReportMetric(float64(counts.Sent)/elapsed.Seconds(), "messages/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/recipient")
		_ = st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(sent), "sent")
}
