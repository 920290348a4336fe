// Package push sends mobile push notifications through Firebase Cloud Messaging's HTTP v1 API
// (POST /v1/projects/{project}/messages:send), one request per registration token.
//
// Requests are authorised with an OAuth 2.0 access token that the sender obtains from Google
// with the channel's service-account key (the JWT bearer flow, scope firebase.messaging). The
// token is cached and refreshed shortly before it expires, so a run asks Google for one token
// per hour rather than one per message.
package push

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"k8s.io/utils/clock"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

const (
	baseURL = "https://fcm.googleapis.com"
	// scope is the OAuth 2.0 scope FCM's HTTP v1 API requires.
	scope = "https://www.googleapis.com/auth/firebase.messaging"
)

// Config is a push channel with its service-account key already read from the channel's Secret.
type Config struct {
	// ProjectID of the Firebase project the apps belong to.
	ProjectID string
	// ServiceAccountKey is a Google service-account JSON key allowed to send messages. Its
	// token_uri is where access tokens are requested.
	ServiceAccountKey []byte
	// Endpoint overrides https://fcm.googleapis.com (tests).
	Endpoint string
	// Timeout bounds one request, to FCM or for a token; zero means 10s.
	Timeout time.Duration
	// Client overrides the HTTP client (tests); nil uses one tuned for the channel. Token
	// requests use its transport too.
	Client *http.Client
	// Clock reads Retry-After dates; nil is the real clock.
	Clock clock.PassiveClock
}

// Sender sends notifications to the apps of one Firebase project. It is safe for concurrent use.
type Sender struct {
	url     string
	tokens  oauth2.TokenSource
	timeout time.Duration
	client  *http.Client
	clock   clock.PassiveClock
}

// New reads the service-account key and returns a Sender. It asks Google for no token yet.
func New(cfg Config) (*Sender, error) {
	if cfg.ProjectID == "" {
		return nil, errors.New("push: the Firebase project ID is empty: set spec.push.projectID")
	}
	jwtConfig, err := google.JWTConfigFromJSON(cfg.ServiceAccountKey, scope)
	if err != nil {
		return nil, fmt.Errorf("push: the service-account key cannot be used (%w): put a Google service-account JSON key in the Secret that serviceAccountSecretRef selects", err)
	}
	if jwtConfig.Email == "" {
		return nil, errors.New("push: the service-account key has no client_email: download a new JSON key for the service account")
	}
	if err := checkPrivateKey(jwtConfig.PrivateKey); err != nil {
		return nil, fmt.Errorf("push: the service-account key's private_key %w: download a new JSON key for the service account", err)
	}
	base := baseURL
	if cfg.Endpoint != "" {
		if base, err = httpsend.ValidateEndpoint(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
	}
	s := &Sender{
		url:     base + "/v1/projects/" + url.PathEscape(cfg.ProjectID) + "/messages:send",
		timeout: cfg.Timeout,
		client:  cfg.Client,
		clock:   cfg.Clock,
	}
	s.timeout, s.client, s.clock = httpsend.Defaults(s.timeout, s.client, s.clock)
	// The token source keeps this context for every refresh, so it must outlive any one Send;
	// the client's timeout bounds each token request instead.
	tokenClient := &http.Client{Transport: s.client.Transport, CheckRedirect: s.client.CheckRedirect, Timeout: s.timeout}
	s.tokens = jwtConfig.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, tokenClient))
	return s, nil
}

