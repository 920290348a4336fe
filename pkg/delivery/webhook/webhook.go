// Package webhook posts one JSON document per message to a URL the channel names.
//
// Every request is a POST with these headers, plus those of the channel's headersSecretRef:
//
//	Content-Type: application/json
//	Idempotency-Key: <message ID>
//	Kizuna-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The body is the message's payload, the JSON document the campaign's payload template renders,
// byte for byte: the receiver decides its shape, and the template writes it. A message without
// a payload is refused without a request (a Campaign whose Webhook template has none is not
// Ready, so only a campaign run outside the controller can reach the sender with one).
//
// # Verifying a request
//
// The signature proves that the body comes from a holder of the channel's signing key and was
// sent recently. A receiver:
//
//  1. splits Kizuna-Signature at commas into key=value pairs and reads t and v1;
//  2. computes HMAC-SHA256, keyed with the signing key's bytes, over the timestamp's digits, a
//     dot and the raw body exactly as received ("1767225600.{...}"), and hex-encodes it;
//  3. compares the result with v1 in constant time (Go's hmac.Equal), and refuses a mismatch;
//  4. refuses a timestamp more than five minutes from its own clock, so that a captured request
//     cannot be replayed later;
//  5. treats a second request with an Idempotency-Key it has already accepted as a duplicate and
//     answers it with a 2xx without acting again.
//
// Each attempt is signed afresh, with its own timestamp; the Idempotency-Key of the message is
// the same on every attempt, so a retry after a lost answer is recognisable.
//
// # Answers
//
// A 2xx accepts the message. 429 and 5xx are retried later, after the Retry-After the receiver
// gives (seconds or an HTTP date); 401 and 403 stop the run, since every message would be refused
// the same way; any other status fails the message for good. Redirects are not followed. A
// webhook receipt carries no provider message ID.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

// Header names a receiver reads.
const (
	SignatureHeader   = "Kizuna-Signature"
	IdempotencyHeader = "Idempotency-Key"
)

// Config is a webhook channel with its secrets already read.
type Config struct {
	// URL the messages are posted to.
	URL string
	// SigningKey is the HMAC-SHA256 key of the Kizuna-Signature header.
	SigningKey []byte
	// Headers are sent with every request, e.g. an API key the receiver expects.
	Headers map[string]string
	// Timeout bounds one request; zero means 10s.
	Timeout time.Duration
	// Client overrides the HTTP client (tests); nil uses one tuned for the channel.
	Client *http.Client
	// Clock stamps signatures and reads Retry-After dates; nil is the real clock.
	Clock clock.PassiveClock
}

// Sender posts messages to one webhook. It is safe for concurrent use.
type Sender struct {
	url     string
	host    string
	headers http.Header
	timeout time.Duration
	client  *http.Client
	clock   clock.PassiveClock
	// macs reuses keyed HMAC states: keying one hashes the key twice, which is most of the cost
	// of signing a small body.
	macs sync.Pool
}

// reservedHeaders are set by the sender or by HTTP itself (the hop-by-hop headers of RFC 9110
// section 7.6.1); a headers Secret may not replace them.
var reservedHeaders = map[string]bool{
	"Content-Type":      true,
	"Content-Length":    true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"Keep-Alive":        true,
	"Proxy-Connection":  true,
	"Te":                true,
	"Trailer":           true,
	"Upgrade":           true,
	"Host":              true,
	SignatureHeader:     true,
	IdempotencyHeader:   true,
}

// New checks the configuration and returns a Sender.
func New(cfg Config) (*Sender, error) {
	target, err := url.Parse(cfg.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("webhook: url %q must be an absolute http:// or https:// URL", cfg.URL)
	}
	if target.User != nil {
		return nil, errors.New("webhook: url must not contain credentials: put them in the headers Secret")
	}
	if len(cfg.SigningKey) == 0 {
		return nil, errors.New("webhook: the signing key is empty: set the key that signingSecretRef selects")
	}
	headers, err := extraHeaders(cfg.Headers)
	if err != nil {
		return nil, err
	}
	s := &Sender{
		url:     cfg.URL,
		host:    target.Host,
		headers: headers,
		timeout: cfg.Timeout,
		client:  cfg.Client,
		clock:   cfg.Clock,
	}
	s.timeout, s.client, s.clock = httpsend.Defaults(s.timeout, s.client, s.clock)
	key := bytes.Clone(cfg.SigningKey)
	s.macs.New = func() any { return hmac.New(sha256.New, key) }
	return s, nil
}

