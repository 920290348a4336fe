package linkserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// TestOneClickUnsubscribeRecordsARefusedConsent signs an unsubscribe link as a delivery worker
// of namespace shop does, and posts to it as a mail client does (RFC 8058): the store records the
// recipient's refusal. A link of another namespace's key, or of a namespace without a key, is
// not found, and a GET only shows the page.
func TestOneClickUnsubscribeRecordsARefusedConsent(t *testing.T) {
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	keys := map[string][]byte{"shop": []byte(strings.Repeat("s", 32)), "other": []byte(strings.Repeat("o", 32))}
	srv := httptest.NewServer(&Server{Store: st, BaseURL: "https://kizuna.example.jp",
		Key: func(_ context.Context, ns string) ([]byte, error) {
			if k, ok := keys[ns]; ok {
				return k, nil
			}
			return nil, errors.New("no key")
		}})
	defer srv.Close()

	sign := func(ns string, key []byte) string {
		signer, err := links.NewSigner(NamespaceBaseURL(srv.URL, ns), key)
		if err != nil {
			t.Fatal(err)
		}
		return signer.UnsubscribeURL(links.Claims{Namespace: ns, Campaign: "welcome", Run: "r1", Step: "mail",
			ProfileID: "cus_1", ChannelType: "SMTP", Address: "taro@example.jp", IssuedAt: time.Now()})
	}
	post := func(url string) int {
		t.Helper()
		resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	consents := func() []store.Consent {
		t.Helper()
		c, err := st.Consents(t.Context(), "shop", []string{"cus_1"})
		if err != nil {
			t.Fatal(err)
		}
		return c["cus_1"]
	}

	link := sign("shop", keys["shop"])
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(consents()) != 0 {
		t.Fatalf("GET = %d with consents %v; want the page and nothing recorded", resp.StatusCode, consents())
	}
	if code := post(sign("shop", keys["other"])); code != http.StatusNotFound {
		t.Errorf("a link signed with another namespace's key: %d, want 404", code)
	}
	if code := post(sign("nokey", keys["shop"])); code != http.StatusNotFound {
		t.Errorf("a namespace without a key: %d, want 404", code)
	}
	if len(consents()) != 0 {
		t.Fatalf("refused links recorded %v", consents())
	}
	if code := post(link); code != http.StatusOK {
		t.Fatalf("one-click POST = %d, want 200", code)
	}
	got := consents()
	if len(got) != 1 || got[0].Granted || got[0].ChannelType != "SMTP" || got[0].Purpose != "Marketing" || got[0].Source != "unsubscribe/welcome" {
		t.Fatalf("consents = %+v; want one refusal of marketing email", got)
	}
}

// TestClicksAndOpensAreEventsSegmentsSelect sends a campaign's email to a customer (its ledger
// row), then follows the message's click link and loads its open pixel as a mail client does:
// each is an event of the campaign with the message's address and properties, a click or open
// fetched again within the same second counts once and a later one again, and a segment selects
// the customer by "clicked the sale link of the welcome campaign twice" and "opened it".
func TestClicksAndOpensAreEventsSegmentsSelect(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	sentAt := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	sendWelcome(t, st, sentAt)

	clock := clocktesting.NewFakeClock(sentAt.Add(time.Hour))
	key := []byte(strings.Repeat("s", 32))
	srv := httptest.NewServer(&Server{Store: st, BaseURL: "https://kizuna.example.jp", Now: clock.Now,
		Key: func(context.Context, string) ([]byte, error) { return key, nil }})
	defer srv.Close()
	signer, err := links.NewSigner(NamespaceBaseURL(srv.URL, "shop"), key)
	if err != nil {
		t.Fatal(err)
	}
	// The claims of the message, as the delivery worker signs them.
	claims := links.Claims{Namespace: "shop", Campaign: "welcome", Run: "r1", Step: "mail", ProfileID: "cus_1",
		ChannelType: "SMTP", Address: "taro@example.jp", IssuedAt: sentAt}
	const sale = "https://kizuna-store.example/sale?utm_campaign=welcome"
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// get returns the status and headers of a response whose body it reads and closes.
	get := func(url string) (int, http.Header) {
		t.Helper()
		resp, err := noRedirects.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	click := func() {
		t.Helper()
		if status, header := get(signer.ClickURL(claims, sale)); status != http.StatusFound || header.Get("Location") != sale {
			t.Fatalf("click = %d to %q, want a redirect to %s", status, header.Get("Location"), sale)
		}
	}
	openPixel := func() {
		t.Helper()
		if status, header := get(signer.OpenURL(claims)); status != http.StatusOK || header.Get("Content-Type") != "image/gif" {
			t.Fatalf("open pixel = %d %s, want 200 image/gif", status, header.Get("Content-Type"))
		}
	}

	click()
	openPixel()
	clock.Step(400 * time.Millisecond)
	click() // a link scanner fetching it again, or a reload
	openPixel()
	clock.Step(time.Minute)
	click()
	// A link signed with another key is not this namespace's: no redirect, no event.
	forger, err := links.NewSigner(NamespaceBaseURL(srv.URL, "shop"), []byte(strings.Repeat("f", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(forger.ClickURL(claims, "https://phishing.example/")); status != http.StatusNotFound {
		t.Errorf("a forged click link = %d, want 404", status)
	}

	var got []string
	err = st.ScanEvents(ctx, "shop", store.CampaignEventSource, func(e store.Event) error {
		if e.Type == store.EventMessageClicked || e.Type == store.EventMessageOpened {
			got = append(got, fmt.Sprintf("%s %s:%s %s %v url=%v variant=%v channel=%v", e.Type, e.IdentifierType,
				e.IdentifierValue, e.OccurredAt.Format(time.RFC3339Nano), e.Properties["campaign"], e.Properties["url"],
				e.Properties["variant"], e.Properties["channel"]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{
		"message_clicked Email:taro@example.jp 2026-11-23T02:00:00Z welcome url=" + sale + " variant=a channel=mail",
		"message_clicked Email:taro@example.jp 2026-11-23T02:01:00.4Z welcome url=" + sale + " variant=a channel=mail",
		"message_opened Email:taro@example.jp 2026-11-23T02:00:00Z welcome url=<nil> variant=a channel=mail",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}

	// What segments see: the click and open events reach the customer through the address.
	idr := &cdpv1alpha1.IdentityResolution{Spec: cdpv1alpha1.IdentityResolutionSpec{
		Sources:       []cdpv1alpha1.ResolutionSource{{Name: "crm"}},
		Deterministic: []cdpv1alpha1.DeterministicRule{{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}}},
	}}
	idr.Name, idr.Namespace = "customers", "shop"
	cfg, err := worker.ResolveConfig(idr)
	if err != nil {
		t.Fatal(err)
	}
	welcome := cdpv1alpha1.AttributeCondition{Path: "campaign", Operator: cdpv1alpha1.OpEquals, Value: ptr("welcome")}
	for _, tc := range []struct {
		name string
		rule cdpv1alpha1.EventCondition
	}{
		{"clicked-sale-twice", cdpv1alpha1.EventCondition{Type: store.EventMessageClicked, Within: ptr(cdpv1alpha1.Duration("1d")),
			Where: []cdpv1alpha1.AttributeCondition{welcome, {Path: "url", Operator: cdpv1alpha1.OpEquals, Value: ptr(sale)}},
			Count: &cdpv1alpha1.CountComparison{Operator: "Equals", Value: 2}}},
		{"opened-welcome", cdpv1alpha1.EventCondition{Type: store.EventMessageOpened, Within: ptr(cdpv1alpha1.Duration("1d")),
			Where: []cdpv1alpha1.AttributeCondition{welcome, {Path: "variant", Operator: cdpv1alpha1.OpEquals, Value: ptr("a")}}}},
	} {
		seg := &cdpv1alpha1.Segment{Spec: cdpv1alpha1.SegmentSpec{
			ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"},
			Rule:          cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{Event: &tc.rule}},
		}}
		seg.Name, seg.Namespace = tc.name, "shop"
		if _, err := worker.EvaluateSegment(ctx, st, seg, cfg, worker.DeclaredFields(idr, nil),
			worker.SegmentOptions{Now: clock.Now}); err != nil {
			t.Fatalf("segment %s: %v", tc.name, err)
		}
		members, err := st.SegmentMembers(ctx, "shop", tc.name, 0)
		if err != nil || len(members) != 1 || members[0].ProfileID != "cus_1" {
			t.Errorf("segment %s has members %+v (%v), want cus_1", tc.name, members, err)
		}
	}
}

// sendWelcome publishes the profile cus_1 (taro@example.jp) and records the email of step mail
// of run r1 of campaign welcome sent to it at sentAt, as a delivery worker does.
func sendWelcome(t *testing.T, st store.Store, sentAt time.Time) {
	t.Helper()
	ctx := t.Context()
	w, err := st.BeginPublish(ctx, store.ResolutionRun{Namespace: "shop", Resolution: "customers", RunID: "g1", StartedAt: sentAt})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutProfile(ctx, store.Profile{ID: "cus_1", Identifiers: map[string][]string{"Email": {"taro@example.jp"}},
		Records: []store.RecordRef{{Source: "crm", Key: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, store.ResolutionRun{}); err != nil {
		t.Fatal(err)
	}
	run := store.DeliveryRun{Namespace: "shop", Campaign: "welcome", Run: "r1", Trigger: "once", ScheduledAt: sentAt, Shards: 1}
	if _, err := st.PlanDeliveryRun(ctx, run, slices.Values([]store.PlannedDelivery{{ProfileID: "cus_1", Step: "mail",
		Variant: "a", Purpose: "Marketing"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TakeShard(ctx, "shop", "welcome", "r1", 0, "w"); err != nil {
		t.Fatal(err)
	}
	if n, err := st.RecordOutcomes(ctx, []store.Outcome{{Namespace: "shop", Campaign: "welcome", Run: "r1",
		ProfileID: "cus_1", Step: "mail", Worker: "w", State: store.DeliverySent, Channel: "mail", ChannelType: "SMTP",
		Address: "taro@example.jp", At: sentAt}}); err != nil || n != 1 {
		t.Fatalf("record the email sent: %d, %v", n, err)
	}
}

func ptr[T any](v T) *T { return &v }

// A click while the store cannot record it still takes the customer to the page: the event is
// lost, not the visit.
func TestAClickRedirectsWhenTheStoreIsAway(t *testing.T) {
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	key := []byte(strings.Repeat("s", 32))
	srv := httptest.NewServer(&Server{Store: st, BaseURL: "https://kizuna.example.jp",
		Key: func(context.Context, string) ([]byte, error) { return key, nil }})
	defer srv.Close()
	signer, err := links.NewSigner(NamespaceBaseURL(srv.URL, "shop"), key)
	if err != nil {
		t.Fatal(err)
	}
	const page = "https://kizuna-store.example/sale"
	claims := links.Claims{Namespace: "shop", Campaign: "welcome", Run: "r1", Step: "mail", ProfileID: "cus_1",
		ChannelType: "SMTP", IssuedAt: time.Now()}
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Get(signer.ClickURL(claims, page))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != page {
		t.Errorf("click with the store closed = %d to %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
}
