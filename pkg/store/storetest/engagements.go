package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// sendAll plans run with rows and records every row sent at t0.
func sendAll(t *testing.T, s store.Store, run string, rows ...store.PlannedDelivery) {
	t.Helper()
	plan(t, s, deliveryRun(run, 1), rows...)
	ds := due(t, s, run, "w1", 0, len(rows), t0)
	if n := record(t, s, outcomes(ds, "w1", store.DeliverySent, t0)...); n != len(rows) {
		t.Fatalf("sent %d rows of run %s, want %d", n, run, len(rows))
	}
}

func engage(t *testing.T, s store.Store, engagements ...store.Engagement) int {
	t.Helper()
	n, err := s.RecordEngagements(t.Context(), engagements)
	if err != nil {
		t.Fatalf("RecordEngagements: %v", err)
	}
	return n
}

func opened(run, profileID, step string, at time.Time) store.Engagement {
	return store.Engagement{Namespace: ns, Campaign: campaign, Run: run, ProfileID: profileID, Step: step,
		Type: store.EventMessageOpened, ChannelType: "SMTP", At: at}
}

// clicked is a click of the message of run r1's step day-1.
func clicked(profileID, url string, at time.Time) store.Engagement {
	e := opened("r1", profileID, "day-1", at)
	e.Type, e.URL = store.EventMessageClicked, url
	return e
}

// engagementEvents renders the opens and clicks recorded: "type identifier properties at".
func engagementEvents(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	for _, e := range campaignEvents(t, s) {
		if strings.HasPrefix(e, store.EventMessageOpened+" ") || strings.HasPrefix(e, store.EventMessageClicked+" ") {
			out = append(out, e)
		}
	}
	return out
}

