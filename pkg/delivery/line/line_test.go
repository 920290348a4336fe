package line

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

const accessToken = "line-channel-access-token-Qm9vc3Q="

// Users the loopback API knows; any other well-formed ID does not exist.
const (
	userYamada    = "U4af4980629d1b0f1d2c3e4f5a6b7c8d9"
	userRateLimit = "U000000000000000000000000000000a1"
	userMonthly   = "U000000000000000000000000000000a2"
	userLostReply = "U000000000000000000000000000000a3"
	userUnknown   = "Uffffffffffffffffffffffffffffffff"
)

var (
	userIDPattern   = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	retryKeyPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

type lineError struct {
	Message string              `json:"message"`
	Details []map[string]string `json:"details,omitempty"`
}

// push is one push request the loopback API accepted.
type push struct {
	to       string
	messages []map[string]any
	retryKey string
}

// lineAPI is a loopback stand-in for the Messaging API's push endpoint: it checks the method,
// path, bearer token, content type, retry key and body as the API reference documents them,
// runs each retry key once (409 to a repeat, with the sent messages, as LINE does), and answers
// with LINE's error bodies.
type lineAPI struct {
	t      *testing.T
	server *httptest.Server

	mu       sync.Mutex
	requests int
	pushes   []push
	byKey    map[string][]map[string]string
	attempts map[string]int
	nextID   int64
}

func newLineAPI(t *testing.T) *lineAPI {
	api := &lineAPI{t: t, byKey: map[string][]map[string]string{}, attempts: map[string]int{}, nextID: 461230966842064897}
	api.server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.server.Close)
	return api
}

func answer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Line-Request-Id", "3a785346-2cf3-482f-8469-c893117fcef8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (api *lineAPI) serve(w http.ResponseWriter, r *http.Request) {
	api.mu.Lock()
	api.requests++
	api.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v2/bot/message/push" {
		api.t.Errorf("line: %s %s, want POST /v2/bot/message/push", r.Method, r.URL.Path)
		answer(w, http.StatusNotFound, lineError{Message: "Not found"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+accessToken {
		answer(w, http.StatusUnauthorized, lineError{Message: "Authentication failed due to the following reason: invalid token. Confirm that the access token in the authorization header is valid."})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		api.t.Errorf("line: Content-Type %q, want application/json", ct)
		answer(w, http.StatusBadRequest, lineError{Message: fmt.Sprintf("The content type, %s, is not supported", ct)})
		return
	}
	key := r.Header.Get("X-Line-Retry-Key")
	if !retryKeyPattern.MatchString(key) {
		api.t.Errorf("line: X-Line-Retry-Key %q is not a hexadecimal UUID", key)
		answer(w, http.StatusBadRequest, lineError{Message: "The value of the X-Line-Retry-Key header is invalid"})
		return
	}

	var body struct {
		To       string           `json:"to"`
		Messages []map[string]any `json:"messages"`
	}
	decoder := json.NewDecoder(r.Body)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&body); err != nil {
		api.t.Errorf("line: body: %v", err)
		answer(w, http.StatusBadRequest, lineError{Message: "The request body could not be parsed as JSON (line: -, column: -)"})
		return
	}
	if !userIDPattern.MatchString(body.To) {
		answer(w, http.StatusBadRequest, lineError{Message: "The property, 'to', in the request body is invalid (line: -, column: -)"})
		return
	}
	if n := len(body.Messages); n < 1 || n > 5 {
		answer(w, http.StatusBadRequest, lineError{Message: "The request body has 1 error(s)",
			Details: []map[string]string{{"message": "Size must be between 1 and 5", "property": "messages"}}})
		return
	}
	for i, msg := range body.Messages {
		if msg["type"] == "text" {
			text, _ := msg["text"].(string)
			if text == "" || utf8.RuneCountInString(text) > 5000 {
				answer(w, http.StatusBadRequest, lineError{Message: "The request body has 1 error(s)",
					Details: []map[string]string{{"message": "May not be empty", "property": fmt.Sprintf("messages[%d].text", i)}}})
				return
			}
		}
	}

	api.mu.Lock()
	defer api.mu.Unlock()
	api.attempts[key]++
	if sent, ok := api.byKey[key]; ok {
		w.Header().Set("X-Line-Accepted-Request-Id", "123e4567-e89b-12d3-a456-426655440001")
		answer(w, http.StatusConflict, map[string]any{"message": "The retry key is already accepted", "sentMessages": sent})
		return
	}
	switch body.To {
	case userRateLimit:
		answer(w, http.StatusTooManyRequests, lineError{Message: "The API rate limit has been exceeded. Try again later."})
		return
	case userMonthly:
		answer(w, http.StatusTooManyRequests, lineError{Message: "You have reached your monthly limit."})
		return
	case userYamada, userLostReply:
	default:
		answer(w, http.StatusBadRequest, lineError{Message: "Failed to send messages"})
		return
	}

	sent := make([]map[string]string, len(body.Messages))
	for i := range sent {
		api.nextID++
		sent[i] = map[string]string{"id": fmt.Sprint(api.nextID), "quoteToken": "IStG5h1Tz7b..."}
	}
	api.byKey[key] = sent
	api.pushes = append(api.pushes, push{to: body.To, messages: body.Messages, retryKey: key})
	if body.To == userLostReply && api.attempts[key] == 1 {
		// The push went out but the answer is lost on the way back, as in a timeout.
		answer(w, http.StatusInternalServerError, lineError{Message: "An error occurred in the server"})
		return
	}
	answer(w, http.StatusOK, map[string]any{"sentMessages": sent})
}

func (api *lineAPI) accepted() []push {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]push(nil), api.pushes...)
}

