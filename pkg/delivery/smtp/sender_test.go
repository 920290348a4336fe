package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/test/mailsink"
	"github.com/kizuna-dev/kizuna/test/smtpsink"
)

// sink is a Mailpit without authentication, shared by the tests, which run one at a time and
// start by emptying it.
var sink *mailsink.Server

func TestMain(m *testing.M) {
	mailsink.Main(m, &sink, mailsink.Options{})
}

var storeFrom = Address{Address: "news@example.co.jp", Name: "絆ストア"}

// plainConfig reaches port on loopback without TLS or AUTH.
func plainConfig(port int) Config {
	return Config{Host: "127.0.0.1", Port: port, TLS: TLSModeNone, From: storeFrom}
}

func newSender(t *testing.T, cfg Config) *Sender {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// emptySink clears the shared sink's messages and error injection.
func emptySink(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := sink.DeleteMessages(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sink.SetChaos(ctx, mailsink.Chaos{}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func simpleMessage(id string) *delivery.Message {
	return &delivery.Message{ID: id, To: "taro@example.jp", Subject: "ご案内 " + id, Text: "本文 " + id}
}

func failureOf(t *testing.T, err error) *delivery.Failure {
	t.Helper()
	var f *delivery.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not a *delivery.Failure", err, err)
	}
	return f
}

func TestSendDeliversAJapaneseMessage(t *testing.T) {
	ctx := emptySink(t)
	s := newSender(t, Config{Host: sink.SMTPHost(), Port: sink.SMTPPort(), TLS: TLSModeNone, From: storeFrom,
		ReplyTo: Address{Address: "support@example.co.jp", Name: "絆ストア サポート"}})
	m := &delivery.Message{
		ID:             "spring.r1.p42.welcome",
		To:             "taro@example.jp",
		Subject:        japaneseSubject,
		Text:           japaneseText,
		HTML:           japaneseHTML,
		UnsubscribeURL: "https://kizuna.example.co.jp/u/p42?sig=abc",
		Metadata:       delivery.Metadata{Namespace: "shop", Campaign: "spring", Run: "r1", Step: "welcome", ProfileID: "p42"},
	}
	receipt, err := s.Send(ctx, m)
	if err != nil {
		t.Fatalf("Send: %v\n%s", err, sink.Log())
	}

	list, err := sink.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("the sink holds %d messages, want 1", len(list))
	}
	if receipt.ProviderMessageID != list[0].ID {
		t.Errorf("ProviderMessageID = %q, want the ID Mailpit queued the message as, %q", receipt.ProviderMessageID, list[0].ID)
	}
	got, err := sink.Message(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.From == nil || got.From.Name != "絆ストア" || got.From.Address != "news@example.co.jp" {
		t.Errorf("From = %+v, want 絆ストア <news@example.co.jp>", got.From)
	}
	if len(got.To) != 1 || got.To[0].Address != "taro@example.jp" {
		t.Errorf("To = %+v, want taro@example.jp", got.To)
	}
	if len(got.ReplyTo) != 1 || got.ReplyTo[0].Name != "絆ストア サポート" || got.ReplyTo[0].Address != "support@example.co.jp" {
		t.Errorf("Reply-To = %+v", got.ReplyTo)
	}
	if got.Subject != japaneseSubject {
		t.Errorf("Subject = %q, want %q", got.Subject, japaneseSubject)
	}
	if got.MessageID != "spring.r1.p42.welcome@example.co.jp" {
		t.Errorf("Message-ID = %q, want spring.r1.p42.welcome@example.co.jp", got.MessageID)
	}
	if text := strings.ReplaceAll(got.Text, "\r\n", "\n"); text != japaneseText {
		t.Errorf("text part = %q, want %q", got.Text, japaneseText)
	}
	if got.HTML != japaneseHTML {
		t.Errorf("HTML part = %q, want %q", got.HTML, japaneseHTML)
	}
	if u := got.ListUnsubscribe; u.Header != "<https://kizuna.example.co.jp/u/p42?sig=abc>" ||
		u.HeaderPost != "List-Unsubscribe=One-Click" || u.Errors != "" {
		t.Errorf("List-Unsubscribe as Mailpit read it = %+v", u)
	}
	for header, want := range map[string]string{
		HeaderCampaign:   "shop/spring",
		HeaderStep:       "welcome",
		HeaderRun:        "r1",
		HeaderFeedbackID: "spring:welcome:shop:kizuna",
	} {
		if values := got.Header(header); len(values) != 1 || values[0] != want {
			t.Errorf("%s = %q, want %q", header, values, want)
		}
	}
	raw, err := sink.Raw(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "Content-Type: multipart/alternative;") {
		t.Errorf("the message is not multipart/alternative:\n%.600s", raw)
	}

	// A retried ledger row sends the same message again: receivers see the same Message-ID.
	if _, err := s.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	list, err = sink.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].MessageID != list[0].MessageID {
		t.Errorf("after a resend the sink holds %+v, want two messages with the same Message-ID", list)
	}
}

// A reply that refuses one command leaves the connection usable: the transaction is reset and
// the next message goes out on the same connection.
func TestRefusalsAreClassifiedAndTheMessageGoesOutOnceTheyStop(t *testing.T) {
	ctx := emptySink(t)
	p := startProxy(t, sink.SMTPAddr())
	s := newSender(t, plainConfig(p.port()))
	tests := []struct {
		name       string
		chaos      mailsink.Chaos
		kind       delivery.Kind
		hardBounce bool
		code       string
	}{
		{"451 to RCPT TO", mailsink.Chaos{Recipient: mailsink.Trigger{ErrorCode: 451, Probability: 100}}, delivery.Transient, false, "451"},
		{"550 to RCPT TO", mailsink.Chaos{Recipient: mailsink.Trigger{ErrorCode: 550, Probability: 100}}, delivery.Permanent, true, "550"},
		{"552 to RCPT TO", mailsink.Chaos{Recipient: mailsink.Trigger{ErrorCode: 552, Probability: 100}}, delivery.Permanent, false, "552"},
		{"451 to MAIL FROM", mailsink.Chaos{Sender: mailsink.Trigger{ErrorCode: 451, Probability: 100}}, delivery.Transient, false, "451"},
		{"553 to MAIL FROM", mailsink.Chaos{Sender: mailsink.Trigger{ErrorCode: 553, Probability: 100}}, delivery.Permanent, false, "553"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sink.SetChaos(ctx, tt.chaos); err != nil {
				t.Fatal(err)
			}
			m := simpleMessage(fmt.Sprintf("refused-%d", i))
			_, err := s.Send(ctx, m)
			if err == nil {
				t.Fatal("Send succeeded; want the injected refusal")
			}
			f := failureOf(t, err)
			if f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code {
				t.Errorf("failure = {%s hardBounce=%v code=%q}, want {%s hardBounce=%v code=%q}: %v",
					f.Kind, f.HardBounce, f.Code, tt.kind, tt.hardBounce, tt.code, err)
			}
			if err := sink.SetChaos(ctx, mailsink.Chaos{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(ctx, m); err != nil {
				t.Fatalf("the same message after the refusal stopped: %v", err)
			}
		})
	}
	list, err := sink.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(tests) {
		t.Errorf("the sink holds %d messages, want one per case, %d", len(list), len(tests))
	}
	if accepted, _ := p.counts(); accepted != 1 {
		t.Errorf("the sender opened %d connections, want 1: a refusal should not cost a connection", accepted)
	}
	// Mailpit forgives a MAIL FROM in the middle of a refused transaction; Postfix answers
	// "503 5.5.1 nested MAIL command". Each refusal must be followed by RSET.
	if transcripts := p.transcripts(); len(transcripts) == 1 {
		if n := strings.Count(transcripts[0], "\r\nRSET\r\n"); n != len(tests) {
			t.Errorf("the sender reset %d refused transactions, want all %d", n, len(tests))
		}
	}
}

func TestAuthenticationAndTLS(t *testing.T) {
	secure, err := mailsink.Start(mailsink.Options{Users: map[string]string{"kizuna": "s3cret"}, STARTTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := secure.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	config := func(mode TLSMode, username, password string) Config {
		return Config{Host: secure.SMTPHost(), Port: secure.SMTPPort(), TLS: mode, Username: username, Password: password,
			From: storeFrom, TLSConfig: secure.ClientTLSConfig()}
	}
	untrusted := config(TLSModeSTARTTLS, "kizuna", "s3cret")
	untrusted.TLSConfig = nil
	noSTARTTLS := plainConfig(sink.SMTPPort())
	noSTARTTLS.TLS = TLSModeSTARTTLS

	tests := []struct {
		name string
		cfg  Config
		// kind is the failure's kind; delivered means no failure.
		delivered bool
		kind      delivery.Kind
		code      string
		says      string
	}{
		{"right credentials over STARTTLS", config(TLSModeSTARTTLS, "kizuna", "s3cret"), true, 0, "", ""},
		{"credentials where the server wants STARTTLS first", config(TLSModeNone, "kizuna", "s3cret"), false, delivery.Unauthorized, "530 5.7.0", "spec.smtp.tls"},
		{"wrong password", config(TLSModeSTARTTLS, "kizuna", "wrong-password"), false, delivery.Unauthorized, "535 5.7.8", "authSecretRef"},
		{"no credentials", config(TLSModeSTARTTLS, "", ""), false, delivery.Unauthorized, "530 5.7.0", "authSecretRef"},
		{"certificate not trusted", untrusted, false, delivery.Unauthorized, "", "certificate is not trusted"},
		{"implicit TLS to a STARTTLS port", config(TLSModeTLS, "kizuna", "s3cret"), false, delivery.Unauthorized, "", "does not speak TLS"},
		{"STARTTLS to a server without it", noSTARTTLS, false, delivery.Unauthorized, "", "does not offer STARTTLS"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSender(t, tt.cfg)
			_, err := s.Send(ctx, simpleMessage(fmt.Sprintf("auth-%d", i)))
			if tt.delivered {
				if err != nil {
					t.Fatalf("Send: %v\n%s", err, secure.Log())
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded; want a failure")
			}
			f := failureOf(t, err)
			if f.Kind != tt.kind || f.Code != tt.code || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("failure = {%s code=%q} %q, want {%s code=%q} saying %q", f.Kind, f.Code, err, tt.kind, tt.code, tt.says)
			}
			if tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	list, err := secure.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("the secure sink holds %d messages, want the one sent with the right credentials", len(list))
	}
}

func TestConcurrentSendsShareAtMostMaxConnections(t *testing.T) {
	ctx := emptySink(t)
	p := startProxy(t, sink.SMTPAddr())
	cfg := plainConfig(p.port())
	cfg.MaxConnections = 3
	s := newSender(t, cfg)

	const goroutines, perGoroutine = 8, 5
	start := make(chan struct{})
	errs := make(chan error, goroutines*perGoroutine)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range perGoroutine {
				if _, err := s.Send(ctx, simpleMessage(fmt.Sprintf("g%d.m%d", g, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Send: %v", err)
	}

	list, err := sink.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range list {
		ids[m.MessageID] = true
	}
	if len(list) != goroutines*perGoroutine || len(ids) != goroutines*perGoroutine {
		t.Errorf("the sink holds %d messages with %d Message-IDs, want %d of each", len(list), len(ids), goroutines*perGoroutine)
	}
	// Eight goroutines wait for three connections, which all open at once and are then reused.
	if accepted, maxOpen := p.counts(); accepted != 3 || maxOpen != 3 {
		t.Errorf("the sender opened %d connections, at most %d at once; want 3 and 3", accepted, maxOpen)
	}
}

func TestAConnectionTheServerDroppedIsRedialled(t *testing.T) {
	ctx := emptySink(t)
	p := startProxy(t, sink.SMTPAddr())
	s := newSender(t, plainConfig(p.port()))

	if _, err := s.Send(ctx, simpleMessage("before-drop")); err != nil {
		t.Fatal(err)
	}
	p.dropAll()
	if _, err := s.Send(ctx, simpleMessage("after-drop")); err != nil {
		t.Fatalf("Send after the server dropped the pooled connection: %v", err)
	}
	if accepted, _ := p.counts(); accepted != 2 {
		t.Errorf("the sender opened %d connections, want 2: the dropped one and its replacement", accepted)
	}
	list, err := sink.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].MessageID != "before-drop@example.co.jp" || list[1].MessageID != "after-drop@example.co.jp" {
		t.Errorf("the sink holds %+v, want before-drop then after-drop", list)
	}
	p.dropAll()
	if err := s.Close(); err != nil {
		t.Errorf("Close after the server hung up: %v, want nil: a closed connection needs no QUIT", err)
	}
}

func TestCloseSendsQUITOnEveryConnection(t *testing.T) {
	ctx := emptySink(t)
	p := startProxy(t, sink.SMTPAddr())
	cfg := plainConfig(p.port())
	cfg.MaxConnections = 2
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, err := s.Send(ctx, simpleMessage(fmt.Sprintf("close-%d", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	transcripts := p.transcripts()
	if len(transcripts) == 0 {
		t.Fatal("no connection was opened")
	}
	for i, sent := range transcripts {
		if !strings.HasSuffix(sent, "QUIT\r\n") {
			t.Errorf("connection %d did not end with QUIT; the client's last bytes: %q", i, sent[max(0, len(sent)-40):])
		}
	}
	_, err = s.Send(ctx, simpleMessage("after-close"))
	if f := failureOf(t, err); f.Kind != delivery.Transient || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Send after Close: %v, want a failure saying the sender is closed", err)
	}
}

// A server that accepts the connection and then says nothing must not hold Send longer than the
// caller's context allows, nor hold the Sends that wait for its connection.
func TestSendStopsWhenTheContextEnds(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := silent.Accept(); err == nil {
			accepted <- c
		}
	}()
	cfg := plainConfig(silent.Addr().(*net.TCPAddr).Port)
	cfg.Timeout = time.Minute
	cfg.MaxConnections = 1
	s := newSender(t, cfg)

	type outcome struct {
		err     error
		elapsed time.Duration
	}
	dialling := make(chan outcome)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := s.Send(ctx, simpleMessage("silent"))
		dialling <- outcome{err, time.Since(began)}
	}()
	conn := <-accepted
	defer conn.Close()

	// The only connection is being dialled: a second Send waits for it until its own context ends.
	waitCtx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Send(waitCtx, simpleMessage("waiting"))
	if f := failureOf(t, err); f.Kind != delivery.Transient || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "wait for one of 1 connections") {
		t.Errorf("Send waiting for the pool: %v, want a transient failure for the context's deadline", err)
	}

	first := <-dialling
	if f := failureOf(t, first.err); f.Kind != delivery.Transient || !errors.Is(first.err, context.DeadlineExceeded) {
		t.Errorf("Send to a silent server: %v, want a transient failure for the context's deadline", first.err)
	}
	if first.elapsed > 10*time.Second {
		t.Errorf("Send returned after %v, want about the context's 500ms, far less than the 1m timeout", first.elapsed)
	}
}

func TestSendRefusesAMessageItCannotSend(t *testing.T) {
	ctx := emptySink(t)
	p := startProxy(t, sink.SMTPAddr())
	s := newSender(t, plainConfig(p.port()))
	m := simpleMessage("bad")
	m.To = "not-an-address"
	_, err := s.Send(ctx, m)
	if f := failureOf(t, err); f.Kind != delivery.Permanent || f.HardBounce {
		t.Errorf("Send to %q: %v, want a permanent failure that is not a hard bounce", m.To, err)
	}
	if accepted, _ := p.counts(); accepted != 0 {
		t.Errorf("the sender connected %d times for a message it could not send", accepted)
	}
}

// startSMTPSink starts Postfix's smtp-sink (`make smtp-sink` installs it).
func startSMTPSink(tb testing.TB, opts smtpsink.Options) *smtpsink.Server {
	tb.Helper()
	s, err := smtpsink.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// A server that hangs up after the final dot without replying may or may not have taken the
// message. The failure is transient, so the ledger retries it later with the same Message-ID, and
// the Sender does not resend it by itself: it dials again for the next message only.
func TestAHangUpAfterTheFinalDotIsTransientAndNotResent(t *testing.T) {
	dropper := startSMTPSink(t, smtpsink.Options{DisconnectAfter: []string{"."}})
	p := startProxy(t, dropper.Addr())
	s := newSender(t, plainConfig(p.port()))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range 2 {
		_, err := s.Send(ctx, simpleMessage(fmt.Sprintf("unanswered-%d", i)))
		if f := failureOf(t, err); f.Kind != delivery.Transient || f.Code != "" || !errors.Is(err, io.EOF) {
			t.Errorf("Send %d: %v, want a transient failure for the missing reply", i, err)
		}
		if accepted, _ := p.counts(); accepted != i+1 {
			t.Errorf("after send %d the sender had opened %d connections, want %d: one per message", i, accepted, i+1)
		}
	}
	for i, sent := range p.transcripts() {
		if n := strings.Count(sent, "\r\nDATA\r\n"); n != 1 {
			t.Errorf("connection %d carried %d DATA commands, want 1", i, n)
		}
	}
}

// smtp-sink offers PIPELINING (RFC 2920): MAIL FROM, RCPT TO and DATA go out together, with the
// parameters the server's extensions call for, and a refused recipient fails the message as
// it does one command at a time, while the connection stays open, reset, for the next one.
func TestPipelinedTransactions(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	t.Run("delivered", func(t *testing.T) {
		p := startProxy(t, startSMTPSink(t, smtpsink.Options{}).Addr())
		s := newSender(t, plainConfig(p.port()))
		for i := range 3 {
			if _, err := s.Send(ctx, simpleMessage(fmt.Sprintf("pipelined-%d", i))); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		if accepted, _ := p.counts(); accepted != 1 {
			t.Errorf("the sender opened %d connections, want 1 for three messages", accepted)
		}
		// The three commands reach the server before its first reply to them.
		exchange := strings.Join(p.exchanges(), "")
		if n := strings.Count(exchange, "\nC: MAIL FROM:<news@example.co.jp> BODY=8BITMIME\r\nRCPT TO:<taro@example.jp>\r\nDATA\r\n\nS: 250"); n != 3 {
			t.Errorf("%d pipelined MAIL, RCPT, DATA sequences, want 3:\n%s", n, exchange)
		}
		sent := strings.Join(p.transcripts(), "")
		if strings.Contains(sent, "RSET") {
			t.Errorf("RSET after transactions that succeeded:\n%s", sent)
		}
	})
	for _, tc := range []struct {
		name       string
		opts       smtpsink.Options
		kind       delivery.Kind
		hardBounce bool
		code       string
	}{
		{"recipient unknown", smtpsink.Options{HardReject: []string{"rcpt"}, HardReply: "550 5.1.1 User unknown"},
			delivery.Permanent, true, "550 5.1.1"},
		{"recipient deferred", smtpsink.Options{SoftReject: []string{"rcpt"}, SoftReply: "451 4.3.0 Try again later"},
			delivery.Transient, false, "451 4.3.0"},
		{"sender refused", smtpsink.Options{HardReject: []string{"mail"}, HardReply: "553 5.7.1 Sender rejected"},
			delivery.Permanent, false, "553 5.7.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, startSMTPSink(t, tc.opts).Addr())
			s := newSender(t, plainConfig(p.port()))
			for i := range 2 {
				_, err := s.Send(ctx, simpleMessage(fmt.Sprintf("refused-%d", i)))
				f := failureOf(t, err)
				if f.Kind != tc.kind || f.HardBounce != tc.hardBounce || f.Code != tc.code {
					t.Errorf("Send %d: %+v, want %s, hard bounce %t, code %s", i, f, tc.kind, tc.hardBounce, tc.code)
				}
			}
			if accepted, _ := p.counts(); accepted != 1 {
				t.Errorf("the sender opened %d connections, want 1: a refusal leaves the connection usable", accepted)
			}
			sent := strings.Join(p.transcripts(), "")
			if n := strings.Count(sent, "RSET\r\n"); n != 2 {
				t.Errorf("%d RSETs, want one after each refused transaction:\n%s", n, sent)
			}
			if strings.Contains(sent, "Subject:") {
				t.Errorf("a refused message's content was sent:\n%s", sent)
			}
		})
	}
}

// A pipelining server that closes an idle pooled connection answers the next MAIL FROM with 421
// and hangs up before the other replies: the sender dials again and the message goes out, as
// without pipelining.
func TestAPipelinedConnectionClosedWith421IsRedialled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	connections, delivered := 0, 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			connections++
			idle := connections == 1
			mu.Unlock()
			go serveSMTP(c, idle, func() { mu.Lock(); delivered++; mu.Unlock() })
		}
	}()
	s := newSender(t, plainConfig(l.Addr().(*net.TCPAddr).Port))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := s.Send(ctx, simpleMessage("before-idle")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, simpleMessage("after-idle")); err != nil {
		t.Fatalf("Send after a 421 from a closing connection: %v, want it sent on a new connection", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if connections != 2 || delivered != 2 {
		t.Errorf("%d connections and %d messages delivered, want 2 and 2", connections, delivered)
	}
}

// serveSMTP is a minimal pipelining SMTP server for one connection. When idle, it answers the
// second MAIL FROM with 421 and closes, as a server that timed the connection out after one
// message.
func serveSMTP(c net.Conn, idle bool, delivered func()) {
	defer c.Close()
	mails := 0
	r := bufio.NewReader(c)
	reply := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	reply("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-test\r\n250-PIPELINING\r\n250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL") && idle && mails == 1:
			reply("421 4.4.2 test: idle timeout, closing")
			return
		case strings.HasPrefix(cmd, "MAIL"):
			mails++
			reply("250 2.0.0 ok")
		case strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"):
			reply("250 2.0.0 ok")
		case cmd == "DATA":
			reply("354 go ahead")
			for {
				data, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if data == ".\r\n" {
					break
				}
			}
			delivered()
			reply("250 2.0.0 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 5.5.2 unknown")
		}
	}
}

// TestAStagedMessageIsAcceptedOnlyWhenCommitted stages a message, which the server holds
// without accepting it until Commit, and abandons another, which never arrives: its connection
// is closed, and the next message goes on a new one.
func TestAStagedMessageIsAcceptedOnlyWhenCommitted(t *testing.T) {
	ctx := emptySink(t)
	p := startProxy(t, sink.SMTPAddr())
	s := newSender(t, plainConfig(p.port()))
	held := func() []string {
		t.Helper()
		list, err := sink.Messages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range list {
			ids = append(ids, m.MessageID)
		}
		return ids
	}

	committed, err := s.Stage(ctx, simpleMessage("committed"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := held(); len(ids) != 0 {
		t.Errorf("the sink holds %v before the commit, want nothing", ids)
	}
	if _, err := committed.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := committed.Commit(ctx); err == nil {
		t.Error("a second Commit succeeded, want an error")
	}

	abandoned, err := s.Stage(ctx, simpleMessage("abandoned"))
	if err != nil {
		t.Fatal(err)
	}
	abandoned.Abandon()
	if _, err := s.Send(ctx, simpleMessage("after")); err != nil {
		t.Fatalf("Send after an abandoned message: %v", err)
	}
	if ids := held(); len(ids) != 2 || ids[0] != "committed@example.co.jp" || ids[1] != "after@example.co.jp" {
		t.Errorf("the sink holds %v, want the committed message and the one after, not the abandoned one", ids)
	}
	if accepted, _ := p.counts(); accepted != 2 {
		t.Errorf("the sender opened %d connections, want 2: the abandoned message's was closed", accepted)
	}
}
