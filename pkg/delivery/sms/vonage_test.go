package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

const (
	vonageKey    = "a1b2c3d4"
	vonageSecret = "vonage-secret-9Zx7"
	vonageFrom   = "Kizuna"
)

var digitsOnly = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)

// vonageAPI is a loopback stand-in for Vonage's SMS API (POST /sms/json). It checks the
// parameters as documented (credentials among them, numbers without "+", type=unicode for text
// outside the GSM alphabet) and answers 200 with a status per message part, as Vonage does, even
// for bad credentials. Recipients 81900000NNN answer with status NNN.
type vonageAPI struct {
	t      *testing.T
	server *httptest.Server

	mu       sync.Mutex
	accepted []url.Values
	next     int
}

func newVonageAPI(t *testing.T) *vonageAPI {
	api := &vonageAPI{t: t}
	api.server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.server.Close)
	return api
}

// vonageErrorTexts are the error-text values Vonage sends with a status.
var vonageErrorTexts = map[string]string{
	"1":  "Throughput Rate Exceeded - please wait [ 1000 ] and retry",
	"4":  "Bad Credentials",
	"5":  "Internal Error",
	"6":  "Unroutable message - rejected",
	"7":  "Number barred.",
	"9":  "Quota Exceeded - rejected",
	"33": "Number de-activated.",
}

func (api *vonageAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/sms/json" {
		api.t.Errorf("vonage: %s %s, want POST /sms/json", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/x-www-form-urlencoded" {
		api.t.Errorf("vonage: Content-Type %q, want a form", r.Header.Get("Content-Type"))
	}
	if r.URL.RawQuery != "" {
		api.t.Errorf("vonage: query %q: credentials belong in the body, not the URL", r.URL.RawQuery)
	}
	raw, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		api.t.Errorf("vonage: body %q is not form-encoded: %v", raw, err)
		return
	}
	for name, values := range form {
		switch name {
		case "api_key", "api_secret", "from", "to", "text", "type":
		default:
			api.t.Errorf("vonage: unexpected parameter %s in %v", name, sortedKeys(form))
		}
		if len(values) != 1 {
			api.t.Errorf("vonage: parameter %s given %d times", name, len(values))
		}
	}
	to, text, typ := form.Get("to"), form.Get("text"), form.Get("type")
	if !digitsOnly.MatchString(to) {
		api.t.Errorf("vonage: to = %q, want E.164 digits without +", to)
	}
	if from := form.Get("from"); from != vonageFrom {
		api.t.Errorf("vonage: from = %q, want %q", from, vonageFrom)
	}
	// Beyond Latin and Greek (and €), nothing fits the GSM alphabet.
	needsUnicode := false
	for _, r := range text {
		if r > 0x3ff && r != '€' {
			needsUnicode = true
		}
	}
	if needsUnicode && typ != "unicode" {
		api.t.Errorf("vonage: text %q sent with type %q: it would arrive garbled", text, typ)
	}

	status := "0"
	switch {
	case form.Get("api_key") != vonageKey || form.Get("api_secret") != vonageSecret:
		status = "4"
	case strings.HasPrefix(to, "81900000"):
		status = strings.TrimLeft(strings.TrimPrefix(to, "81900000"), "0")
	}
	w.Header().Set("Content-Type", "application/json")
	if status != "0" {
		_ = json.NewEncoder(w).Encode(map[string]any{"message-count": "1", "messages": []map[string]string{
			{"status": status, "error-text": vonageErrorTexts[status]},
		}})
		return
	}

	api.mu.Lock()
	api.accepted = append(api.accepted, form)
	// Unicode parts carry 67 characters once the text needs more than one part.
	parts := 1
	if n := utf8.RuneCountInString(text); typ == "unicode" && n > 70 {
		parts = (n + 66) / 67
	}
	messages := make([]map[string]string, parts)
	for i := range messages {
		api.next++
		messages[i] = map[string]string{
			"to": to, "message-id": fmt.Sprintf("0A00000012%06X", api.next), "status": "0",
			"remaining-balance": "3.14159265", "message-price": "0.07080000", "network": "44010",
		}
	}
	api.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"message-count": fmt.Sprint(parts), "messages": messages})
}

func (api *vonageAPI) messages() []url.Values {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]url.Values(nil), api.accepted...)
}

