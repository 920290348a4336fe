package mailsink

import (
	"context"
	"errors"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The cached binary is keyed by Version, so Version must be what the tools module pins.
func TestVersionIsTheToolsModulePin(t *testing.T) {
	module, err := findToolsModule()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(module + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	pin := regexp.MustCompile(`(?m)^\s*github\.com/axllent/mailpit (v\S+)`).FindSubmatch(gomod)
	if pin == nil {
		t.Fatalf("%s/go.mod does not require github.com/axllent/mailpit", module)
	}
	if string(pin[1]) != Version {
		t.Errorf("the tools module pins Mailpit %s, the package builds it as %s", pin[1], Version)
	}
}

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

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const rawMessage = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?44GT44KT44Gr44Gh44Gv?=\r\n" +
	"Message-ID: <probe-1@example.com>\r\nX-Probe: yes\r\n\r\nhello\r\n"

// The harness is checked with the standard library's SMTP client, so that it does not depend on
// the code it is used to test.
func TestReceivesListsAndInjectsErrors(t *testing.T) {
	s := start(t, Options{})
	ctx := testContext(t)

	if err := smtp.SendMail(s.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte(rawMessage)); err != nil {
		t.Fatalf("send: %v\n%s", err, s.Log())
	}
	list, err := s.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("Messages() = %d messages, want 1", len(list))
	}
	if got := list[0]; got.Subject != "こんにちは" || got.MessageID != "probe-1@example.com" || got.From == nil ||
		got.From.Address != "a@example.com" || len(got.To) != 1 || got.To[0].Address != "b@example.com" {
		t.Errorf("summary = %+v", got)
	}
	m, err := s.Message(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(m.Text) != "hello" {
		t.Errorf("Text = %q, want hello", m.Text)
	}
	if got := m.Header("x-probe"); len(got) != 1 || got[0] != "yes" {
		t.Errorf("Header(x-probe) = %q, want [yes]", got)
	}
	raw, err := s.Raw(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "X-Probe: yes\r\n") {
		t.Errorf("raw message lacks its header:\n%s", raw)
	}

	if err := s.SetChaos(ctx, Chaos{Recipient: Trigger{ErrorCode: 451, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	err = smtp.SendMail(s.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte(rawMessage))
	if tpErr := (*textproto.Error)(nil); !errors.As(err, &tpErr) || tpErr.Code != 451 {
		t.Errorf("send with chaos on RCPT: %v, want a 451 reply", err)
	}
	if err := s.SetChaos(ctx, Chaos{}); err != nil {
		t.Fatal(err)
	}
	if err := smtp.SendMail(s.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte(rawMessage)); err != nil {
		t.Errorf("send after clearing chaos: %v", err)
	}

	if err := s.DeleteMessages(ctx); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Messages(ctx); err != nil || len(list) != 0 {
		t.Errorf("after DeleteMessages: %d messages, %v", len(list), err)
	}
}

func TestAuthOverSTARTTLS(t *testing.T) {
	s := start(t, Options{Users: map[string]string{"kizuna": "s3cret"}, STARTTLS: true})
	ctx := testContext(t)

	// send authenticates with password, or not at all when it is empty.
	send := func(password string) error {
		c, err := smtp.Dial(s.SMTPAddr())
		if err != nil {
			return err
		}
		defer c.Close()
		tlsConfig := s.ClientTLSConfig()
		tlsConfig.ServerName = s.SMTPHost()
		if err := c.StartTLS(tlsConfig); err != nil {
			return err
		}
		if password != "" {
			if err := c.Auth(smtp.PlainAuth("", "kizuna", password, s.SMTPHost())); err != nil {
				return err
			}
		}
		if err := c.Mail("a@example.com"); err != nil {
			return err
		}
		if err := c.Rcpt("b@example.com"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(rawMessage)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}

	err := send("wrong")
	if tpErr := (*textproto.Error)(nil); !errors.As(err, &tpErr) || tpErr.Code != 535 {
		t.Errorf("send with a wrong password: %v, want a 535 reply", err)
	}
	err = send("")
	if tpErr := (*textproto.Error)(nil); !errors.As(err, &tpErr) || tpErr.Code != 530 {
		t.Errorf("send without AUTH: %v, want a 530 reply", err)
	}
	if err := send("s3cret"); err != nil {
		t.Fatalf("send with the right password: %v\n%s", err, s.Log())
	}
	if list, err := s.Messages(ctx); err != nil || len(list) != 1 {
		t.Errorf("Messages() = %d messages, %v; want 1", len(list), err)
	}
}
