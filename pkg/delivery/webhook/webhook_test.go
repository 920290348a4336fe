package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

const (
	signingKey  = "whsec-3f9a1c7e-signing-key"
	apiKeyValue = "receiver-api-key-5d2b"
)

var start = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// answer is what the receiver says to one request.
type answer struct {
	status int
	header map[string]string
	body   string
}

// received is one request as the receiver saw it.
type received struct {
	method, path, query string
	header              http.Header
	body                []byte
	timestamp           int64
}

// receiver is a webhook endpoint that verifies each request as the package documentation tells
// receivers to, with its own implementation of the scheme, and answers from a script.
type receiver struct {
	t      *testing.T
	key    []byte
	clock  *clocktesting.FakeClock
	server *httptest.Server

	mu       sync.Mutex
	requests []received
	answers  []answer
}

func newReceiver(t *testing.T, clock *clocktesting.FakeClock, answers ...answer) *receiver {
	r := &receiver{t: t, key: []byte(signingKey), clock: clock, answers: answers}
	r.server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.server.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("receiver: read body: %v", err)
		return
	}
	timestamp, err := verifySignature(req.Header.Get("Kizuna-Signature"), body, r.key, r.clock.Now())
	if err != nil {
		r.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		r.t.Errorf("receiver: Content-Type = %q, want application/json", got)
	}
	if !json.Valid(body) {
		r.t.Errorf("receiver: body is not JSON: %q", body)
	}

	r.mu.Lock()
	r.requests = append(r.requests, received{
		method: req.Method, path: req.URL.Path, query: req.URL.RawQuery,
		header: req.Header.Clone(), body: body, timestamp: timestamp,
	})
	a := answer{status: http.StatusNoContent}
	if len(r.answers) > 0 {
		a, r.answers = r.answers[0], r.answers[1:]
	}
	r.mu.Unlock()

	for name, value := range a.header {
		w.Header().Set(name, value)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}

