package worker

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/delivery/policy"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/mailsink"
)

// campaignNow is the campaign tests' clock: a Monday at 10:00 in Tokyo, outside quiet hours.
var campaignNow = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

// publishCustomers publishes n profiles of resolution "customers" in namespace "shop": every
// fifth has no email, the others cus-NN@example.jp; and evaluates the segment "everyone".
func publishCustomers(t testing.TB, st store.Store, n int) {
	t.Helper()
	ctx := t.Context()
	w, err := st.BeginPublish(ctx, store.ResolutionRun{Namespace: "shop", Resolution: "customers", RunID: "g1", StartedAt: campaignNow})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := customerID(i)
		p := store.Profile{ID: id, Identifiers: map[string][]string{},
			Attributes: map[string]any{"last_name": fmt.Sprintf("山田%02d", i)},
			Records:    []store.RecordRef{{Source: "crm", Key: id}}}
		if i%5 != 0 {
			p.Identifiers["Email"] = []string{id + "@example.jp"}
		}
		if err := w.PutProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, store.ResolutionRun{}); err != nil {
		t.Fatal(err)
	}
	idr := testResolution()
	cfg, err := ResolveConfig(idr)
	if err != nil {
		t.Fatal(err)
	}
	everyone := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
		ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
		Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{
			RandomBucket: &cdpv1alpha1.RandomBucketCondition{Salt: "all", From: 0, To: 99},
		}},
	}}
	everyone.Name, everyone.Namespace = "everyone", "shop"
	res, err := EvaluateSegment(ctx, st, everyone, cfg, Fields{}, SegmentOptions{Now: func() time.Time { return campaignNow }})
	if err != nil || res.Size != int64(n) {
		t.Fatalf("evaluate everyone: %+v, %v; want %d members", res, err, n)
	}
}

// customerID is the ID of the i-th profile publishCustomers publishes.
func customerID(i int) string { return fmt.Sprintf("cus-%02d", i) }

func welcomeCampaign() *cdpv1alpha1.Campaign {
	c := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{
		Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}}},
		Purpose:  cdpv1alpha1.PurposeMarketing,
		Trigger:  cdpv1alpha1.CampaignTrigger{Once: &cdpv1alpha1.OnceTrigger{}},
		Steps: []cdpv1alpha1.CampaignStep{{Name: "welcome", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: "mail"},
			Template: cdpv1alpha1.MessageTemplate{
				Subject: "{{ honorific .Attributes.last_name }}、ようこそ",
				Text:    "{{ honorific .Attributes.last_name }}\n配信停止: {{ unsubscribeURL }}",
			},
			Variants: []cdpv1alpha1.VariantTemplate{{Name: "b", Template: cdpv1alpha1.MessageTemplate{
				Subject: "B: {{ honorific .Attributes.last_name }}", Text: "b",
			}}},
		}}}},
		Experiment: &cdpv1alpha1.Experiment{
			Variants:       []cdpv1alpha1.Variant{{Name: "a", Weight: 50}, {Name: "b", Weight: 50}},
			HoldoutPercent: 10,
		},
	}}
	c.Name, c.Namespace = "welcome", "shop"
	return c
}

// startMailSink starts a Mailpit for one test.
func startMailSink(t *testing.T) *mailsink.Server {
	t.Helper()
	sink, err := mailsink.Start(mailsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Stop() })
	return sink
}

func mailChannel(sink *mailsink.Server) *cdpv1alpha1.Channel {
	ch := &cdpv1alpha1.Channel{Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelSMTP, SMTP: &cdpv1alpha1.SMTPChannel{
		Host: sink.SMTPHost(), Port: int32(sink.SMTPPort()), TLS: cdpv1alpha1.TLSModeNone,
		From: cdpv1alpha1.EmailAddress{Address: "news@kizuna-store.example", Name: "絆ストア"}, MaxConnections: 2,
	}}}
	ch.Name, ch.Namespace = "mail", "shop"
	return ch
}

