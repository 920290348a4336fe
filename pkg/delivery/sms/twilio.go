package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

const twilioBaseURL = "https://api.twilio.com"

// twilio speaks the Messages resource of Twilio's REST API: a form-encoded POST to
// /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP basic auth.
type twilio struct {
	url, from        string
	accountID, token string
}

func newTwilio(cfg Config) (*twilio, error) {
	if cfg.AccountID == "" || cfg.AuthToken == "" {
		return nil, errors.New("sms: Twilio needs the keys accountID and authToken in the channel's credentials Secret")
	}
	base, err := endpoint(cfg.Endpoint, twilioBaseURL)
	if err != nil {
		return nil, err
	}
	return &twilio{
		url:       base + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountID) + "/Messages.json",
		from:      cfg.From,
		accountID: cfg.AccountID,
		token:     cfg.AuthToken,
	}, nil
}

func (t *twilio) request(ctx context.Context, m *delivery.Message) (*http.Request, error) {
	form := url.Values{"To": {m.To}, "From": {t.from}, "Body": {m.Text}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("sms: build Twilio request: %w", err)
	}
	req.SetBasicAuth(t.accountID, t.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// twilioMessage is the part of a Message resource the sender keeps.
type twilioMessage struct {
	SID string `json:"sid"`
}

// twilioError is Twilio's error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

func (t *twilio) outcome(resp *httpsend.Response, now time.Time) (delivery.Receipt, error) {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Twilio has accepted the message even if its answer cannot be read: reporting a failure
		// would make the worker send it again.
		var msg twilioMessage
		_ = json.Unmarshal(resp.Body, &msg)
		return delivery.Receipt{ProviderMessageID: msg.SID}, nil
	}
	return delivery.Receipt{}, twilioFailure(resp, now)
}

// twilioHardBounces are the error codes that say the recipient's number cannot receive SMS.
var twilioHardBounces = map[int]string{
	21211: "the number is not a valid phone number",
	21610: "the recipient has unsubscribed (replied STOP) from this sender",
	21614: "the number is not a mobile number that can receive SMS",
	21635: "the number is a landline",
}

// twilioFailure maps an error answer: the HTTP status decides the kind, and the error codes of
// numbers that cannot receive SMS make a permanent failure a hard bounce.
func twilioFailure(resp *httpsend.Response, now time.Time) *delivery.Failure {
	var body twilioError
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.Code == 0 {
		return httpsend.Failure(resp, now, "", fmt.Sprintf("sms: Twilio answered %d: %s", resp.StatusCode, httpsend.Snippet(resp.Body)))
	}
	code := strconv.Itoa(body.Code)
	message := fmt.Sprintf("sms: Twilio refused the message: %d %s", body.Code, httpsend.Bound(body.Message))
	reason, hardBounce := twilioHardBounces[body.Code]
	switch {
	case hardBounce:
		message += " (" + reason + ")"
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		message += " (check accountID and authToken in the channel's credentials Secret)"
	case body.MoreInfo != "":
		message += " (see " + httpsend.Bound(body.MoreInfo) + ")"
	}
	f := httpsend.Failure(resp, now, code, message)
	if hardBounce {
		f.Kind, f.HardBounce = delivery.Permanent, true
	}
	return f
}
