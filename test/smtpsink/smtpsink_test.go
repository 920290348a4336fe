package smtpsink

import (
	"errors"
	"io"
	"net/smtp"
	"net/textproto"
	"testing"
)

const message = "From: a@example.com\r\nTo: b@example.com\r\nSubject: probe\r\n\r\nhello\r\n"

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// The harness is checked with the standard library's SMTP client, so that it does not depend on
// the code it is used to test.
func TestAcceptsMessages(t *testing.T) {
	s := start(t, Options{})
	for range 3 {
		if err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(message)); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

func TestHangsUpAfterTheFinalDot(t *testing.T) {
	s := start(t, Options{DisconnectAfter: []string{"."}})
	err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(message))
	var reply *textproto.Error
	if err == nil || errors.As(err, &reply) || !errors.Is(err, io.EOF) {
		t.Errorf("send: %v, want the connection closed without a reply (EOF)", err)
	}
}
