// Package line pushes messages to LINE users through the Messaging API's push endpoint
// (POST /v2/bot/message/push) with a channel access token.
//
// Each request carries an X-Line-Retry-Key derived from the message ID, the same on every
// attempt: LINE executes a push once per key and answers 409 to a retry of an accepted one,
// which the sender reports as a success, so a retry after a lost answer never reaches the user
// twice.
//
// LINE answers 200 even when the user has blocked the account, so blocked users cannot be told
// apart; a user ID that does not exist gets 400 "Failed to send messages", a hard bounce.
package line

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

const baseURL = "https://api.line.me"

// maxMessages is how many message objects one push may carry.
const maxMessages = 5

// Config is a LINE channel with its access token already read from the channel's Secret.
type Config struct {
	// ChannelAccessToken is the Messaging API channel access token.
	ChannelAccessToken string
	// Endpoint overrides https://api.line.me (tests).
	Endpoint string
	// Timeout bounds one request; zero means 10s.
	Timeout time.Duration
	// Client overrides the HTTP client (tests); nil uses one tuned for the channel.
	Client *http.Client
	// Clock reads Retry-After dates; nil is the real clock.
	Clock clock.PassiveClock
}

// Sender pushes messages through one LINE Official Account. It is safe for concurrent use.
type Sender struct {
	url           string
	authorization string
	timeout       time.Duration
	client        *http.Client
	clock         clock.PassiveClock
}

// New checks the configuration and returns a Sender.
func New(cfg Config) (*Sender, error) {
	token := strings.TrimSpace(cfg.ChannelAccessToken)
	if token == "" {
		return nil, errors.New("line: the channel access token is empty: set the key that channelAccessTokenSecretRef selects")
	}
	base := baseURL
	if cfg.Endpoint != "" {
		var err error
		if base, err = httpsend.ValidateEndpoint(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("line: %w", err)
		}
	}
	s := &Sender{
		url:           base + "/v2/bot/message/push",
		authorization: "Bearer " + token,
		timeout:       cfg.Timeout,
		client:        cfg.Client,
		clock:         cfg.Clock,
	}
	s.timeout, s.client, s.clock = httpsend.Defaults(s.timeout, s.client, s.clock)
	return s, nil
}

// pushRequest is the push endpoint's body.
type pushRequest struct {
	To       string            `json:"to"`
	Messages []json.RawMessage `json:"messages"`
}