// webhookCredentials holds the signing key of the channels webhookChannel makes.
var webhookCredentials = MapCredentials{Secrets: map[string]map[string][]byte{"hook": {"key": []byte("0123456789abcdef0123456789abcdef")}}}

// webhookChannel is a webhook Channel of namespace shop that posts to url, signed with the key of
// webhookCredentials.
func webhookChannel(name, url string) *cdpv1alpha1.Channel {
	ch := &cdpv1alpha1.Channel{Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelWebhook, Webhook: &cdpv1alpha1.WebhookChannel{
		URL: url, SigningSecretRef: cdpv1alpha1.SecretKeySelector{Name: "hook", Key: "key"},
	}}}
	ch.Name, ch.Namespace = name, "shop"
	return ch
}

// webhookPayload is run r1, due at campaignNow, of a once marketing campaign that posts each
// member of segment everyone its profile ID ({"profile": ID}) through ch.
func webhookPayload(campaign string, ch *cdpv1alpha1.Channel) *CampaignPayload {
	camp := &cdpv1alpha1.Campaign{Spec: cdpv1alpha1.CampaignSpec{
		Audience: cdpv1alpha1.Audience{Include: []cdpv1alpha1.LocalObjectReference{{Name: "everyone"}}},
		Purpose:  cdpv1alpha1.PurposeMarketing,
		Trigger:  cdpv1alpha1.CampaignTrigger{Once: &cdpv1alpha1.OnceTrigger{}},
		Steps: []cdpv1alpha1.CampaignStep{{Name: "news", Messages: []cdpv1alpha1.StepMessage{{
			ChannelRef: cdpv1alpha1.LocalObjectReference{Name: ch.Name},
			Template:   cdpv1alpha1.MessageTemplate{Payload: `{"profile": "{{ .ProfileID }}"}`},
		}}}},
	}}
	camp.Name, camp.Namespace = campaign, "shop"
	return &CampaignPayload{Campaign: camp, Channels: []*cdpv1alpha1.Channel{ch}, Resolution: "customers",
		Run: CampaignRun{Namespace: "shop", Campaign: campaign, Run: "r1", Trigger: TriggerOnce, ScheduledAt: campaignNow, Shards: 1}}
}

// deliverer builds the worker of one shard.
func deliverer(t *testing.T, st store.Store, camp *cdpv1alpha1.Campaign, ch *cdpv1alpha1.Channel,
	run string, shard int, now func() time.Time) *Deliverer {
	t.Helper()
	sender, err := NewChannelSender(t.Context(), st, ch, MapCredentials{}, ChannelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Sender.Close() })
	signer, err := links.NewSigner("https://kizuna.example.jp", []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Deliverer{
		Store: st, Campaign: camp, Resolution: "customers", Channels: map[string]*ChannelSender{ch.Name: sender},
		Policy: pol, Links: signer, SuppressHardBounces: true, Run: run, Shard: shard,
		Worker: fmt.Sprintf("%s-%d", run, shard), Now: now, Log: testr.New(t), BatchSize: 7,
	}
}

func openTestStore(t *testing.T, name string, opts ...store.Option) store.Store {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "kizuna.db")
	if name == "postgres" {
		db := strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
		dsn = pg.DSN(db)
	}
	st, err := store.Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestCampaignDeliversOnceToEveryRecipient plans a run over 40 profiles and delivers it with two
