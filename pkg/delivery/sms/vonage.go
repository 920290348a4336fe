package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/httpsend"
)

const vonageBaseURL = "https://rest.nexmo.com"

// vonage speaks Vonage's SMS API: a form-encoded POST to /sms/json with the API key and secret
// among the parameters. Numbers go without their leading "+".
type vonage struct {
	url, from      string
	apiKey, secret string
}

func newVonage(cfg Config) (*vonage, error) {
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, errors.New("sms: Vonage needs the keys apiKey and apiSecret in the channel's credentials Secret")
	}
	base, err := endpoint(cfg.Endpoint, vonageBaseURL)
	if err != nil {
		return nil, err
	}
	return &vonage{
		url:    base + "/sms/json",
		from:   strings.TrimPrefix(cfg.From, "+"),
		apiKey: cfg.APIKey,
		secret: cfg.APISecret,
	}, nil
}

func (v *vonage) request(ctx context.Context, m *delivery.Message) (*http.Request, error) {
	form := url.Values{
		"api_key":    {v.apiKey},
		"api_secret": {v.secret},
		"from":       {v.from},
		"to":         {strings.TrimPrefix(m.To, "+")},
		"text":       {m.Text},
	}
	// The default type, text, encodes in the GSM 7-bit alphabet: Japanese and most other
	// scripts would arrive as question marks.
	if !isGSM7(m.Text) {
		form.Set("type", "unicode")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("sms: build Vonage request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// vonageAnswer is the SMS API's answer: one entry per part of a long message.
type vonageAnswer struct {
	Messages []struct {
		Status    string `json:"status"`
		MessageID string `json:"message-id"`
		ErrorText string `json:"error-text"`
	} `json:"messages"`
}

func (v *vonage) outcome(resp *httpsend.Response, now time.Time) (delivery.Receipt, error) {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return delivery.Receipt{}, httpsend.Failure(resp, now, "",
			fmt.Sprintf("sms: Vonage answered %d: %s", resp.StatusCode, httpsend.Snippet(resp.Body)))
	}
	var answer vonageAnswer
	if err := json.Unmarshal(resp.Body, &answer); err != nil || len(answer.Messages) == 0 {
		// A 200 that does not say what happened may have sent the message; retrying could send it
		// twice, so the message fails for good and the body is kept for a person to read.
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent, Code: "HTTP 200",
			Err: fmt.Errorf("sms: Vonage answered 200 without message statuses: %s", httpsend.Snippet(resp.Body))}
	}
	// A long text is sent as several parts, each with its own status and ID; the first failed
	// part decides the outcome, and the first part's ID identifies the message.
	for _, part := range answer.Messages {
		if part.Status != "0" {
			return delivery.Receipt{}, vonageFailure(part.Status, part.ErrorText)
		}
	}
	return delivery.Receipt{ProviderMessageID: answer.Messages[0].MessageID}, nil
}

// vonageStatus is what one of the SMS API's status codes means.
type vonageStatus struct {
	kind       delivery.Kind
	hardBounce bool
	hint       string
}

// vonageStatuses maps the SMS API's non-zero status codes; codes not listed fail the message for
// good. Hard bounces are 7 (number barred) and 33 (number de-activated): both say the number
// will not receive messages. Codes that every other message would meet too (credentials, a
// barred or empty account) stop the run.
var vonageStatuses = map[string]vonageStatus{
	"1":  {kind: delivery.Transient, hint: "throttled: sending faster than the account allows"},
	"5":  {kind: delivery.Transient, hint: "internal error at Vonage"},
	"10": {kind: delivery.Transient, hint: "too many connections for the account"},
	"4":  {kind: delivery.Unauthorized, hint: "check apiKey and apiSecret in the channel's credentials Secret"},
	"8":  {kind: delivery.Unauthorized, hint: "the Vonage account is barred: contact Vonage support"},
	"9":  {kind: delivery.Unauthorized, hint: "the Vonage account has no credit left: top it up"},
	"11": {kind: delivery.Unauthorized, hint: "the Vonage account is not enabled for the SMS REST API"},
	"14": {kind: delivery.Unauthorized, hint: "the account requires signed requests: disable signing or use the API secret"},
	"7":  {kind: delivery.Permanent, hardBounce: true, hint: "the number is barred"},
	"33": {kind: delivery.Permanent, hardBounce: true, hint: "the number is de-activated"},
	"15": {kind: delivery.Permanent, hint: "the sender address is not allowed: check spec.sms.from"},
	"29": {kind: delivery.Permanent, hint: "the destination is not on the trial account's allow list"},
}

// vonageFailure maps one message's non-zero status.
func vonageFailure(status, errorText string) *delivery.Failure {
	meaning, known := vonageStatuses[status]
	if !known {
		meaning = vonageStatus{kind: delivery.Permanent}
	}
	message := fmt.Sprintf("sms: Vonage refused the message: status %s", httpsend.Bound(status))
	if errorText != "" {
		message += ", " + httpsend.Bound(errorText)
	}
	if meaning.hint != "" {
		message += " (" + meaning.hint + ")"
	}
	return &delivery.Failure{
		Kind:       meaning.kind,
		HardBounce: meaning.hardBounce,
		Code:       "status " + httpsend.Bound(status),
		Err:        errors.New(message),
	}
}

// gsm7 holds the characters of the GSM 03.38 default alphabet and its extension table, which a
// text-type SMS can carry.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" +
	"\f^{}\\[~]|€"

// isGSM7 reports whether text can be sent without the unicode type.
func isGSM7(text string) bool {
	for _, r := range text {
		printableASCII := r >= 0x20 && r < 0x7f && r != '`'
		if !printableASCII && !strings.ContainsRune(gsm7, r) {
			return false
		}
	}
	return true
}
