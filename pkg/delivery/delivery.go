// Package delivery sends rendered messages through providers: SMTP, webhooks, SMS, LINE and
// push. Each provider is a Sender; the campaign worker decides who receives what and records
// every outcome in the store's ledger, so a Sender only sends one message and says how it went.
//
// A Sender's error says what the worker should do next (see Failure): retry later, give up on
// this recipient, or stop the whole run because the credentials are wrong.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one rendered message to one recipient.
type Message struct {
	// ID is stable for (campaign, run, profile, step): it is the email's Message-ID local part,
	// the webhook's idempotency key, and the retry key of providers that take one, so a retry
	// of the same ledger row is recognisably the same message.
	ID string

	// To is the recipient's address on the channel: an email address, an E.164 phone number, a
	// LINE user ID or an FCM registration token. Webhooks, which address a system rather than a
	// person, may leave it empty.
	To string

	// Subject of an email, or the title of a push notification.
	Subject string
	// Text is the plain-text body: an email's text part, or an SMS, LINE or push text.
	Text string
	// HTML is an email's HTML part.
	HTML string
	// Payload is a webhook's JSON body, or a LINE message object; empty when unused.
	Payload []byte

	// UnsubscribeURL is the recipient's signed one-click unsubscribe link: emails carry it in
	// List-Unsubscribe with List-Unsubscribe-Post (RFC 8058).
	UnsubscribeURL string

	// Metadata identifies the message to receivers that want it (webhook bodies, SMTP headers):
	// campaign, run, step, variant and profile.
	Metadata Metadata
}

// Metadata says which campaign and recipient a message belongs to.
type Metadata struct {
	Namespace string `json:"namespace"`
	Campaign  string `json:"campaign"`
	Run       string `json:"run"`
	Step      string `json:"step"`
	Variant   string `json:"variant,omitempty"`
	ProfileID string `json:"profileID"`
}

// Receipt is what a provider said when it accepted a message.
type Receipt struct {
	// ProviderMessageID is the provider's own ID of the message (an SMTP queue ID, a Twilio SID,
	// an FCM message name), kept in the ledger to match bounces and support requests.
	ProviderMessageID string
}

// Sender sends messages through one provider. Implementations are safe for concurrent use and
// reuse connections; Close releases them.
type Sender interface {
	Send(ctx context.Context, m *Message) (Receipt, error)
	Close() error
}

// Stager is a Sender that can send a message but for the step that makes the provider accept
// it: SMTP's final dot. A caller that records each accepted message before the next one may be
// accepted overlaps the record with sending the next message, and commits it once the record is
// durable, so that a crash still leaves at most one accepted message unrecorded per connection.
type Stager interface {
	Stage(ctx context.Context, m *Message) (Staged, error)
}

// Staged is a message a Stager sent but for its last step. Exactly one of Commit and Abandon
// must be called: Commit has the provider accept it, Abandon drops it unaccepted. Both free the
// connection it holds.
type Staged interface {
	Commit(ctx context.Context) (Receipt, error)
	Abandon()
}

// Kind says what a failed send means for the ledger row and the run.
type Kind int

const (
	// Transient failures (SMTP 4xx, HTTP 429 and 5xx, timeouts, refused connections) are
	// retried with backoff, up to the run's limit.
	Transient Kind = iota
	// Permanent failures (SMTP 5xx on a recipient, HTTP 4xx) fail the row for good.
	Permanent
	// Unauthorized failures (SMTP 535, HTTP 401 and 403) mean the channel's credentials are
	// wrong: every other recipient would fail the same way, so the run stops at once.
	Unauthorized
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Unauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Failure is a Sender's error with what it means.
type Failure struct {
	Kind Kind
	// HardBounce marks a permanent failure that says the address does not exist (SMTP 550 5.1.1,
	// a LINE user who blocked the account, an unregistered FCM token): the address is suppressed.
	HardBounce bool
	// RetryAfter is how long the provider asked the sender to wait (HTTP Retry-After); zero
	// leaves the backoff to the worker.
	RetryAfter time.Duration
	// Code is the provider's status (e.g. "451 4.7.1", "HTTP 429"), kept in the ledger.
	Code string
	Err  error
}

func (f *Failure) Error() string {
	if f.Code != "" {
		return fmt.Sprintf("%s failure (%s): %v", f.Kind, f.Code, f.Err)
	}
	return fmt.Sprintf("%s failure: %v", f.Kind, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Classify returns the Failure an error carries. An error that is not a Failure (a broken
// connection, a timeout, a context deadline) is transient: the message may not have been sent,
// and the ledger's retry is the safe answer.
func Classify(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Kind: Transient, Err: err}
}
