package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

const (
	twilioAccount = "AC3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6"
	twilioToken   = "twilio-auth-token-8e1d77c2"
	twilioFrom    = "+815012345678"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// twilioAPI is a loopback stand-in for Twilio's Messages resource: it checks each request the
// way the API documents it (path with the account SID, basic auth, a form-encoded body with To,
// From and Body) and answers with Twilio's bodies. The magic numbers are those of Twilio's test
// credentials: +15005550001 is invalid, +15005550004 has unsubscribed, +15005550009 cannot
// receive SMS.
type twilioAPI struct {
	t      *testing.T
	server *httptest.Server

	mu       sync.Mutex
	accepted []url.Values
}

func newTwilioAPI(t *testing.T) *twilioAPI {
	api := &twilioAPI{t: t}
	api.server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.server.Close)
	return api
}

func twilioErrorBody(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

func (api *twilioAPI) serve(w http.ResponseWriter, r *http.Request) {
	wantPath := "/2010-04-01/Accounts/" + twilioAccount + "/Messages.json"
	if r.Method != http.MethodPost || r.URL.Path != wantPath {
		api.t.Errorf("twilio: %s %s, want POST %s", r.Method, r.URL.Path, wantPath)
		twilioErrorBody(w, http.StatusNotFound, 20404, "The requested resource was not found")
		return
	}
	user, password, ok := r.BasicAuth()
	if !ok || user != twilioAccount || password != twilioToken {
		twilioErrorBody(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/x-www-form-urlencoded" {
		api.t.Errorf("twilio: Content-Type %q, want a form", r.Header.Get("Content-Type"))
	}
	raw, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		api.t.Errorf("twilio: body %q is not form-encoded: %v", raw, err)
		return
	}
	for name, values := range form {
		if (name != "To" && name != "From" && name != "Body") || len(values) != 1 {
			api.t.Errorf("twilio: unexpected parameter %s=%q", name, values)
		}
	}
	to, from, body := form.Get("To"), form.Get("From"), form.Get("Body")
	switch {
	case to == "":
		twilioErrorBody(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case body == "":
		twilioErrorBody(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case from != twilioFrom:
		twilioErrorBody(w, http.StatusBadRequest, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from))
		return
	case to == "+15005550001" || !e164.MatchString(to):
		twilioErrorBody(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	case to == "+15005550004":
		twilioErrorBody(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
		return
	case to == "+15005550009":
		twilioErrorBody(w, http.StatusBadRequest, 21614, fmt.Sprintf("'To' number %s is not a valid mobile number", to))
		return
	case to == "+15005550003":
		twilioErrorBody(w, http.StatusBadRequest, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number")
		return
	case to == "+18005550429":
		w.Header().Set("Retry-After", "2")
		twilioErrorBody(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return
	case to == "+18005550503":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
		return
	}

	api.mu.Lock()
	api.accepted = append(api.accepted, form)
	api.mu.Unlock()
	var id [16]byte
	_, _ = rand.Read(id[:])
	sid := "SM" + hex.EncodeToString(id[:])
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"account_sid": twilioAccount, "api_version": "2010-04-01", "body": body,
		"date_created": time.Now().UTC().Format(time.RFC1123Z), "direction": "outbound-api",
		"from": from, "num_segments": "1", "sid": sid, "status": "queued", "to": to,
		"uri": "/2010-04-01/Accounts/" + twilioAccount + "/Messages/" + sid + ".json",
	})
}

func (api *twilioAPI) messages() []url.Values {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]url.Values(nil), api.accepted...)
}

func newTwilioSender(t *testing.T, endpoint string, edit ...func(*Config)) *Sender {
	t.Helper()
	cfg := Config{Provider: Twilio, From: twilioFrom, AccountID: twilioAccount, AuthToken: twilioToken, Endpoint: endpoint}
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

func TestTwilioSendsJapaneseText(t *testing.T) {
	api := newTwilioAPI(t)
	s := newTwilioSender(t, api.server.URL+"/")

	text := "山田様、絆ストアです。ポイントが500pt貯まりました🎉 配信停止: STOP"
	receipt, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: "+819012345678", Text: text})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !regexp.MustCompile(`^SM[0-9a-f]{32}$`).MatchString(receipt.ProviderMessageID) {
		t.Errorf("ProviderMessageID = %q, want the SID Twilio returned", receipt.ProviderMessageID)
	}
	got := api.messages()
	if len(got) != 1 {
		t.Fatalf("Twilio accepted %d messages, want 1", len(got))
	}
	if got[0].Get("Body") != text || got[0].Get("To") != "+819012345678" || got[0].Get("From") != twilioFrom {
		t.Errorf("Twilio got %v, want the text, recipient and sender unchanged", got[0])
	}
}

func TestTwilioErrorsMapToFailures(t *testing.T) {
	tests := []struct {
		name       string
		to         string
		edit       func(*Config)
		kind       delivery.Kind
		hardBounce bool
		code       string
		retryAfter time.Duration
		errHas     string
	}{
		{name: "invalid number", to: "+15005550001", kind: delivery.Permanent, hardBounce: true, code: "HTTP 400 21211", errHas: "not a valid phone number"},
		{name: "not E.164", to: "090-1234-5678", kind: delivery.Permanent, hardBounce: true, code: "HTTP 400 21211"},
		{name: "unsubscribed", to: "+15005550004", kind: delivery.Permanent, hardBounce: true, code: "HTTP 400 21610", errHas: "unsubscribed"},
		{name: "not a mobile", to: "+15005550009", kind: delivery.Permanent, hardBounce: true, code: "HTTP 400 21614"},
		{name: "region not enabled", to: "+15005550003", kind: delivery.Permanent, code: "HTTP 400 21408", errHas: "twilio.com/docs/errors/21408"},
		{name: "wrong sender", to: "+819012345678", edit: func(c *Config) { c.From = "+815099999999" }, kind: delivery.Permanent, code: "HTTP 400 21212"},
		{name: "wrong token", to: "+819012345678", edit: func(c *Config) { c.AuthToken = "wrong-token" }, kind: delivery.Unauthorized, code: "HTTP 401 20003", errHas: "authToken"},
		{name: "throttled", to: "+18005550429", kind: delivery.Transient, code: "HTTP 429 20429", retryAfter: 2 * time.Second},
		{name: "outage with an HTML page", to: "+18005550503", kind: delivery.Transient, code: "HTTP 503", errHas: "503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTwilioAPI(t)
			edits := []func(*Config){}
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			s := newTwilioSender(t, api.server.URL, edits...)
			_, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: tt.to, Text: "こんにちは"})
			if err == nil {
				t.Fatal("Send succeeded, want a failure")
			}
			f := delivery.Classify(err)
			if f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code || f.RetryAfter != tt.retryAfter {
				t.Errorf("failure = {%v bounce=%v %q %v}, want {%v bounce=%v %q %v}",
					f.Kind, f.HardBounce, f.Code, f.RetryAfter, tt.kind, tt.hardBounce, tt.code, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			assertNoSecrets(t, err, twilioToken, twilioAccount, "wrong-token")
		})
	}
}