func newSender(t *testing.T, endpoint, token string) *Sender {
	t.Helper()
	s, err := New(Config{ChannelAccessToken: token, Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPushSendsJapaneseText(t *testing.T) {
	api := newLineAPI(t)
	s := newSender(t, api.server.URL, accessToken+"\n")

	m := &delivery.Message{ID: "birthday.r7.p-000042.s1", To: userYamada, Text: "山田様、お誕生日おめでとうございます🎂 絆ストア"}
	receipt, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := api.accepted()
	if len(got) != 1 {
		t.Fatalf("LINE accepted %d pushes, want 1", len(got))
	}
	want := []map[string]any{{"type": "text", "text": m.Text}}
	if fmt.Sprint(got[0].messages) != fmt.Sprint(want) || got[0].to != userYamada {
		t.Errorf("push = %+v, want one text message to %s: %v", got[0], userYamada, want)
	}
	if got[0].retryKey != RetryKey(m.ID) {
		t.Errorf("retry key = %q, want RetryKey(ID) = %q", got[0].retryKey, RetryKey(m.ID))
	}
	if receipt.ProviderMessageID != "461230966842064898" {
		t.Errorf("ProviderMessageID = %q, want sentMessages[0].id", receipt.ProviderMessageID)
	}
}

func TestPushSendsPayloadMessages(t *testing.T) {
	flex := `{"type":"flex","altText":"ご注文ありがとうございます","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"ご注文番号 A-123"}]}}}`
	tests := []struct {
		name    string
		payload string
		want    int
	}{
		{name: "one Flex message", payload: "\n" + flex + "\n", want: 1},
		{name: "an array of messages", payload: `[` + flex + `, {"type":"sticker","packageId":"446","stickerId":"1988"}]`, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newLineAPI(t)
			s := newSender(t, api.server.URL, accessToken)
			m := &delivery.Message{ID: "order.r1.p-1.s1", To: userYamada, Text: "ignored when a payload is set", Payload: []byte(tt.payload)}
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := api.accepted()[0].messages
			if len(got) != tt.want {
				t.Fatalf("LINE got %d messages, want %d", len(got), tt.want)
			}
			var wantFirst map[string]any
			if err := json.Unmarshal([]byte(flex), &wantFirst); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got[0]) != fmt.Sprint(wantFirst) {
				t.Errorf("first message = %v, want the Flex message %v", got[0], wantFirst)
			}
		})
	}
}

func TestRetryAfterALostAnswerIsNotSentTwice(t *testing.T) {
	api := newLineAPI(t)
	s := newSender(t, api.server.URL, accessToken)
	m := &delivery.Message{ID: "winback.r2.p-7.s1", To: userLostReply, Text: "お久しぶりです"}

	_, err := s.Send(context.Background(), m)
	if f := delivery.Classify(err); err == nil || f.Kind != delivery.Transient {
		t.Fatalf("first attempt = %v, want a transient failure", err)
	}
	receipt, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("retry = %v, want success: LINE answered 409 to an accepted key", err)
	}
	got := api.accepted()
	if len(got) != 1 {
		t.Fatalf("LINE sent %d pushes, want exactly 1", len(got))
	}
	if receipt.ProviderMessageID != "461230966842064898" {
		t.Errorf("ProviderMessageID = %q, want the first push's message ID from the 409", receipt.ProviderMessageID)
	}
	api.mu.Lock()
	attempts := api.attempts[RetryKey(m.ID)]
	api.mu.Unlock()
	if attempts != 2 {
		t.Errorf("%d requests carried the message's retry key, want both attempts", attempts)
	}
}