// verifySignature checks a Kizuna-Signature header the way the package comment describes,
// written independently of the sender: parse t and v1, recompute the HMAC over "t.body", compare
// in constant time, and refuse a timestamp more than five minutes away.
func verifySignature(header string, body, key []byte, now time.Time) (int64, error) {
	var timestamp int64
	var signatures [][]byte
	for part := range strings.SplitSeq(header, ",") {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return 0, fmt.Errorf("signature %q: part %q has no =", header, part)
		}
		switch name {
		case "t":
			t, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("signature %q: timestamp: %w", header, err)
			}
			timestamp = t
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil {
				return 0, fmt.Errorf("signature %q: v1: %w", header, err)
			}
			signatures = append(signatures, sig)
		}
	}
	if timestamp == 0 || len(signatures) == 0 {
		return 0, fmt.Errorf("signature %q lacks t or v1", header)
	}
	if age := now.Sub(time.Unix(timestamp, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return 0, fmt.Errorf("signature timestamp is %v away from now: a replay", age)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range signatures {
		if hmac.Equal(sig, want) {
			return timestamp, nil
		}
	}
	return 0, errors.New("no v1 signature matches the body")
}

func newSender(t *testing.T, url string, clock *clocktesting.FakeClock, edit ...func(*Config)) *Sender {
	t.Helper()
	cfg := Config{
		URL:        url,
		SigningKey: []byte(signingKey),
		Headers:    map[string]string{"x-api-key": apiKeyValue + "\n"},
		Clock:      clock,
	}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// message is a webhook message as the worker renders it: a payload, and no address, subject or
// text, which a Webhook channel does not send.
func message() *delivery.Message {
	return &delivery.Message{
		ID:      "welcome-series.r1.p-000042.s1",
		Payload: []byte(`{"event":"welcome","name":"山田 太郎","points":120,"note":"㈱キズナ"}`),
		Metadata: delivery.Metadata{
			Namespace: "kizuna-demo", Campaign: "welcome-series", Run: "r1", Step: "s1",
			Variant: "b", ProfileID: "p-000042",
		},
	}
}

func TestSendPostsThePayloadSigned(t *testing.T) {
	clock := clocktesting.NewFakeClock(start)
	rcv := newReceiver(t, clock)
	s := newSender(t, rcv.server.URL+"/hooks/kizuna?tenant=retail", clock)

	m := message()
	receipt, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if receipt.ProviderMessageID != "" {
		t.Errorf("ProviderMessageID = %q, want none", receipt.ProviderMessageID)
	}

	got := rcv.received()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	req := got[0]
	if req.method != http.MethodPost || req.path != "/hooks/kizuna" || req.query != "tenant=retail" {
		t.Errorf("request = %s %s?%s, want POST /hooks/kizuna?tenant=retail", req.method, req.path, req.query)
	}
	if string(req.body) != string(m.Payload) {
		t.Errorf("body = %s, want the payload byte for byte: %s", req.body, m.Payload)
	}
	if req.timestamp != start.Unix() {
		t.Errorf("signature timestamp = %d, want the clock's %d", req.timestamp, start.Unix())
	}
	for name, want := range map[string]string{
		"Idempotency-Key": m.ID,
		"X-Api-Key":       apiKeyValue,
	} {
		if v := req.header.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if ua := req.header.Get("User-Agent"); !strings.HasPrefix(ua, "kizuna/") {
		t.Errorf("User-Agent = %q, want kizuna/<version>", ua)
	}
}

func TestRetryKeepsTheIdempotencyKeyAndSignsAfresh(t *testing.T) {
	clock := clocktesting.NewFakeClock(start)
	rcv := newReceiver(t, clock,
		answer{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "7"}, body: "overloaded"},
		answer{status: http.StatusOK},
	)
	s := newSender(t, rcv.server.URL, clock)
	m := message()

	_, err := s.Send(context.Background(), m)
	f := delivery.Classify(err)
	if f.Kind != delivery.Transient || f.RetryAfter != 7*time.Second || f.Code != "HTTP 503" {
		t.Fatalf("first attempt: %+v, want transient HTTP 503 after 7s", f)
	}
	clock.Step(30 * time.Second)
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}

	got := rcv.received()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	first, second := got[0], got[1]
	if k1, k2 := first.header.Get("Idempotency-Key"), second.header.Get("Idempotency-Key"); k1 != m.ID || k2 != m.ID {
		t.Errorf("Idempotency-Key = %q then %q, want %q both times", k1, k2, m.ID)
	}
	if string(first.body) != string(second.body) {
		t.Errorf("retry body differs:\n%s\n%s", first.body, second.body)
	}
	if second.timestamp != first.timestamp+30 {
		t.Errorf("retry signed at %d, want %d: each attempt carries its own time", second.timestamp, first.timestamp+30)
	}
}

// TestHeadersSecretIsSentOnEveryRequest sends two messages, the first retried, with the headers
// of a headers Secret as a channel's worker reads it (keys in any case, values ending in the
// newline of a file): every request carries each header once, under its canonical name, with its
// value trimmed, next to the sender's own headers.
func TestHeadersSecretIsSentOnEveryRequest(t *testing.T) {
	clock := clocktesting.NewFakeClock(start)
	rcv := newReceiver(t, clock, answer{status: http.StatusServiceUnavailable}, answer{status: http.StatusOK})
	headers := map[string]string{
		"x-api-key":     apiKeyValue + "\n",
		"Authorization": "Bearer receiver-token-77c1",
		"X-Tenant":      "  kizuna-store\t",
	}
	s := newSender(t, rcv.server.URL, clock, func(c *Config) { c.Headers = headers })
	first, second := message(), message()
	second.ID = "welcome-series.r1.p-000043.s1"
	if _, err := s.Send(context.Background(), first); delivery.Classify(err).Kind != delivery.Transient {
		t.Fatalf("first attempt: %v, want a transient failure", err)
	}
	for _, m := range []*delivery.Message{first, second} {
		if _, err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("Send %s: %v", m.ID, err)
		}
	}

	got := rcv.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	want := map[string]string{
		"X-Api-Key":     apiKeyValue,
		"Authorization": "Bearer receiver-token-77c1",
		"X-Tenant":      "kizuna-store",
		"Content-Type":  "application/json",
	}
	for i, req := range got {
		for name, value := range want {
			if v := req.header.Values(name); len(v) != 1 || v[0] != value {
				t.Errorf("request %d: %s = %q, want once %q", i+1, name, v, value)
			}
		}
		if id := req.header.Get("Idempotency-Key"); id != []string{first.ID, first.ID, second.ID}[i] {
			t.Errorf("request %d: Idempotency-Key = %q", i+1, id)
		}
	}
}