func TestTwilioNetworkFailureKeepsCredentialsOut(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	endpoint := server.URL
	server.Close()
	s := newTwilioSender(t, endpoint)
	_, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: "+819012345678", Text: "hi"})
	if f := delivery.Classify(err); f.Kind != delivery.Transient {
		t.Fatalf("Send = %v, want a transient failure", err)
	}
	assertNoSecrets(t, err, twilioToken, twilioAccount)
}

// TestTwilioFailureOfOddBodies covers answers the loopback API never gives but a proxy in front
// of Twilio might.
func TestTwilioFailureOfOddBodies(t *testing.T) {
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		body   string
		kind   delivery.Kind
		code   string
	}{
		{name: "empty 502", status: 502, body: "", kind: delivery.Transient, code: "HTTP 502"},
		{name: "JSON without a code", status: 400, body: `{"message":"bad"}`, kind: delivery.Permanent, code: "HTTP 400"},
		{name: "403 with a code", status: 403, body: `{"code":20003,"message":"Permission Denied"}`, kind: delivery.Unauthorized, code: "HTTP 403 20003"},
		{name: "hard bounce code wins over a 5xx", status: 500, body: `{"code":21610,"message":"Attempt to send to unsubscribed recipient"}`, kind: delivery.Permanent, code: "HTTP 500 21610"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := twilioFailure(&httpsend.Response{StatusCode: tt.status, Header: http.Header{}, Body: []byte(tt.body)}, now)
			if f.Kind != tt.kind || f.Code != tt.code {
				t.Errorf("twilioFailure = {%v %q}, want {%v %q}", f.Kind, f.Code, tt.kind, tt.code)
			}
		})
	}
}

func TestNewRefusesIncompleteConfigurations(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		errHas string
	}{
		{name: "unknown provider", cfg: Config{Provider: "Plivo", From: "+81"}, errHas: "Twilio or Vonage"},
		{name: "no sender", cfg: Config{Provider: Twilio, AccountID: "AC1", AuthToken: "t"}, errHas: "from is empty"},
		{name: "Twilio without token", cfg: Config{Provider: Twilio, From: twilioFrom, AccountID: "AC1"}, errHas: "accountID and authToken"},
		{name: "Vonage without secret", cfg: Config{Provider: Vonage, From: "Kizuna", APIKey: "k"}, errHas: "apiKey and apiSecret"},
		{name: "endpoint with credentials", cfg: Config{Provider: Twilio, From: twilioFrom, AccountID: "AC1", AuthToken: "t", Endpoint: "https://AC1:t@api.twilio.com"}, errHas: "credentials"},
		{name: "relative endpoint", cfg: Config{Provider: Vonage, From: "Kizuna", APIKey: "k", APISecret: "s", Endpoint: "rest.nexmo.com"}, errHas: "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("New = %v, want an error containing %q", err, tt.errHas)
			}
		})
	}
}

func TestSendRefusesMessagesWithoutRecipientOrText(t *testing.T) {
	api := newTwilioAPI(t)
	s := newTwilioSender(t, api.server.URL)
	for _, m := range []*delivery.Message{{ID: "m1", Text: "hi"}, {ID: "m2", To: "+819012345678"}} {
		if _, err := s.Send(context.Background(), m); delivery.Classify(err).Kind != delivery.Permanent {
			t.Errorf("Send(%+v) = %v, want a permanent failure", m, err)
		}
	}
	if n := len(api.messages()); n != 0 {
		t.Errorf("Twilio got %d messages, want none", n)
	}
}

func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q reveals a credential", err)
		}
	}
}

// sortedKeys lists a form's parameter names, for messages.
func sortedKeys(form url.Values) []string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
