package httpsend

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		status int
		want   delivery.Kind
	}{
		{429, delivery.Transient},
		{500, delivery.Transient},
		{502, delivery.Transient},
		{503, delivery.Transient},
		{504, delivery.Transient},
		{401, delivery.Unauthorized},
		{403, delivery.Unauthorized},
		{400, delivery.Permanent},
		{404, delivery.Permanent},
		{409, delivery.Permanent},
		{413, delivery.Permanent},
		{422, delivery.Permanent},
		{302, delivery.Permanent},
		{101, delivery.Permanent},
	}
	for _, tt := range tests {
		if got := KindOf(tt.status); got != tt.want {
			t.Errorf("KindOf(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name, value string
		want        time.Duration
	}{
		{name: "absent", value: "", want: 0},
		{name: "seconds", value: "120", want: 2 * time.Minute},
		{name: "seconds with spaces", value: " 5 ", want: 5 * time.Second},
		{name: "zero", value: "0", want: 0},
		{name: "negative", value: "-3", want: 0},
		{name: "more than a day is capped", value: "999999", want: 24 * time.Hour},
		{name: "HTTP date", value: "Wed, 01 Apr 2026 09:01:30 GMT", want: 90 * time.Second},
		{name: "RFC 850 date", value: "Wednesday, 01-Apr-26 09:00:10 GMT", want: 10 * time.Second},
		{name: "date in the past", value: "Wed, 01 Apr 2026 08:59:00 GMT", want: 0},
		{name: "date far ahead is capped", value: "Fri, 01 May 2026 09:00:00 GMT", want: 24 * time.Hour},
		{name: "garbage", value: "soon", want: 0},
		{name: "fraction", value: "1.5", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			if got := RetryAfter(h, now); got != tt.want {
				t.Errorf("RetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

func TestFailure(t *testing.T) {
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		resp         Response
		providerCode string
		want         delivery.Failure
		errHas       string
	}{
		{
			name:         "throttled with provider code",
			resp:         Response{StatusCode: 429, Header: http.Header{"Retry-After": {"3"}}},
			providerCode: "20429",
			want:         delivery.Failure{Kind: delivery.Transient, Code: "HTTP 429 20429", RetryAfter: 3 * time.Second},
		},
		{
			name: "Retry-After is ignored on permanent failures",
			resp: Response{StatusCode: 400, Header: http.Header{"Retry-After": {"3"}}},
			want: delivery.Failure{Kind: delivery.Permanent, Code: "HTTP 400"},
		},
		{
			name: "unauthorized",
			resp: Response{StatusCode: 401, Header: http.Header{}},
			want: delivery.Failure{Kind: delivery.Unauthorized, Code: "HTTP 401"},
		},
		{
			name:   "redirect names the location",
			resp:   Response{StatusCode: 308, Header: http.Header{"Location": {"https://new.example/hook"}}},
			want:   delivery.Failure{Kind: delivery.Permanent, Code: "HTTP 308"},
			errHas: "https://new.example/hook",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Failure(&tt.resp, now, tt.providerCode, "provider said no")
			if f.Kind != tt.want.Kind || f.Code != tt.want.Code || f.RetryAfter != tt.want.RetryAfter {
				t.Errorf("Failure = {%v %q %v}, want {%v %q %v}", f.Kind, f.Code, f.RetryAfter, tt.want.Kind, tt.want.Code, tt.want.RetryAfter)
			}
			if !strings.Contains(f.Error(), "provider said no") || !strings.Contains(f.Error(), tt.errHas) {
				t.Errorf("error %q lacks the message or %q", f.Error(), tt.errHas)
			}
		})
	}
}

func TestBound(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "short", in: "Invalid 'To' Phone Number", want: "Invalid 'To' Phone Number"},
		{name: "whitespace folds", in: "<html>\n  <body>Bad\tGateway</body>\n</html>", want: "<html> <body>Bad Gateway</body> </html>"},
		{name: "long ASCII", in: strings.Repeat("a", 500), want: strings.Repeat("a", 300) + "…"},
		// 101 three-byte runes: the cut at byte 300 falls on a rune boundary after 100 runes.
		{name: "long Japanese", in: strings.Repeat("送", 101), want: strings.Repeat("送", 100) + "…"},
		// A leading ASCII byte moves every rune boundary: the cut must back off to one.
		{name: "cut inside a rune", in: "a" + strings.Repeat("送", 101), want: "a" + strings.Repeat("送", 99) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Bound(tt.in)
			if got != tt.want {
				t.Errorf("Bound = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Bound = %q is not valid UTF-8", got)
			}
		})
	}
	if got := Snippet([]byte("bad\xffbyte")); got != "bad?byte" {
		t.Errorf("Snippet = %q, want invalid bytes replaced", got)
	}
}

func TestValidateEndpoint(t *testing.T) {
	tests := []struct {
		in, want, errHas string
	}{
		{in: "https://api.twilio.com", want: "https://api.twilio.com"},
		{in: "https://api.dublin.ie1.twilio.com/", want: "https://api.dublin.ie1.twilio.com"},
		{in: "http://127.0.0.1:8080/prefix/", want: "http://127.0.0.1:8080/prefix"},
		{in: "api.twilio.com", errHas: "absolute"},
		{in: "ftp://api.twilio.com", errHas: "absolute"},
		{in: "https://AC123:token@api.twilio.com", errHas: "credentials"},
		{in: "https://exa mple.com/%zz", errHas: "not a URL"},
	}
	for _, tt := range tests {
		got, err := ValidateEndpoint(tt.in)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("ValidateEndpoint(%q) = %v, want an error containing %q", tt.in, err, tt.errHas)
			}
			if err != nil && strings.Contains(err.Error(), "token") {
				t.Errorf("ValidateEndpoint(%q) error %q reveals the password", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ValidateEndpoint(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestDoReusesConnections sends from several goroutines, with answers longer than Do reads,
// and checks that the server saw about as many connections as there were concurrent senders.
func TestDoReusesConnections(t *testing.T) {
	const senders, perSender = 8, 50
	var conns atomic.Int64
	big := strings.Repeat("x", maxBody+1000)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(big))
	}))
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	server.Start()
	t.Cleanup(server.Close)

	client := NewClient()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range perSender {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, server.URL, strings.NewReader("{}"))
				resp, err := Do(client, req)
				if err != nil {
					t.Errorf("Do: %v", err)
					return
				}
				if len(resp.Body) != maxBody {
					t.Errorf("read %d bytes, want the bound %d", len(resp.Body), maxBody)
				}
			}
		})
	}
	wg.Wait()
	// The transport returns a connection to its pool just after the body is read, so a sender
	// can occasionally dial before its previous connection is back: allow for that, while 400
	// requests without reuse would open 400 connections.
	if n := conns.Load(); n > 2*senders {
		t.Errorf("%d connections for %d requests from %d senders: connections were not reused", n, senders*perSender, senders)
	}
}

func TestDoFollowsNoRedirect(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	t.Cleanup(target.Close)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	t.Cleanup(origin.Close)

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, origin.URL, strings.NewReader("{}"))
	resp, err := Do(NewClient(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Errorf("status %d, followed %v: want the 302 itself", resp.StatusCode, followed.Load())
	}
}

func TestDoNetworkErrorNamesOnlyTheHost(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	url := server.URL
	server.Close()

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
		url+"/2010-04-01/Accounts/AC0123456789/Messages.json?token=s3cr3t", strings.NewReader(""))
	_, err := Do(NewClient(), req)
	f := delivery.Classify(err)
	if f.Kind != delivery.Transient {
		t.Fatalf("Do = %v, want a transient failure", err)
	}
	for _, leak := range []string{"AC0123456789", "s3cr3t", "/2010-04-01"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q reveals %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), strings.TrimPrefix(url, "http://")) {
		t.Errorf("error %q does not name the host", err)
	}
}