// shards at once through a real SMTP server: every recipient with an email gets exactly one
// personalised message with its stable Message-ID and a one-click unsubscribe link, the others
// are suppressed, the holdout gets nothing, the counts add up, and a second pass sends nothing.
func TestCampaignDeliversOnceToEveryRecipient(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			sink := startMailSink(t)
			st := openTestStore(t, backend)
			const n = 40
			publishCustomers(t, st, n)
			camp, ch := welcomeCampaign(), mailChannel(sink)
			run := CampaignRun{Namespace: "shop", Campaign: "welcome", Run: "welcome-1", Trigger: TriggerOnce, ScheduledAt: campaignNow, Shards: 2}
			planned, err := PlanCampaignRun(ctx, st, &CampaignPayload{Campaign: camp, Run: run})
			if err != nil || planned != n {
				t.Fatalf("PlanCampaignRun = %d, %v; want %d rows", planned, err, n)
			}
			if again, err := PlanCampaignRun(ctx, st, &CampaignPayload{Campaign: camp, Run: run}); err != nil || again != 0 {
				t.Fatalf("a second plan = %d, %v; want nothing more", again, err)
			}

			now := func() time.Time { return campaignNow }
			var wg sync.WaitGroup
			summaries := make([]DeliverySummary, 2)
			errs := make([]error, 2)
			for shard := range 2 {
				d := deliverer(t, st, camp, ch, run.Run, shard, now)
				wg.Go(func() { summaries[shard], errs[shard] = d.Deliver(ctx) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}

			// What the ledger and the assignment say each profile should have got.
			wantSent := map[string]string{} // address → variant
			var wantHoldout, wantSuppressed int64
			for i := range n {
				id := customerID(i)
				variant, holdout := policy.Assign("welcome", id, camp.Spec.Experiment)
				switch {
				case holdout:
					wantHoldout++
				case i%5 == 0:
					wantSuppressed++
				default:
					wantSent[id+"@example.jp"] = variant
				}
			}
			counts, err := st.DeliveryCounts(ctx, "shop", "welcome", run.Run)
			if err != nil {
				t.Fatal(err)
			}
			if counts.Sent != int64(len(wantSent)) || counts.Suppressed != wantSuppressed || counts.Holdout != wantHoldout ||
				counts.Total != n || counts.Pending+counts.Failed+counts.Deferred+counts.Capped != 0 {
				t.Errorf("counts = %+v; want %d sent, %d suppressed, %d holdout of %d", counts, len(wantSent), wantSuppressed, wantHoldout, n)
			}
			if got := summaries[0].Sent + summaries[1].Sent; got != int64(len(wantSent)) {
				t.Errorf("the shards report %d sent, want %d", got, len(wantSent))
			}

			messages, err := sink.Messages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(messages) != len(wantSent) {
				t.Fatalf("the sink received %d messages, want %d", len(messages), len(wantSent))
			}
			seen := map[string]bool{}
			for _, sum := range messages {
				m, err := sink.Message(ctx, sum.ID)
				if err != nil {
					t.Fatal(err)
				}
				to := m.To[0].Address
				variant, ok := wantSent[to]
				if !ok || seen[to] {
					t.Errorf("unexpected or repeated message to %s", to)
					continue
				}
				seen[to] = true
				id := strings.TrimSuffix(to, "@example.jp")
				wantID := MessageID("shop", "welcome", run.Run, id, "welcome") + "@kizuna-store.example"
				if m.MessageID != wantID {
					t.Errorf("Message-ID of %s = %q, want %q", to, m.MessageID, wantID)
				}
				name := "山田" + strings.TrimPrefix(id, "cus-") + "様"
				wantSubject := name + "、ようこそ"
				if variant == "b" {
					wantSubject = "B: " + name
				}
				if m.Subject != wantSubject {
					t.Errorf("subject to %s (variant %s) = %q, want %q", to, variant, m.Subject, wantSubject)
				}
				if len(m.ListUnsubscribe.Links) != 1 || !strings.HasPrefix(m.ListUnsubscribe.Links[0], "https://kizuna.example.jp/u/") ||
					m.ListUnsubscribe.HeaderPost != "List-Unsubscribe=One-Click" {
					t.Errorf("List-Unsubscribe of %s = %+v, want one signed one-click link", to, m.ListUnsubscribe)
				}
			}

			// A worker started again finds nothing left: nothing is sent twice.
			again, err := deliverer(t, st, camp, ch, run.Run, 0, now).Deliver(ctx)
			if err != nil || again.Read != 0 {
				t.Fatalf("a second pass = %+v, %v; want nothing claimed", again, err)
			}
			if after, _ := sink.Messages(ctx); len(after) != len(wantSent) {
				t.Errorf("after a second pass the sink has %d messages, want still %d", len(after), len(wantSent))
			}

			// Every message sent is an event a segment can select: "received the welcome mail".
			received := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
				ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
				Rule: cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{Event: &cdpv1alpha1.EventCondition{
					Type: store.EventMessageSent, Within: ptrDuration("1d"),
					Where: []cdpv1alpha1.AttributeCondition{{Path: "campaign", Operator: cdpv1alpha1.OpEquals, Value: ptrString("welcome")}},
				}}},
			}}
			received.Name, received.Namespace = "received-welcome", "shop"
			idr := testResolution()
			cfg, err := ResolveConfig(idr)
			if err != nil {
				t.Fatal(err)
			}
			res, err := EvaluateSegment(ctx, st, received, cfg, DeclaredFields(idr, nil),
				SegmentOptions{Now: func() time.Time { return campaignNow.Add(time.Hour) }})
			if err != nil || res.Size != int64(len(wantSent)) {
				t.Errorf("segment of the welcome mail's recipients: %+v, %v; want the %d who were sent it", res, err, len(wantSent))
			}
		})
	}
}