func TestAnswersMapToFailures(t *testing.T) {
	tests := []struct {
		name       string
		answer     answer
		kind       delivery.Kind
		code       string
		retryAfter time.Duration
		errHas     string
	}{
		{name: "429 with seconds", answer: answer{status: 429, header: map[string]string{"Retry-After": "120"}},
			kind: delivery.Transient, code: "HTTP 429", retryAfter: 2 * time.Minute},
		{name: "503 with an HTTP date", answer: answer{status: 503, header: map[string]string{"Retry-After": start.Add(90 * time.Second).Format(http.TimeFormat)}},
			kind: delivery.Transient, code: "HTTP 503", retryAfter: 90 * time.Second},
		{name: "500 without Retry-After", answer: answer{status: 500, body: "<html><body>Internal Server Error</body></html>"},
			kind: delivery.Transient, code: "HTTP 500", errHas: "Internal Server Error"},
		{name: "401", answer: answer{status: 401, body: `{"error":"invalid api key"}`},
			kind: delivery.Unauthorized, code: "HTTP 401", errHas: "invalid api key"},
		{name: "403", answer: answer{status: 403}, kind: delivery.Unauthorized, code: "HTTP 403", errHas: "headers Secret"},
		{name: "422", answer: answer{status: 422, body: `{"error":"unknown customer"}`},
			kind: delivery.Permanent, code: "HTTP 422", errHas: "unknown customer"},
		{name: "409 duplicate refused", answer: answer{status: 409}, kind: delivery.Permanent, code: "HTTP 409"},
		{name: "redirect is not followed", answer: answer{status: 302, header: map[string]string{"Location": "https://elsewhere.example/hook"}},
			kind: delivery.Permanent, code: "HTTP 302", errHas: "https://elsewhere.example/hook"},
		{name: "long body is bounded", answer: answer{status: 400, body: strings.Repeat("エラー", 1000)},
			kind: delivery.Permanent, code: "HTTP 400", errHas: "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(start)
			rcv := newReceiver(t, clock, tt.answer)
			s := newSender(t, rcv.server.URL, clock)

			_, err := s.Send(context.Background(), message())
			if err == nil {
				t.Fatal("Send succeeded, want a failure")
			}
			f := delivery.Classify(err)
			if f.Kind != tt.kind || f.Code != tt.code || f.RetryAfter != tt.retryAfter {
				t.Errorf("failure = {%v %q %v}, want {%v %q %v}", f.Kind, f.Code, f.RetryAfter, tt.kind, tt.code, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long, want it bounded", len(err.Error()))
			}
			if n := len(rcv.received()); n != 1 {
				t.Errorf("receiver got %d requests, want exactly 1", n)
			}
		})
	}
}

// TestMessagesThatCannotBePostedFailWithoutARequest: a message without an ID, without a payload
// (a Webhook channel sends nothing else) or with a payload that is not JSON fails for good, with
// an error that says what to fix, and the receiver hears nothing.
func TestMessagesThatCannotBePostedFailWithoutARequest(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*delivery.Message)
		errHas string
	}{
		{"invalid JSON", func(m *delivery.Message) { m.Payload = []byte(`{"name": "山田",}`) }, "fix the campaign's payload template"},
		{"no payload, only a text", func(m *delivery.Message) { m.Payload, m.Text = nil, "ようこそ" },
			"the message has no payload, which a Webhook channel posts as the request's body: set payload in the campaign's template"},
		{"no ID", func(m *delivery.Message) { m.ID = "" }, "the message has no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(start)
			rcv := newReceiver(t, clock)
			s := newSender(t, rcv.server.URL, clock)
			m := message()
			tt.edit(m)
			_, err := s.Send(context.Background(), m)
			if f := delivery.Classify(err); f.Kind != delivery.Permanent || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("Send = %v, want a permanent failure containing %q", err, tt.errHas)
			}
			if n := len(rcv.received()); n != 0 {
				t.Errorf("receiver got %d requests, want none", n)
			}
		})
	}
}

