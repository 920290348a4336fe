package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

func reply(st stage, code int, msg string) error {
	return &stageError{st, &textproto.Error{Code: code, Msg: msg}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		kind       delivery.Kind
		hardBounce bool
		code       string
		hint       string
	}{
		{"greylisted recipient", reply(stageRcpt, 451, "4.7.1 Greylisted, try again later"), delivery.Transient, false, "451 4.7.1", ""},
		{"mailbox full, for now", reply(stageRcpt, 452, "4.2.2 Mailbox full"), delivery.Transient, false, "452 4.2.2", ""},
		{"unknown user", reply(stageRcpt, 550, "5.1.1 <a@example.jp>: Recipient address rejected: User unknown"), delivery.Permanent, true, "550 5.1.1", ""},
		{"domain with a null MX", reply(stageRcpt, 556, "5.1.10 Recipient address has null MX"), delivery.Permanent, true, "556 5.1.10", ""},
		{"550 without an enhanced code", reply(stageRcpt, 550, "Chaos recipient error"), delivery.Permanent, true, "550", ""},
		{"user not local", reply(stageRcpt, 551, "User not local"), delivery.Permanent, true, "551", ""},
		{"mailbox name not allowed", reply(stageRcpt, 553, "Mailbox name not allowed"), delivery.Permanent, true, "553", ""},
		{"policy rejection of a recipient", reply(stageRcpt, 550, "5.7.1 Message rejected as spam"), delivery.Permanent, false, "550 5.7.1", ""},
		{"mailbox disabled", reply(stageRcpt, 550, "5.2.1 Mailbox disabled"), delivery.Permanent, false, "550 5.2.1", ""},
		{"552 without an enhanced code", reply(stageRcpt, 552, "Requested mail action aborted"), delivery.Permanent, false, "552", ""},
		{"enhanced class contradicting the reply", reply(stageRcpt, 550, "4.1.1 odd"), delivery.Permanent, true, "550", ""},
		{"sender refused", reply(stageMail, 553, "5.7.1 Sender address rejected: not owned by user"), delivery.Permanent, false, "553 5.7.1", ""},
		{"content refused at DATA", reply(stageData, 554, "5.5.1 No valid recipients"), delivery.Permanent, false, "554 5.5.1", ""},
		{"content refused after the dot", reply(stageReply, 550, "5.7.1 Spam detected"), delivery.Permanent, false, "550 5.7.1", ""},
		{"message too big", reply(stageReply, 552, "5.3.4 Message size exceeds fixed limit"), delivery.Permanent, false, "552 5.3.4", ""},
		{"queue full after the dot", reply(stageReply, 452, "4.3.1 Insufficient system storage"), delivery.Transient, false, "452 4.3.1", ""},
		{"wrong password", reply(stageAuth, 535, "5.7.8 Authentication credentials invalid"), delivery.Unauthorized, false, "535 5.7.8", "spec.smtp.authSecretRef"},
		{"app password required", reply(stageAuth, 534, "5.7.9 Application-specific password required"), delivery.Unauthorized, false, "534 5.7.9", "spec.smtp.authSecretRef"},
		{"mechanism refused", reply(stageAuth, 504, "5.5.4 Unrecognized authentication type"), delivery.Unauthorized, false, "504 5.5.4", "spec.smtp.authSecretRef"},
		{"auth temporarily failing", reply(stageAuth, 454, "4.7.0 Temporary authentication failure"), delivery.Transient, false, "454 4.7.0", ""},
		{"authentication required", reply(stageMail, 530, "5.7.0 Authentication required"), delivery.Unauthorized, false, "530 5.7.0", "set spec.smtp.authSecretRef"},
		{"server refuses the client", reply(stageConnect, 554, "5.7.1 Access denied"), delivery.Unauthorized, false, "554 5.7.1", "refuses this client"},
		{"server too busy", reply(stageConnect, 421, "4.3.2 Service not available"), delivery.Transient, false, "421 4.3.2", ""},
		{"unexpected reply", reply(stageRcpt, 354, "go ahead"), delivery.Transient, false, "354", ""},
		{"connection dropped", &stageError{stageReply, io.EOF}, delivery.Transient, false, "", ""},
		{"timeout", &stageError{stageRcpt, os.ErrDeadlineExceeded}, delivery.Transient, false, "", ""},
		{"refused connection", &stageError{stageConnect, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}, delivery.Transient, false, "", ""},
		{"context ended", context.DeadlineExceeded, delivery.Transient, false, "", ""},
		{"no STARTTLS", &stageError{stageConnect, &refusal{errors.New("does not offer STARTTLS")}}, delivery.Unauthorized, false, "", "STARTTLS"},
		{"untrusted certificate", &stageError{stageConnect, fmt.Errorf("STARTTLS: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})},
			delivery.Unauthorized, false, "", "certificate is not trusted"},
		{"TLS to a plain-text port", &stageError{stageConnect, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}},
			delivery.Unauthorized, false, "", "does not speak TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.err)
			if f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code {
				t.Errorf("classify = {%s hardBounce=%v code=%q}, want {%s hardBounce=%v code=%q}",
					f.Kind, f.HardBounce, f.Code, tt.kind, tt.hardBounce, tt.code)
			}
			if !errors.Is(f, tt.err) {
				t.Errorf("the failure does not wrap the error it classifies: %v", f)
			}
			if !strings.Contains(f.Error(), tt.hint) {
				t.Errorf("message %q does not say %q", f.Error(), tt.hint)
			}
		})
	}
}

func TestQueueID(t *testing.T) {
	tests := []struct{ reply, want string }{
		{"2.0.0 Ok: queued as 4ABC12", "4ABC12"},
		{"2.0.0 Ok: queued as S5nJnJ6mdKUemUkTFrR2Ak", "S5nJnJ6mdKUemUkTFrR2Ak"},
		{"OK id=1rABCD-000123-4x", "1rABCD-000123-4x"},
		{"2.0.0 Ok: queued", ""},
		{"2.0.0 OK  1700000000 a1-20020a17090a000000b0012345gsmtp", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := queueID(tt.reply); got != tt.want {
			t.Errorf("queueID(%q) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}

func TestIsStale(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"hung up before MAIL FROM", &stageError{stageMail, io.EOF}, true},
		{"said 421 to MAIL FROM", reply(stageMail, 421, "4.4.2 Idle timeout"), true},
		{"refused the sender", reply(stageMail, 553, "5.7.1 Sender rejected"), false},
		{"hung up after RCPT TO", &stageError{stageRcpt, io.EOF}, false},
		{"hung up after the dot", &stageError{stageReply, io.EOF}, false},
	}
	for _, tt := range tests {
		if got := isStale(tt.err); got != tt.want {
			t.Errorf("%s: isStale = %v, want %v", tt.name, got, tt.want)
		}
	}
}