// TestCampaignRetriesFailsAndStops checks what the ledger does with the SMTP server's refusals:
// a 451 leaves the row pending with a retry time and the next pass after it sends; a 550 fails
// the row for good and suppresses the address; a 535 stops the run with the rows kept pending.
func TestCampaignRetriesFailsAndStops(t *testing.T) {
	ctx := t.Context()
	sink := startMailSink(t)
	st := openTestStore(t, "sqlite")
	publishCustomers(t, st, 10)
	camp, ch := welcomeCampaign(), mailChannel(sink)
	camp.Spec.Experiment = nil
	now := campaignNow
	clock := func() time.Time { return now }
	plan := func(run string) {
		t.Helper()
		if _, err := PlanCampaignRun(ctx, st, &CampaignPayload{Campaign: camp, Run: CampaignRun{Namespace: "shop", Campaign: "welcome", Run: run,
			Trigger: TriggerSchedule, ScheduledAt: now, Shards: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func(run string) store.DeliveryCounts {
		t.Helper()
		c, err := st.DeliveryCounts(ctx, "shop", "welcome", run)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	plan("r1")
	if err := sink.SetChaos(ctx, mailsink.Chaos{Recipient: mailsink.Trigger{ErrorCode: 451, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	if _, err := deliverer(t, st, camp, ch, "r1", 0, clock).Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts("r1"); c.Pending != 8 || c.Suppressed != 2 || c.Sent != 0 {
		t.Fatalf("after 451: %+v; want 8 pending for a retry and 2 without an email suppressed", c)
	}
	if err := sink.SetChaos(ctx, mailsink.Chaos{}); err != nil {
		t.Fatal(err)
	}
	// Before the retry time nothing is claimed; after it, everything is sent.
	if s, err := deliverer(t, st, camp, ch, "r1", 0, clock).Deliver(ctx); err != nil || s.Read != 0 {
		t.Fatalf("a pass before the retry time = %+v, %v; want nothing claimed", s, err)
	}
	now = now.Add(time.Minute)
	if _, err := deliverer(t, st, camp, ch, "r1", 0, clock).Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts("r1"); c.Sent != 8 || c.Pending != 0 {
		t.Fatalf("after the retry: %+v; want 8 sent", c)
	}

	// A second run: 550 fails every row and suppresses each address.
	camp.Spec.ReEligibleAfter = ptrDuration("1m")
	now = now.Add(time.Hour)
	plan("r2")
	if err := sink.SetChaos(ctx, mailsink.Chaos{Recipient: mailsink.Trigger{ErrorCode: 550, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	if _, err := deliverer(t, st, camp, ch, "r2", 0, clock).Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts("r2"); c.Failed != 8 || c.Suppressed != 2 {
		t.Fatalf("after 550: %+v; want 8 failed", c)
	}
	suppressed, err := st.Suppressed(ctx, "shop", "SMTP", []string{"cus-01@example.jp", "cus-02@example.jp"})
	if err != nil || len(suppressed) != 2 || suppressed["cus-01@example.jp"].Reason != store.SuppressHardBounce {
		t.Fatalf("suppressions = %+v, %v; want both addresses, as hard bounces", suppressed, err)
	}

	// A third run: the suppressed addresses are not sent to at all.
	if err := sink.SetChaos(ctx, mailsink.Chaos{}); err != nil {
		t.Fatal(err)
	}
	if err := sink.DeleteMessages(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	plan("r3")
	if _, err := deliverer(t, st, camp, ch, "r3", 0, clock).Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts("r3"); c.Suppressed != 10 || c.Sent != 0 {
		t.Fatalf("after suppression: %+v; want all 10 suppressed", c)
	}
	if m, _ := sink.Messages(ctx); len(m) != 0 {
		t.Fatalf("the sink received %d messages for suppressed addresses", len(m))
	}
}

// TestCampaignStopsWhenCredentialsAreRefused: an SMTP server that refuses the channel's login
// stops the run at once, with a clear error, and keeps every row for a later run.
func TestCampaignStopsWhenCredentialsAreRefused(t *testing.T) {
	ctx := t.Context()
	sink, err := mailsink.Start(mailsink.Options{Users: map[string]string{"kizuna": "right"}, STARTTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Stop() })
	st := openTestStore(t, "sqlite")
	publishCustomers(t, st, 10)
	camp, ch := welcomeCampaign(), mailChannel(sink)
	camp.Spec.Experiment = nil
	ch.Spec.SMTP.TLS = cdpv1alpha1.TLSModeSTARTTLS
	ch.Spec.SMTP.AuthSecretRef = &cdpv1alpha1.LocalObjectReference{Name: "smtp-auth"}
	creds := MapCredentials{Secrets: map[string]map[string][]byte{"smtp-auth": {"username": []byte("kizuna"), "password": []byte("wrong")}}}
	if _, err := PlanCampaignRun(ctx, st, &CampaignPayload{Campaign: camp, Run: CampaignRun{Namespace: "shop", Campaign: "welcome", Run: "r1",
		Trigger: TriggerOnce, ScheduledAt: campaignNow, Shards: 1}}); err != nil {
		t.Fatal(err)
	}
	sender, err := NewChannelSender(ctx, st, ch, creds, ChannelOptions{SMTPTLSConfig: sink.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sender.Sender.Close() }()
	d := deliverer(t, st, camp, mailChannel(sink), "r1", 0, func() time.Time { return campaignNow })
	d.Channels["mail"] = sender
	_, err = d.Deliver(ctx)
	var unauthorized *ErrUnauthorized
	if !errors.As(err, &unauthorized) || unauthorized.Channel != "mail" || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("Deliver = %v; want ErrUnauthorized for channel mail, without the password", err)
	}
	c, err := st.DeliveryCounts(ctx, "shop", "welcome", "r1")
	if err != nil || c.Pending != 8 || c.Sent+c.Failed != 0 {
		t.Fatalf("counts = %+v, %v; want the 8 reachable rows pending and none failed", c, err)
	}
}

func ptrString(s string) *string { return &s }

func ptrDuration(d string) *cdpv1alpha1.Duration {
	v := cdpv1alpha1.Duration(d)
	return &v
}