type textMessage struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// pushAnswer is the body of a 200, and of the 409 to a retry of an accepted push.
type pushAnswer struct {
	Message      string `json:"message"`
	SentMessages []struct {
		ID string `json:"id"`
	} `json:"sentMessages"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

// Send pushes m to the LINE user m.To: the payload when the campaign renders one (a message
// object such as a Flex message, or an array of up to five), else a text message of m.Text. The
// receipt holds the ID of the first message LINE sent.
func (s *Sender) Send(ctx context.Context, m *delivery.Message) (delivery.Receipt, error) {
	body, err := requestBody(m)
	if err != nil {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent, Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return delivery.Receipt{}, fmt.Errorf("line: build request: %w", err)
	}
	req.Header.Set("Authorization", s.authorization)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Line-Retry-Key", RetryKey(m.ID))

	resp, err := httpsend.Do(s.client, req)
	if err != nil {
		return delivery.Receipt{}, err
	}
	var answer pushAnswer
	_ = json.Unmarshal(resp.Body, &answer)
	// A 409 answers a retry whose key LINE has already accepted: the message went out.
	if (resp.StatusCode >= 200 && resp.StatusCode < 300) || resp.StatusCode == http.StatusConflict {
		var receipt delivery.Receipt
		if len(answer.SentMessages) > 0 {
			receipt.ProviderMessageID = answer.SentMessages[0].ID
		}
		return receipt, nil
	}
	return delivery.Receipt{}, failure(resp, answer, s.clock.Now())
}

func requestBody(m *delivery.Message) ([]byte, error) {
	if m.ID == "" {
		return nil, errors.New("line: the message has no ID, which its retry key needs")
	}
	if m.To == "" {
		return nil, errors.New("line: the recipient has no LINE user ID")
	}
	push := pushRequest{To: m.To}
	payload := bytes.TrimSpace(m.Payload)
	switch {
	case len(payload) > 0:
		messages, err := payloadMessages(payload)
		if err != nil {
			return nil, err
		}
		push.Messages = messages
	case m.Text != "":
		text, err := json.Marshal(textMessage{Type: "text", Text: m.Text})
		if err != nil {
			return nil, fmt.Errorf("line: encode the text: %w", err)
		}
		push.Messages = []json.RawMessage{text}
	default:
		return nil, errors.New("line: the message has neither text nor payload: give the campaign step a text or payload template")
	}
	body, err := json.Marshal(push)
	if err != nil {
		return nil, fmt.Errorf("line: encode the push: %w", err)
	}
	return body, nil
}

// payloadMessages reads a rendered payload: one message object, or an array of them.
func payloadMessages(payload []byte) ([]json.RawMessage, error) {
	const fix = "fix the campaign's payload template"
	if payload[0] == '{' {
		if !json.Valid(payload) {
			return nil, fmt.Errorf("line: the payload is not valid JSON: %s", fix)
		}
		return []json.RawMessage{payload}, nil
	}
	var messages []json.RawMessage
	if err := json.Unmarshal(payload, &messages); err != nil {
		return nil, fmt.Errorf("line: the payload is neither a message object nor an array of them: %s: %w", fix, err)
	}
	if len(messages) == 0 || len(messages) > maxMessages {
		return nil, fmt.Errorf("line: the payload has %d messages; a push carries 1 to %d: %s", len(messages), maxMessages, fix)
	}
	for i, msg := range messages {
		if t := bytes.TrimSpace(msg); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("line: payload message %d is not an object: %s", i, fix)
		}
	}
	return messages, nil
}

// failure maps an error answer. LINE's 429 means either the rate limit (retry) or the month's
// message allowance (every further push fails until the plan changes or the month ends, so the
// run stops, as for rejected credentials).
func failure(resp *httpsend.Response, answer pushAnswer, now time.Time) *delivery.Failure {
	detail := answer.Message
	if detail == "" {
		detail = httpsend.Snippet(resp.Body)
	}
	for _, d := range answer.Details {
		detail += "; " + d.Property + ": " + d.Message
	}
	message := fmt.Sprintf("line: LINE answered %d: %s", resp.StatusCode, httpsend.Bound(detail))
	hardBounce := false
	kind := httpsend.KindOf(resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusBadRequest && unknownRecipient(answer):
		hardBounce = true
		message += " (the LINE user ID does not exist for this channel's provider)"
	case resp.StatusCode == http.StatusTooManyRequests && strings.Contains(strings.ToLower(answer.Message), "monthly limit"):
		kind = delivery.Unauthorized
		message += " (the LINE Official Account has used this month's message allowance: raise it in LINE Official Account Manager)"
	case kind == delivery.Unauthorized:
		message += " (check the channel access token in the channel's Secret and that the account's plan allows push messages)"
	}
	f := httpsend.Failure(resp, now, "", message)
	f.Kind, f.HardBounce = kind, hardBounce
	if kind != delivery.Transient {
		f.RetryAfter = 0
	}
	return f
}

// unknownRecipient reports whether a 400 is about the recipient: "Failed to send messages" is
// what LINE answers for a user ID that does not exist, and a malformed ID is refused as an
// invalid "to" property.
func unknownRecipient(answer pushAnswer) bool {
	if answer.Message == "Failed to send messages" || strings.Contains(answer.Message, "'to'") {
		return true
	}
	for _, d := range answer.Details {
		if d.Property == "to" {
			return true
		}
	}
	return false
}

// retryKeyNamespace is the UUID namespace of Kizuna's retry keys; changing it would make every
// retry of a message in flight look new to LINE.
var retryKeyNamespace = [16]byte{
	0x6b, 0x69, 0x7a, 0x75, 0x6e, 0x61, 0x4c, 0x49, 0x8e, 0x45, 0x72, 0x65, 0x74, 0x72, 0x79, 0x31,
}

// RetryKey is the X-Line-Retry-Key of a message: a version 5 UUID (RFC 9562) of its ID, so that
// every attempt at the same message carries the same key and different messages never share one.
func RetryKey(messageID string) string {
	return uuidV5(retryKeyNamespace, messageID)
}

func uuidV5(namespace [16]byte, name string) string {
	// Version 5 is defined with SHA-1; here it names a message, it does not protect anything.
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 9562 variant

	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}

// Close releases idle connections.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

var _ delivery.Sender = (*Sender)(nil)
