// Package sms sends text messages through Twilio's Programmable Messaging API or Vonage's SMS
// API, one HTTP request per message.
//
// Twilio answers an HTTP error status with a JSON body carrying its own error code; Vonage
// answers 200 to nearly everything and reports each message's fate in a status field. Both are
// mapped onto delivery.Failure: throttling and outages are transient, rejected credentials or an
// account that cannot send stop the run, and a number that does not exist, is barred or has
// unsubscribed is a hard bounce that suppresses the address.
package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

// Provider is an SMS API; the values are those of the Channel's spec.sms.provider.
type Provider string

const (
	Twilio Provider = "Twilio"
	Vonage Provider = "Vonage"
)

// Config is an SMS channel with its credentials already read from the channel's Secret.
type Config struct {
	Provider Provider
	// From is the sender: an E.164 number (+81...) or an alphanumeric sender ID.
	From string

	// AccountID and AuthToken are a Twilio account's SID and auth token (the Secret's accountID
	// and authToken keys).
	AccountID string
	AuthToken string

	// APIKey and APISecret are a Vonage account's (the Secret's apiKey and apiSecret keys).
	APIKey    string
	APISecret string

	// Endpoint overrides the provider's base URL; empty uses https://api.twilio.com or
	// https://rest.nexmo.com.
	Endpoint string
	// Timeout bounds one request; zero means 10s.
	Timeout time.Duration
	// Client overrides the HTTP client (tests); nil uses one tuned for the channel.
	Client *http.Client
	// Clock reads Retry-After dates; nil is the real clock.
	Clock clock.PassiveClock
}

// api is one provider's request format and answers.
type api interface {
	request(ctx context.Context, m *delivery.Message) (*http.Request, error)
	outcome(resp *httpsend.Response, now time.Time) (delivery.Receipt, error)
}

// Sender sends text messages through one provider account. It is safe for concurrent use.
type Sender struct {
	api     api
	timeout time.Duration
	client  *http.Client
	clock   clock.PassiveClock
}

// New checks the configuration and returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.From == "" {
		return nil, errors.New("sms: from is empty: set spec.sms.from to a number in E.164 or a sender ID")
	}
	var (
		a   api
		err error
	)
	switch cfg.Provider {
	case Twilio:
		a, err = newTwilio(cfg)
	case Vonage:
		a, err = newVonage(cfg)
	default:
		return nil, fmt.Errorf("sms: provider %q is not supported: use Twilio or Vonage", cfg.Provider)
	}
	if err != nil {
		return nil, err
	}
	s := &Sender{api: a, timeout: cfg.Timeout, client: cfg.Client, clock: cfg.Clock}
	s.timeout, s.client, s.clock = httpsend.Defaults(s.timeout, s.client, s.clock)
	return s, nil
}

// endpoint returns the base URL: the default, or the channel's override checked.
func endpoint(override, fallback string) (string, error) {
	if override == "" {
		return fallback, nil
	}
	base, err := httpsend.ValidateEndpoint(override)
	if err != nil {
		return "", fmt.Errorf("sms: %w", err)
	}
	return base, nil
}

// Send sends one text message to m.To, an E.164 number. The receipt holds the provider's
// message ID (a Twilio SID, a Vonage message-id).
func (s *Sender) Send(ctx context.Context, m *delivery.Message) (delivery.Receipt, error) {
	if m.To == "" {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent,
			Err: errors.New("sms: the recipient has no phone number")}
	}
	if m.Text == "" {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent,
			Err: errors.New("sms: the rendered text is empty: give the campaign step a text template")}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := s.api.request(ctx, m)
	if err != nil {
		return delivery.Receipt{}, err
	}
	resp, err := httpsend.Do(s.client, req)
	if err != nil {
		return delivery.Receipt{}, err
	}
	return s.api.outcome(resp, s.clock.Now())
}

// Close releases idle connections.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

var _ delivery.Sender = (*Sender)(nil)