func newVonageSender(t *testing.T, endpoint string, edit ...func(*Config)) *Sender {
	t.Helper()
	cfg := Config{Provider: Vonage, From: vonageFrom, APIKey: vonageKey, APISecret: vonageSecret, Endpoint: endpoint}
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

func TestVonageSendsJapaneseAsUnicode(t *testing.T) {
	api := newVonageAPI(t)
	s := newVonageSender(t, api.server.URL)

	text := "山田様、お誕生日おめでとうございます。絆ストアより特別クーポンをお届けします。"
	receipt, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: "+819012345678", Text: text})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if receipt.ProviderMessageID != "0A00000012000001" {
		t.Errorf("ProviderMessageID = %q, want the message-id Vonage returned", receipt.ProviderMessageID)
	}
	got := api.messages()[0]
	if got.Get("text") != text || got.Get("type") != "unicode" || got.Get("to") != "819012345678" {
		t.Errorf("Vonage got %v, want the Japanese text as unicode to 819012345678", got)
	}
}

func TestVonageSendsGSMTextWithoutType(t *testing.T) {
	api := newVonageAPI(t)
	s := newVonageSender(t, api.server.URL)
	if _, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: "+447700900000", Text: "Your code is 1234 [valid 10 min] ~ 5€"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := api.messages()[0]; got.Has("type") {
		t.Errorf("type = %q, want the default text type for a GSM-only text", got.Get("type"))
	}
}

func TestVonageLongTextReportsTheFirstPart(t *testing.T) {
	api := newVonageAPI(t)
	s := newVonageSender(t, api.server.URL)
	receipt, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: "+819012345678", Text: strings.Repeat("絆", 150)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if receipt.ProviderMessageID != "0A00000012000001" {
		t.Errorf("ProviderMessageID = %q, want the first part's ID", receipt.ProviderMessageID)
	}
}

func TestVonageStatusesMapToFailures(t *testing.T) {
	tests := []struct {
		name       string
		to         string
		edit       func(*Config)
		kind       delivery.Kind
		hardBounce bool
		code       string
		errHas     string
	}{
		{name: "throttled", to: "+81900000001", kind: delivery.Transient, code: "status 1", errHas: "Throughput Rate Exceeded"},
		{name: "internal error", to: "+81900000005", kind: delivery.Transient, code: "status 5"},
		{name: "bad credentials", to: "+819012345678", edit: func(c *Config) { c.APISecret = "wrong-secret" }, kind: delivery.Unauthorized, code: "status 4", errHas: "apiKey and apiSecret"},
		{name: "no credit", to: "+81900000009", kind: delivery.Unauthorized, code: "status 9", errHas: "top it up"},
		{name: "unroutable", to: "+81900000006", kind: delivery.Permanent, code: "status 6", errHas: "Unroutable"},
		{name: "number barred", to: "+81900000007", kind: delivery.Permanent, hardBounce: true, code: "status 7"},
		{name: "number de-activated", to: "+81900000033", kind: delivery.Permanent, hardBounce: true, code: "status 33"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newVonageAPI(t)
			var edits []func(*Config)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			s := newVonageSender(t, api.server.URL, edits...)
			_, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: tt.to, Text: "こんにちは"})
			if err == nil {
				t.Fatal("Send succeeded, want a failure")
			}
			f := delivery.Classify(err)
			if f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code {
				t.Errorf("failure = {%v bounce=%v %q}, want {%v bounce=%v %q}", f.Kind, f.HardBounce, f.Code, tt.kind, tt.hardBounce, tt.code)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			assertNoSecrets(t, err, vonageSecret, "wrong-secret", vonageKey)
		})
	}
}

func TestVonageHTTPErrorsAndUnreadableAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   delivery.Kind
		code   string
	}{
		{name: "gateway outage", status: 502, body: "<html>Bad Gateway</html>", kind: delivery.Transient, code: "HTTP 502"},
		{name: "200 without statuses", status: 200, body: `{"message-count":"0"}`, kind: delivery.Permanent, code: "HTTP 200"},
		{name: "200 that is not JSON", status: 200, body: "OK", kind: delivery.Permanent, code: "HTTP 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(server.Close)
			s := newVonageSender(t, server.URL)
			_, err := s.Send(context.Background(), &delivery.Message{ID: "m1", To: "+819012345678", Text: "hi"})
			f := delivery.Classify(err)
			if err == nil || f.Kind != tt.kind || f.Code != tt.code {
				t.Errorf("Send = %v, want {%v %q}", err, tt.kind, tt.code)
			}
		})
	}
}

func TestIsGSM7(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"Your code is 1234", true},
		{"Price: 10€ [sale] {today} ~50% off | ^_^ \\o/", true},
		{"Grüße aus Köln! ¿Qué tal? Ærø", true},
		{"ça va", false},
		{"line one\nline two\r\n", true},
		{"こんにちは", false},
		{"ｶﾀｶﾅ", false},
		{"emoji 😀", false},
		{"back`tick", false},
		{"tab\there", false},
		{"ê circumflex", false},
	}
	for _, tt := range tests {
		if got := isGSM7(tt.text); got != tt.want {
			t.Errorf("isGSM7(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
