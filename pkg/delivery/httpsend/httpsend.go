// Package httpsend holds what the HTTP senders (webhook, SMS, LINE, push) share: a client that
// keeps connections open across concurrent sends, one request with a bounded read of its answer,
// and the mapping of HTTP statuses and Retry-After to a delivery.Failure.
package httpsend

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/utils/clock"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/version"
)

// DefaultTimeout bounds one request when a channel sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxBody bounds how much of an answer is read: providers answer with a few hundred bytes of
// JSON, so anything longer is not worth the memory.
const maxBody = 64 << 10

// maxDrain bounds how much of an over-long answer is discarded so that its connection can be
// reused; past it, closing the connection is cheaper.
const maxDrain = 256 << 10

// maxDetail bounds a provider's message kept in a Failure, which ends up in the ledger.
const maxDetail = 300

// userAgent identifies Kizuna to providers.
var userAgent = "kizuna/" + version.Version

// Defaults fills in what a sender's configuration left empty: DefaultTimeout, a client of
// NewClient and the real clock.
func Defaults(timeout time.Duration, client *http.Client, clk clock.PassiveClock) (time.Duration, *http.Client, clock.PassiveClock) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if client == nil {
		client = NewClient()
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return timeout, client, clk
}

// NewClient returns a client for one channel. It keeps up to 64 idle connections to the
// provider, so concurrent senders reuse them instead of paying a handshake per message, and it
// follows no redirect: a redirected POST may be replayed as a GET or carry its signature and
// credentials to another host, so a 3xx fails the message and names the new location instead.
func NewClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 64
	transport.MaxIdleConnsPerHost = 64
	transport.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ValidateEndpoint checks a provider base URL from a Channel and returns it without a trailing
// slash, ready for paths to be appended. It refuses credentials in the URL, which would end up
// in logs.
func ValidateEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint %q is not a URL: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("endpoint %q must be an absolute http:// or https:// URL", endpoint)
	}
	if u.User != nil {
		return "", errors.New("endpoint must not contain credentials: put them in the channel's Secret")
	}
	return strings.TrimRight(endpoint, "/"), nil
}

// Response is a provider's answer, read whole (up to 64 KiB).
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends req and reads its answer. The caller bounds the request with req's context. A request
// that got no answer (refused, reset, timed out) returns a transient Failure whose message names
// only the method and host: URLs may carry account IDs and tokens.
func Do(client *http.Client, req *http.Request) (*Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, networkFailure(req, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, networkFailure(req, err)
	}
	// Reading the rest lets the transport put the connection back in its pool.
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func networkFailure(req *http.Request, err error) *delivery.Failure {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	kind := "no answer"
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		kind = "timed out"
	}
	return &delivery.Failure{
		Kind: delivery.Transient,
		Err:  fmt.Errorf("%s %s: %s: %w", req.Method, req.URL.Host, kind, err),
	}
}

// KindOf says what an HTTP status means for a message: 429 and 5xx are worth retrying, 401 and
// 403 mean the channel's credentials are wrong, and anything else (4xx, an unexpected 1xx or
// 3xx) fails the message for good. Callers handle 2xx before asking.
func KindOf(status int) delivery.Kind {
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		return delivery.Transient
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return delivery.Unauthorized
	default:
		return delivery.Permanent
	}
}

// maxRetryAfter caps a provider's Retry-After: a run should not park a message for days because
// of one header.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date (RFC 9110 §10.2.3), as a
// wait from now, at most a day. A missing, malformed or past value is zero, which leaves the wait
// to the worker.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var wait time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		wait = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil && at.After(now) {
		wait = at.Sub(now)
	}
	return min(wait, maxRetryAfter)
}

// Failure is the failure an unsuccessful answer means: its Kind from the status, RetryAfter for
// transient ones, Code "HTTP <status>" followed by the provider's own code when it gave one, and
// an error saying what the provider answered and what to do.
func Failure(resp *Response, now time.Time, providerCode, message string) *delivery.Failure {
	f := &delivery.Failure{
		Kind: KindOf(resp.StatusCode),
		Code: "HTTP " + strconv.Itoa(resp.StatusCode),
		Err:  errors.New(message),
	}
	if providerCode != "" {
		f.Code += " " + Bound(providerCode)
	}
	if f.Kind == delivery.Transient {
		f.RetryAfter = RetryAfter(resp.Header, now)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if location := resp.Header.Get("Location"); location != "" {
			f.Err = fmt.Errorf("%s; redirected to %s: point the channel at that URL", message, Bound(location))
		}
	}
	return f
}

// Bound shortens a provider's text to a few hundred bytes of valid UTF-8 on one line, so an
// HTML error page or a long explanation cannot flood the ledger.
func Bound(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Snippet is Bound for an answer's body, for providers whose error bodies have no structure.
func Snippet(body []byte) string {
	return Bound(string(bytes.ToValidUTF8(body, []byte("?"))))
}