// checkPrivateKey parses the key the way the token source will, so that a broken key fails the
// channel's set-up instead of every message. Its errors never quote the key.
func checkPrivateKey(key []byte) error {
	block, _ := pem.Decode(key)
	if block == nil {
		return errors.New("is not a PEM block")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	return errors.New("is not an RSA private key in PKCS #8 or PKCS #1")
}

type sendRequest struct {
	Message message `json:"message"`
}

type message struct {
	Token        string            `json:"token"`
	Notification *notification     `json:"notification,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
}

type notification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

// Send sends a notification titled m.Subject with body m.Text to the registration token m.To.
// Its data carries the message ID and the metadata, for the app to report opens. The receipt
// holds FCM's message name.
func (s *Sender) Send(ctx context.Context, m *delivery.Message) (delivery.Receipt, error) {
	body, err := requestBody(m)
	if err != nil {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent, Err: err}
	}
	token, err := s.tokens.Token()
	if err != nil {
		return delivery.Receipt{}, tokenFailure(err, s.clock.Now())
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return delivery.Receipt{}, fmt.Errorf("push: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token.AccessToken)
	req.Header.Set("Content-Type", "application/json")

	resp, err := httpsend.Do(s.client, req)
	if err != nil {
		return delivery.Receipt{}, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// FCM has accepted the message even if its answer cannot be read.
		var sent struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(resp.Body, &sent)
		return delivery.Receipt{ProviderMessageID: sent.Name}, nil
	}
	return delivery.Receipt{}, fcmFailure(resp, s.clock.Now())
}

func requestBody(m *delivery.Message) ([]byte, error) {
	if m.To == "" {
		return nil, errors.New("push: the recipient has no registration token")
	}
	if m.Subject == "" && m.Text == "" {
		return nil, errors.New("push: the notification has neither title nor text: give the campaign step a subject or text template")
	}
	msg := message{
		Token:        m.To,
		Notification: &notification{Title: m.Subject, Body: m.Text},
		Data:         data(m),
	}
	body, err := json.Marshal(sendRequest{Message: msg})
	if err != nil {
		return nil, fmt.Errorf("push: encode the message: %w", err)
	}
	return body, nil
}

// data is the message's data payload: FCM takes string values only, and refuses keys such as
// "from" or ones starting with "google", which these names avoid.
func data(m *delivery.Message) map[string]string {
	d := make(map[string]string, 7)
	set := func(key, value string) {
		if value != "" {
			d[key] = value
		}
	}
	set("messageID", m.ID)
	set("namespace", m.Metadata.Namespace)
	set("campaign", m.Metadata.Campaign)
	set("run", m.Metadata.Run)
	set("step", m.Metadata.Step)
	set("variant", m.Metadata.Variant)
	set("profileID", m.Metadata.ProfileID)
	return d
}

// fcmError is the error body of Google APIs, with FCM's details.
type fcmError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

const fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

// fcmFailure maps an error answer by FCM's error code (the FcmError detail, else the status):
// a token the app no longer holds is a hard bounce, rejected credentials stop the run, and
// quota and outages are retried after the Retry-After FCM asks for.
func fcmFailure(resp *httpsend.Response, now time.Time) *delivery.Failure {
	var body fcmError
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.Error.Status == "" {
		return httpsend.Failure(resp, now, "", fmt.Sprintf("push: FCM answered %d: %s", resp.StatusCode, httpsend.Snippet(resp.Body)))
	}
	code := body.Error.Status
	badToken := false
	for _, d := range body.Error.Details {
		if d.Type == fcmErrorType && d.ErrorCode != "" {
			code = d.ErrorCode
		}
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" {
				badToken = true
			}
		}
	}
	// FCM reports a malformed token in the message alone, without a field violation.
	badToken = badToken || strings.Contains(body.Error.Message, "registration token")

	f := httpsend.Failure(resp, now, code, fmt.Sprintf("push: FCM answered %d %s: %s", resp.StatusCode, code, httpsend.Bound(body.Error.Message)))
	hint := ""
	switch code {
	case "UNREGISTERED":
		f.Kind, f.HardBounce = delivery.Permanent, true
		hint = "the app was uninstalled or the token expired"
	case "INVALID_ARGUMENT":
		f.Kind, f.HardBounce = delivery.Permanent, badToken
		if badToken {
			hint = "the registration token is malformed"
		}
	case "SENDER_ID_MISMATCH":
		f.Kind = delivery.Unauthorized
		hint = "the token belongs to an app of another Firebase project: check spec.push.projectID and the service-account key"
	case "THIRD_PARTY_AUTH_ERROR":
		f.Kind = delivery.Unauthorized
		hint = "APNs or Web Push rejected the project's credentials: check them in the Firebase console"
	case "QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL":
		f.Kind = delivery.Transient
	}
	if f.Kind == delivery.Unauthorized && hint == "" {
		hint = "check the service-account key in the channel's Secret and that it may send messages for the project"
	}
	if hint != "" {
		f.Err = fmt.Errorf("%w (%s)", f.Err, hint)
	}
	if f.Kind == delivery.Transient {
		f.RetryAfter = httpsend.RetryAfter(resp.Header, now)
	} else {
		f.RetryAfter = 0
	}
	return f
}

// tokenFailure maps a failure to get an access token. Google refusing the key (a disabled or
// deleted key, a bad signature) stops the run; its outages and no answer at all are transient.
func tokenFailure(err error, now time.Time) *delivery.Failure {
	var refused *oauth2.RetrieveError
	if !errors.As(err, &refused) || refused.Response == nil {
		return &delivery.Failure{Kind: delivery.Transient, Err: fmt.Errorf("push: get an access token: %w", err)}
	}
	status := refused.Response.StatusCode
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	detail := httpsend.Snippet(refused.Body)
	if json.Unmarshal(refused.Body, &body) == nil && body.Error != "" {
		detail = httpsend.Bound(body.Error + ": " + body.Description)
	}
	f := &delivery.Failure{
		Kind: delivery.Unauthorized,
		Code: "token HTTP " + strconv.Itoa(status),
		Err: fmt.Errorf("push: Google refused an access token for the service-account key (%s): check that the key in the channel's Secret is current and not disabled",
			detail),
	}
	if body.Error != "" {
		f.Code += " " + httpsend.Bound(body.Error)
	}
	if httpsend.KindOf(status) == delivery.Transient {
		f.Kind = delivery.Transient
		f.RetryAfter = httpsend.RetryAfter(refused.Response.Header, now)
		f.Err = fmt.Errorf("push: Google's token endpoint answered %d: %s", status, detail)
	}
	return f
}

// Close releases idle connections.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

var _ delivery.Sender = (*Sender)(nil)