func TestNetworkFailuresAreTransientAndKeepSecretsOut(t *testing.T) {
	clock := clocktesting.NewFakeClock(start)
	secretInURL := "query-token-1b7e"

	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name   string
		url    string
		errHas string
	}{
		{name: "timeout", url: hanging.URL + "/hook?token=" + secretInURL, errHas: "timed out"},
		{name: "refused", url: closedURL + "/hook?token=" + secretInURL, errHas: "no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSender(t, tt.url, clock, func(c *Config) { c.Timeout = 100 * time.Millisecond })
			_, err := s.Send(context.Background(), message())
			if f := delivery.Classify(err); f.Kind != delivery.Transient {
				t.Fatalf("Send = %v, want a transient failure", err)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			for _, secret := range []string{signingKey, apiKeyValue, secretInURL} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a secret", err)
				}
			}
		})
	}
}

func TestUnauthorizedErrorKeepsSecretsOut(t *testing.T) {
	clock := clocktesting.NewFakeClock(start)
	rcv := newReceiver(t, clock, answer{status: 401, body: "bad key"})
	s := newSender(t, rcv.server.URL+"/hook?token=query-token-1b7e", clock)
	_, err := s.Send(context.Background(), message())
	if err == nil {
		t.Fatal("Send succeeded, want 401")
	}
	for _, secret := range []string{signingKey, apiKeyValue, "query-token-1b7e"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q reveals a secret", err)
		}
	}
}

func TestNewRefusesBadConfigurations(t *testing.T) {
	valid := Config{URL: "https://hooks.example.com/kizuna", SigningKey: []byte("k")}
	tests := []struct {
		name   string
		edit   func(*Config)
		errHas string
	}{
		{name: "relative URL", edit: func(c *Config) { c.URL = "/hook" }, errHas: "absolute"},
		{name: "ftp URL", edit: func(c *Config) { c.URL = "ftp://hooks.example.com/" }, errHas: "absolute"},
		{name: "credentials in URL", edit: func(c *Config) { c.URL = "https://user:pw@hooks.example.com/" }, errHas: "credentials"},
		{name: "no signing key", edit: func(c *Config) { c.SigningKey = nil }, errHas: "signing key"},
		{name: "header name with space", edit: func(c *Config) { c.Headers = map[string]string{"X Api Key": "v"} }, errHas: "not an HTTP header name"},
		{name: "header replaces the signature", edit: func(c *Config) { c.Headers = map[string]string{"kizuna-signature": "v"} }, errHas: "would replace"},
		{name: "header replaces the content type", edit: func(c *Config) { c.Headers = map[string]string{"content-type": "text/plain"} }, errHas: "would replace"},
		{name: "header value with a line break", edit: func(c *Config) { c.Headers = map[string]string{"X-Api-Key": "a\r\nX-Evil: 1"} }, errHas: "line break"},
		{name: "header replaces the idempotency key", edit: func(c *Config) { c.Headers = map[string]string{"idempotency-key": "v"} }, errHas: `key "idempotency-key" would replace`},
		{name: "header replaces the host", edit: func(c *Config) { c.Headers = map[string]string{"Host": "evil.example"} }, errHas: `key "Host" would replace`},
		{name: "header replaces the content length", edit: func(c *Config) { c.Headers = map[string]string{"content-length": "0"} }, errHas: `key "content-length" would replace`},
		{name: "hop-by-hop header", edit: func(c *Config) { c.Headers = map[string]string{"Transfer-Encoding": "chunked"} }, errHas: `key "Transfer-Encoding" would replace`},
		{name: "header name with a colon", edit: func(c *Config) { c.Headers = map[string]string{"X-Api-Key:": "v"} }, errHas: `key "X-Api-Key:" is not an HTTP header name`},
		{name: "header value with a control character", edit: func(c *Config) { c.Headers = map[string]string{"X-Api-Key": "a\x7fb"} }, errHas: `key "X-Api-Key" has a line break, NUL or other control character`},
		{name: "header value with a NUL", edit: func(c *Config) { c.Headers = map[string]string{"X-Api-Key": "a\x00b"} }, errHas: `key "X-Api-Key" has a line break, NUL`},
		{name: "one header twice", edit: func(c *Config) { c.Headers = map[string]string{"X-Api-Key": "a", "x-api-key": "b"} }, errHas: `keys "X-Api-Key" and "x-api-key" are the same header`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("New = %v, want an error containing %q", err, tt.errHas)
			}
		})
	}
	if _, err := New(valid); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}