func TestPushFailures(t *testing.T) {
	tests := []struct {
		name       string
		token      string
		m          delivery.Message
		kind       delivery.Kind
		hardBounce bool
		code       string
		errHas     string
		requests   int
	}{
		{name: "user does not exist", m: delivery.Message{To: userUnknown, Text: "hi"},
			kind: delivery.Permanent, hardBounce: true, code: "HTTP 400", errHas: "Failed to send messages", requests: 1},
		{name: "malformed user ID", m: delivery.Message{To: "yamada@example.com", Text: "hi"},
			kind: delivery.Permanent, hardBounce: true, code: "HTTP 400", errHas: "'to'", requests: 1},
		{name: "invalid message", m: delivery.Message{To: userYamada, Payload: []byte(`{"type":"text","text":""}`)},
			kind: delivery.Permanent, code: "HTTP 400", errHas: "messages[0].text: May not be empty", requests: 1},
		{name: "rate limited", m: delivery.Message{To: userRateLimit, Text: "hi"},
			kind: delivery.Transient, code: "HTTP 429", errHas: "rate limit", requests: 1},
		{name: "monthly allowance used", m: delivery.Message{To: userMonthly, Text: "hi"},
			kind: delivery.Unauthorized, code: "HTTP 429", errHas: "allowance", requests: 1},
		{name: "wrong token", token: "revoked-token-771", m: delivery.Message{To: userYamada, Text: "hi"},
			kind: delivery.Unauthorized, code: "HTTP 401", errHas: "channel access token", requests: 1},
		{name: "payload is not JSON", m: delivery.Message{To: userYamada, Payload: []byte(`{"type":`)},
			kind: delivery.Permanent, errHas: "payload template"},
		{name: "too many payload messages", m: delivery.Message{To: userYamada, Payload: []byte(`[{},{},{},{},{},{}]`)},
			kind: delivery.Permanent, errHas: "1 to 5"},
		{name: "payload array of strings", m: delivery.Message{To: userYamada, Payload: []byte(`["hi"]`)},
			kind: delivery.Permanent, errHas: "not an object"},
		{name: "nothing to send", m: delivery.Message{To: userYamada}, kind: delivery.Permanent, errHas: "neither text nor payload"},
		{name: "no recipient", m: delivery.Message{Text: "hi"}, kind: delivery.Permanent, errHas: "no LINE user ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newLineAPI(t)
			token := accessToken
			if tt.token != "" {
				token = tt.token
			}
			s := newSender(t, api.server.URL, token)
			m := tt.m
			m.ID = "campaign.r1.p-1.s1"
			_, err := s.Send(context.Background(), &m)
			if err == nil {
				t.Fatal("Send succeeded, want a failure")
			}
			f := delivery.Classify(err)
			if f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code || f.RetryAfter != 0 {
				t.Errorf("failure = {%v bounce=%v %q %v}, want {%v bounce=%v %q 0s}", f.Kind, f.HardBounce, f.Code, f.RetryAfter, tt.kind, tt.hardBounce, tt.code)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			for _, secret := range []string{accessToken, "revoked-token-771"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals the access token", err)
				}
			}
			api.mu.Lock()
			requests := api.requests
			api.mu.Unlock()
			if requests != tt.requests {
				t.Errorf("LINE got %d requests, want %d", requests, tt.requests)
			}
		})
	}
}

func TestRetryKey(t *testing.T) {
	a, again, b := RetryKey("welcome.r1.p-1.s1"), RetryKey("welcome.r1.p-1.s1"), RetryKey("welcome.r1.p-2.s1")
	if a != again {
		t.Errorf("RetryKey is not stable: %s, %s", a, again)
	}
	if a == b {
		t.Errorf("two messages share the retry key %s", a)
	}
	for _, key := range []string{a, b, RetryKey("")} {
		if !retryKeyPattern.MatchString(key) {
			t.Errorf("RetryKey = %q, want a version 5 UUID", key)
		}
	}
}

// TestUUIDv5 checks the construction against the example of RFC 9562, Appendix A.4.
func TestUUIDv5(t *testing.T) {
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got, want := uuidV5(dns, "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2"; got != want {
		t.Errorf("uuidV5(DNS, www.example.com) = %s, want %s", got, want)
	}
}

func TestNewRefusesAnEmptyTokenOrBadEndpoint(t *testing.T) {
	if _, err := New(Config{ChannelAccessToken: " \n"}); err == nil || !strings.Contains(err.Error(), "access token is empty") {
		t.Errorf("New(empty token) = %v", err)
	}
	_, err := New(Config{ChannelAccessToken: accessToken, Endpoint: "https://" + accessToken + "@api.line.me"})
	if err == nil || bytes.Contains([]byte(err.Error()), []byte(accessToken)) {
		t.Errorf("New(endpoint with credentials) = %v, want an error that does not repeat them", err)
	}
}