var engagementTests = []test{
	{"opens and clicks are events with the identifier and properties of their message's delivery", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		sendAll(t, s, "r1",
			store.PlannedDelivery{ProfileID: "p1", Step: "day-1", Variant: "a", Purpose: "Marketing", Channel: "mail",
				ChannelType: "SMTP", Address: "p1@example.co.jp"},
			store.PlannedDelivery{ProfileID: "p2", Step: "day-1", Variant: "b", Purpose: "Marketing", Channel: "sms",
				ChannelType: "SMS", Address: "+819012345678"},
			store.PlannedDelivery{ProfileID: "p3", Step: "day-1", Purpose: "Marketing", Channel: "hook", ChannelType: "Webhook"})
		at := t0.Add(time.Hour).Add(123456789)
		smsClick := clicked("p2", "https://kizuna-store.example/sale?utm=sms", at)
		smsClick.ChannelType = "SMS"
		// A message of a run the ledger does not hold (its campaign was deleted, say).
		unknown := opened("r9", "p4", "day-1", at)
		if n := engage(t, s,
			opened("r1", "p1", "day-1", at),
			clicked("p1", "https://kizuna-store.example/new", at),
			smsClick,
			clicked("p3", "https://kizuna-store.example/hook", at),
			unknown,
		); n != 5 {
			t.Errorf("recorded %d events, want 5", n)
		}
		when := at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
		props := func(run, variant, channel, url string) string {
			p := fmt.Sprintf("campaign=string:welcome channel=string:%s run=string:%s step=string:day-1", channel, run)
			if url != "" {
				p += " url=string:" + url
			}
			return "{" + p + " variant=string:" + variant + "}"
		}
		mustEqual(t, "events", engagementEvents(t, s), []string{
			"message_clicked Email:p1@example.co.jp " + props("r1", "a", "mail", "https://kizuna-store.example/new") + " " + when,
			"message_clicked Phone:+819012345678 " + props("r1", "b", "sms", "https://kizuna-store.example/sale?utm=sms") + " " + when,
			"message_clicked ProfileID:p3 " + props("r1", "", "hook", "https://kizuna-store.example/hook") + " " + when,
			"message_opened Email:p1@example.co.jp " + props("r1", "a", "mail", "") + " " + when,
			"message_opened ProfileID:p4 " + props("r9", "", "", "") + " " + when,
		})
	}},
	{"an open or a click repeated within a second is one event, a later one another", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		sendAll(t, s, "r1", store.PlannedDelivery{ProfileID: "p1", Step: "day-1", Purpose: "Marketing",
			Channel: "mail", ChannelType: "SMTP", Address: "p1@example.co.jp"})
		second := t0.Add(time.Hour)
		const page, other = "https://kizuna-store.example/new", "https://kizuna-store.example/other"
		steps := []struct {
			what string
			e    store.Engagement
			want int
		}{
			{"an open", opened("r1", "p1", "day-1", second.Add(100*time.Millisecond)), 1},
			{"the same open reloaded in the same second", opened("r1", "p1", "day-1", second.Add(900*time.Millisecond)), 0},
			{"an open a second later", opened("r1", "p1", "day-1", second.Add(time.Second)), 1},
			{"a click", clicked("p1", page, second), 1},
			{"the same click fetched again in the same second", clicked("p1", page, second.Add(500*time.Millisecond)), 0},
			{"a click of another link of the message in the same second", clicked("p1", other, second), 1},
			{"the first click again a minute later", clicked("p1", page, second.Add(time.Minute)), 1},
			{"an open of another step of the message's run", opened("r1", "p1", "day-2", second), 1},
		}
		total := 0
		for _, step := range steps {
			if n := engage(t, s, step.e); n != step.want {
				t.Errorf("%s: recorded %d events, want %d", step.what, n, step.want)
			}
			total += step.want
		}
		if got := len(engagementEvents(t, s)); got != total {
			t.Errorf("the store holds %d opens and clicks, want %d", got, total)
		}
		// A batch recorded twice, as a retried request would, writes nothing the second time.
		batch := []store.Engagement{opened("r1", "p1", "day-1", second.Add(time.Hour)),
			clicked("p1", page, second.Add(time.Hour))}
		if n := engage(t, s, batch...); n != 2 {
			t.Errorf("a new batch recorded %d events, want 2", n)
		}
		if n := engage(t, s, batch...); n != 0 {
			t.Errorf("the batch recorded again wrote %d events, want 0", n)
		}
		if n := engage(t, s); n != 0 {
			t.Errorf("an empty batch recorded %d events", n)
		}
	}},
	{"an engagement the store cannot hold fails its batch with a clear error, and nothing is written", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		valid := opened("r1", "p1", "day-1", t0)
		tests := []struct {
			name    string
			edit    func(*store.Engagement)
			errHas  string
			invalid bool // wraps store.ErrInvalidRow
		}{
			{"no campaign", func(e *store.Engagement) { e.Campaign = "" }, "campaign is empty", true},
			{"no profile", func(e *store.Engagement) { e.ProfileID = "" }, "profile ID is empty", true},
			{"a run too long to index", func(e *store.Engagement) { e.Run = strings.Repeat("r", 1025) }, "run is longer than", true},
			{"another type", func(e *store.Engagement) { e.Type = store.EventMessageSent }, `type "message_sent" is not an engagement`, false},
			{"a click without its URL", func(e *store.Engagement) { e.Type = store.EventMessageClicked }, "needs the URL", false},
			{"an open with a URL", func(e *store.Engagement) { e.URL = "https://kizuna-store.example/" }, "an open has no URL", false},
			{"a URL over the limit", func(e *store.Engagement) {
				e.Type, e.URL = store.EventMessageClicked, "https://kizuna-store.example/"+strings.Repeat("a", store.MaxEngagementURLBytes)
			}, "the URL has", true},
			{"a URL with a NUL", func(e *store.Engagement) {
				e.Type, e.URL = store.EventMessageClicked, "https://kizuna-store.example/\x00"
			}, "URL contains a NUL", true},
			{"a channel type that is not UTF-8", func(e *store.Engagement) { e.ChannelType = "SMTP\xff" }, "channel type is not valid UTF-8", true},
		}
		for _, tc := range tests {
			bad := valid
			tc.edit(&bad)
			bad.At = t0.Add(time.Minute)
			n, err := s.RecordEngagements(t.Context(), []store.Engagement{valid, bad})
			if err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), "engagement 2") {
				t.Errorf("%s: RecordEngagements = %d, %v; want an error about engagement 2 containing %q", tc.name, n, err, tc.errHas)
				continue
			}
			if errors.Is(err, store.ErrInvalidRow) != tc.invalid {
				t.Errorf("%s: errors.Is(%v, ErrInvalidRow) = %v, want %v", tc.name, err, !tc.invalid, tc.invalid)
			}
		}
		if got := engagementEvents(t, s); len(got) != 0 {
			t.Errorf("refused batches wrote %q", got)
		}
		if n := engage(t, s, valid); n != 1 || len(engagementEvents(t, s)) != 1 {
			t.Errorf("the valid engagement alone recorded %d events (the store holds %q), want 1", n, engagementEvents(t, s))
		}
	}},
}