// extraHeaders checks the headers Secret's entries and canonicalises their names. Values are
// trimmed because a Secret made from files usually ends in a newline, which HTTP forbids. Errors
// name the key, never the value: it is a credential.
func extraHeaders(in map[string]string) (http.Header, error) {
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(http.Header, len(in))
	keyOf := make(map[string]string, len(in))
	for _, name := range names {
		if !validHeaderName(name) {
			return nil, fmt.Errorf("webhook: headers Secret key %q is not an HTTP header name: use letters, digits and -", name)
		}
		canonical := http.CanonicalHeaderKey(name)
		if reservedHeaders[canonical] {
			return nil, fmt.Errorf("webhook: headers Secret key %q would replace a header the sender sets: remove it", name)
		}
		if other, ok := keyOf[canonical]; ok {
			return nil, fmt.Errorf("webhook: headers Secret keys %q and %q are the same header (names are case-insensitive): keep one", other, name)
		}
		keyOf[canonical] = name
		value := strings.TrimSpace(in[name])
		if !validHeaderValue(value) {
			return nil, fmt.Errorf("webhook: headers Secret key %q has a line break, NUL or other control character in its value: remove it", name)
		}
		out[canonical] = []string{value}
	}
	return out, nil
}

// validHeaderValue reports whether value is an RFC 9110 field value: no control characters
// but tab.
func validHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Send posts one message. It returns no provider message ID.
func (s *Sender) Send(ctx context.Context, m *delivery.Message) (delivery.Receipt, error) {
	if m.ID == "" {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent,
			Err: errors.New("webhook: the message has no ID, which its Idempotency-Key needs")}
	}
	body, err := s.body(m)
	if err != nil {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent, Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return delivery.Receipt{}, fmt.Errorf("webhook: build request: %w", err)
	}
	req.Header = make(http.Header, len(s.headers)+4)
	for name, values := range s.headers {
		req.Header[name] = values
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header[IdempotencyHeader] = []string{m.ID}
	req.Header[SignatureHeader] = []string{s.sign(s.clock.Now().Unix(), body)}

	resp, err := httpsend.Do(s.client, req)
	if err != nil {
		return delivery.Receipt{}, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return delivery.Receipt{}, nil
	}
	return delivery.Receipt{}, s.failure(resp)
}

// body is the payload, which must be JSON.
func (s *Sender) body(m *delivery.Message) ([]byte, error) {
	if len(m.Payload) == 0 {
		return nil, errors.New("webhook: the message has no payload, which a Webhook channel posts as the request's body: set payload in the campaign's template")
	}
	if !json.Valid(m.Payload) {
		return nil, errors.New("webhook: the rendered payload is not valid JSON: fix the campaign's payload template")
	}
	return m.Payload, nil
}

// sign returns the Kizuna-Signature value for a body sent at unix time t.
func (s *Sender) sign(t int64, body []byte) string {
	mac := s.macs.Get().(hash.Hash)
	mac.Reset()
	var digits [20]byte
	stamp := strconv.AppendInt(digits[:0], t, 10)
	mac.Write(stamp)
	mac.Write([]byte{'.'})
	mac.Write(body)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	s.macs.Put(mac)

	out := make([]byte, 0, len("t=,v1=")+len(stamp)+hex.EncodedLen(sha256.Size))
	out = append(out, "t="...)
	out = append(out, stamp...)
	out = append(out, ",v1="...)
	out = hex.AppendEncode(out, sum[:])
	return string(out)
}

func (s *Sender) failure(resp *httpsend.Response) *delivery.Failure {
	message := fmt.Sprintf("webhook %s answered %d", s.host, resp.StatusCode)
	if snippet := httpsend.Snippet(resp.Body); snippet != "" {
		message += ": " + snippet
	}
	switch httpsend.KindOf(resp.StatusCode) {
	case delivery.Unauthorized:
		message += " (check the credentials in the channel's headers Secret and the signing key the receiver verifies with)"
	case delivery.Permanent:
		message += " (the receiver refused this message; it is not retried)"
	default:
	}
	return httpsend.Failure(resp, s.clock.Now(), "", message)
}

// Close releases idle connections.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

var _ delivery.Sender = (*Sender)(nil)
