package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

// classify turns a failed send into what the worker does next.
//
//   - 530, 534 and 535 (authentication required, too weak, rejected) are Unauthorized wherever they
//     come, and so is any other 5xx to AUTH: no message can go out with these credentials.
//   - 5xx to the greeting, EHLO or STARTTLS, a certificate the machine does not trust, a server that
//     lacks STARTTLS or AUTH, and TLS spoken to a plain-text port are Unauthorized too: the server
//     refuses the channel as configured, every recipient would fail the same way, and the run must
//     stop and say what to fix rather than retry or fail each row.
//   - Any other 4xx is Transient, keeping its code.
//   - 5xx to RCPT TO is Permanent; it is a hard bounce when the address does not exist (hardBounce).
//   - 5xx to MAIL FROM, DATA or the message is Permanent without a hard bounce: the message or its
//     sender was refused, not the address.
//   - Everything else (refused or dropped connections, timeouts, a reply that never came) is
//     Transient: the message may not have been sent.
func classify(err error) *delivery.Failure {
	st := stageConnect
	var se *stageError
	if errors.As(err, &se) {
		st = se.stage
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return classifyReply(st, reply, err)
	}
	var ref *refusal
	if errors.As(err, &ref) {
		return &delivery.Failure{Kind: delivery.Unauthorized, Err: err}
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return &delivery.Failure{Kind: delivery.Unauthorized, Err: fmt.Errorf("%w: the server's certificate is not trusted: "+
			"check that spec.smtp.host is the name on the certificate and that a public authority issued it", err)}
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return &delivery.Failure{Kind: delivery.Unauthorized, Err: fmt.Errorf("%w: the server does not speak TLS on this port: "+
			"set spec.smtp.tls to STARTTLS, or the port to the server's implicit-TLS port (usually 465)", err)}
	}
	return &delivery.Failure{Kind: delivery.Transient, Err: err}
}

func classifyReply(st stage, reply *textproto.Error, err error) *delivery.Failure {
	enhanced := enhancedCode(reply)
	f := &delivery.Failure{Code: replyCode(reply.Code, enhanced), Err: err}
	switch {
	case reply.Code == 530:
		f.Kind = delivery.Unauthorized
		f.Err = fmt.Errorf("%w: the server requires authentication first: set spec.smtp.authSecretRef, and spec.smtp.tls if it asks for STARTTLS", err)
	case reply.Code == 534 || reply.Code == 535 || (st == stageAuth && reply.Code >= 500):
		f.Kind = delivery.Unauthorized
		f.Err = fmt.Errorf("%w: the server rejected the credentials: check the username and password in the Secret of spec.smtp.authSecretRef", err)
	case reply.Code >= 400 && reply.Code < 500:
		f.Kind = delivery.Transient
	case reply.Code >= 500 && reply.Code < 600 && st == stageConnect:
		f.Kind = delivery.Unauthorized
		f.Err = fmt.Errorf("%w: the server refuses this client: check spec.smtp.host and port, and that the server accepts mail from this cluster", err)
	case reply.Code >= 500 && reply.Code < 600:
		f.Kind = delivery.Permanent
		f.HardBounce = st == stageRcpt && hardBounce(reply.Code, enhanced)
	default:
		// A reply outside 4xx and 5xx where another was expected: the server is confused, and
		// another connection later may fare better.
		f.Kind = delivery.Transient
	}
	return f
}

// hardBounce says whether a 5xx reply to RCPT TO means the address does not exist, so that the
// address is suppressed. An enhanced status code decides when the server sent one (RFC 3463):
// class 5.1 (addressing: 5.1.1 no such mailbox, 5.1.2 no such domain, 5.1.3 bad syntax, 5.1.6
// moved, 5.1.10 null MX) is a hard bounce, and 5.7.x (policy, spam), 5.2.x (mailbox full or
// disabled) and the others are not, because the same address may accept mail later or from
// another sender. Without one, the basic code decides: 550 (mailbox unavailable), 551 (user not
// local) and 553 (mailbox name not allowed) are RFC 5321's replies for an unknown recipient.
func hardBounce(code int, enhanced string) bool {
	if enhanced != "" {
		return strings.HasPrefix(enhanced, "5.1.")
	}
	return code == 550 || code == 551 || code == 553
}

// enhancedStatus matches an RFC 3463 status code at the start of a reply's text.
var enhancedStatus = regexp.MustCompile(`^([245])\.\d{1,3}\.\d{1,3}\b`)

// enhancedCode returns the reply's enhanced status code, or "" when it has none or one whose class
// contradicts the basic code.
func enhancedCode(reply *textproto.Error) string {
	m := enhancedStatus.FindStringSubmatch(reply.Msg)
	if m == nil || m[1] != strconv.Itoa(reply.Code/100) {
		return ""
	}
	return m[0]
}

// replyCode is the status the ledger keeps: "451 4.7.1", or "550" without an enhanced code.
func replyCode(code int, enhanced string) string {
	if enhanced == "" {
		return strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + enhanced
}

// queueIDs match the queue ID in a reply to the final dot: Postfix and Mailpit say
// "2.0.0 Ok: queued as 4ABC12", Exim says "OK id=1rABCD-000123-4x".
var queueIDs = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\bqueued as\s+([^\s;,()<>]+)`),
	regexp.MustCompile(`(?i)\bid=([^\s;,()<>]+)`),
}

// queueID returns the queue ID the server's reply names, or "" when it names none in a form
// these servers use.
func queueID(reply string) string {
	for _, re := range queueIDs {
		if m := re.FindStringSubmatch(reply); m != nil {
			return m[1]
		}
	}
	return ""
}
