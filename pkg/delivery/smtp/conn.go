package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"
)

// stage is the step of a connection or a transaction an error happened at: what a reply means
// depends on the command it answers.
type stage int

const (
	stageConnect stage = iota // TCP, greeting, TLS, EHLO, STARTTLS
	stageAuth                 // SMTP AUTH
	stageMail                 // MAIL FROM
	stageRcpt                 // RCPT TO
	stageData                 // the DATA command
	stageContent              // writing the message after DATA
	stageReply                // the reply to the message's final dot
)

func (s stage) String() string {
	switch s {
	case stageConnect:
		return "connect"
	case stageAuth:
		return "AUTH"
	case stageMail:
		return "MAIL FROM"
	case stageRcpt:
		return "RCPT TO"
	case stageData:
		return "DATA"
	case stageContent:
		return "write the message"
	case stageReply:
		return "end of DATA"
	}
	return fmt.Sprintf("stage(%d)", int(s))
}

// stageError is an error with the stage it happened at.
type stageError struct {
	stage stage
	err   error
}

func (e *stageError) Error() string { return e.stage.String() + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// refusal is an error every message through the channel would meet, whatever its recipient: the
// server cannot be used as the channel is configured. Its text says what to change.
type refusal struct{ err error }

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }

// conn is one open connection, authenticated when the channel has credentials. go-mail's
// smtp.Client is not safe for concurrent use: a conn is used by one Send at a time.
type conn struct {
	// raw is the TCP connection under any TLS: its deadlines bound every exchange.
	raw    net.Conn
	client *mailsmtp.Client
	// broken is set when the connection's state is unknown or gone; it is then closed, not reused.
	broken bool
	// pipelining is set when the server offers PIPELINING (RFC 2920); mailParams are the MAIL
	// FROM parameters its extensions call for, as go-mail's client adds them.
	pipelining bool
	mailParams string
}

// bound sets the connection's deadline to timeout from now, or the context's deadline if sooner,
// and makes the context's end interrupt any read or write in progress. The returned function
// stops the latter.
func bound(ctx context.Context, raw net.Conn, timeout time.Duration) (stop func() bool) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = raw.SetDeadline(deadline)
	return context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
}

// dial opens, secures and authenticates a connection, all within one Timeout.
func (s *Sender) dial(ctx context.Context) (*conn, error) {
	dialCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	raw, err := dialer.DialContext(dialCtx, "tcp", s.addr)
	if err != nil {
		return nil, &stageError{stageConnect, fmt.Errorf("connect to %s: %w", s.addr, err)}
	}
	stop := bound(dialCtx, raw, s.cfg.Timeout)
	client, err := s.handshake(dialCtx, raw)
	// Stopped before cancel runs, which would otherwise interrupt the connection just made.
	stop()
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	c := &conn{raw: raw, client: client}
	c.pipelining, _ = client.Extension("PIPELINING")
	if ok, _ := client.Extension("8BITMIME"); ok {
		c.mailParams += " BODY=8BITMIME"
	}
	if ok, _ := client.Extension("SMTPUTF8"); ok {
		c.mailParams += " SMTPUTF8"
	}
	return c, nil
}

// handshake reads the greeting, says EHLO, secures the connection as configured and
// authenticates.
func (s *Sender) handshake(ctx context.Context, raw net.Conn) (*mailsmtp.Client, error) {
	connectErr := func(format string, args ...any) error {
		return &stageError{stageConnect, fmt.Errorf(format, args...)}
	}
	transport := raw
	if s.cfg.TLS == TLSModeTLS {
		tlsConn := tls.Client(raw, s.tlsConfig)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return nil, connectErr("TLS handshake with %s: %w", s.addr, err)
		}
		transport = tlsConn
	}
	client, err := mailsmtp.NewClient(transport, s.cfg.Host)
	if err != nil {
		return nil, connectErr("greeting of %s: %w", s.addr, err)
	}
	if err := client.Hello(s.helo); err != nil {
		return nil, connectErr("EHLO to %s: %w", s.addr, err)
	}
	if s.cfg.TLS == TLSModeSTARTTLS {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return nil, connectErr("%w", &refusal{fmt.Errorf("%s does not offer STARTTLS: set spec.smtp.tls to TLS if it expects TLS from the first byte "+
				"(usually port 465), or to None for a local test server", s.addr)})
		}
		if err := client.StartTLS(s.tlsConfig); err != nil {
			return nil, connectErr("STARTTLS with %s: %w", s.addr, err)
		}
	}
	if s.cfg.Username != "" {
		if err := s.authenticate(client); err != nil {
			return nil, &stageError{stageAuth, err}
		}
	}
	return client, nil
}

// authenticate logs in with the strongest mechanism both sides support. On a connection without
// TLS, CRAM-MD5 comes before PLAIN and LOGIN, which go-mail allows there only towards localhost:
// they would show the password to anyone on the path.
func (s *Sender) authenticate(client *mailsmtp.Client) error {
	ok, offered := client.Extension("AUTH")
	if !ok {
		return &refusal{fmt.Errorf("%s offers no SMTP AUTH, but the channel has credentials: check spec.smtp.host and port, "+
			"or remove spec.smtp.authSecretRef", s.addr)}
	}
	preference := []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin, gomail.SMTPAuthCramMD5}
	if s.cfg.TLS == TLSModeNone {
		preference = []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
	}
	mechanisms := strings.Fields(strings.ToUpper(offered))
	for _, mechanism := range preference {
		if !slices.Contains(mechanisms, string(mechanism)) {
			continue
		}
		err := client.Auth(s.authFor(mechanism))
		if errors.Is(err, mailsmtp.ErrUnencrypted) {
			return &refusal{fmt.Errorf("%s offers %s only without TLS, which would expose the password: set spec.smtp.tls to STARTTLS or TLS", s.addr, mechanism)}
		}
		if err != nil {
			return fmt.Errorf("authenticate with %s: %w", mechanism, err)
		}
		return nil
	}
	return &refusal{fmt.Errorf("%s offers AUTH %s, none of which Kizuna supports (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN, CRAM-MD5)", s.addr, offered)}
}

func (s *Sender) authFor(mechanism gomail.SMTPAuthType) mailsmtp.Auth {
	switch mechanism {
	case gomail.SMTPAuthSCRAMSHA256:
		return mailsmtp.ScramSHA256Auth(s.cfg.Username, s.cfg.Password)
	case gomail.SMTPAuthSCRAMSHA1:
		return mailsmtp.ScramSHA1Auth(s.cfg.Username, s.cfg.Password)
	case gomail.SMTPAuthPlain:
		return mailsmtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host, false)
	case gomail.SMTPAuthLogin:
		return mailsmtp.LoginAuth(s.cfg.Username, s.cfg.Password, s.cfg.Host, false)
	default:
		return mailsmtp.CRAMMD5Auth(s.cfg.Username, s.cfg.Password)
	}
}

// begin runs one transaction up to the end of its content: MAIL FROM, RCPT TO, DATA and the
// message, flushed to the server, which has not accepted it yet. The returned writer's Close
// sends the final dot (finish). Until then the server holds the message and a dropped connection
// loses it: the server delivers a message only once it has answered the dot.
func (c *conn) begin(ctx context.Context, timeout time.Duration, from, to string, msg *gomail.Msg) (io.WriteCloser, error) {
	stop := bound(ctx, c.raw, timeout)
	defer stop()
	if c.pipelining {
		return c.beginPipelined(from, to, msg)
	}
	// go-mail's smtp.Client sends the path as given: RFC 5321 wants it in angle brackets.
	if err := c.client.Mail("<" + from + ">"); err != nil {
		return nil, c.fail(stageMail, err)
	}
	if err := c.client.Rcpt("<" + to + ">"); err != nil {
		return nil, c.fail(stageRcpt, err)
	}
	w, err := c.client.Data()
	if err != nil {
		return nil, c.fail(stageData, err)
	}
	if err := c.writeContent(w, msg); err != nil {
		return nil, err
	}
	return w, nil
}

// writeContent writes the message into the DATA section and flushes it to the server.
func (c *conn) writeContent(w io.Writer, msg *gomail.Msg) error {
	if _, err := msg.WriteTo(w); err != nil {
		c.broken = true
		return &stageError{stageContent, err}
	}
	if err := c.client.Text.W.Flush(); err != nil {
		c.broken = true
		return &stageError{stageContent, err}
	}
	return nil
}

// finish sends the final dot of the content begin wrote, and returns the server's reply.
func (c *conn) finish(ctx context.Context, timeout time.Duration, data io.WriteCloser) (string, error) {
	stop := bound(ctx, c.raw, timeout)
	defer stop()
	if dc, ok := data.(*mailsmtp.DataCloser); ok {
		if err := dc.Close(); err != nil {
			return "", c.fail(stageReply, err)
		}
		return dc.ServerResponse(), nil
	}
	if err := data.Close(); err != nil {
		c.broken = true
		return "", &stageError{stageContent, err}
	}
	_, response, err := c.client.Text.ReadResponse(250)
	if err != nil {
		return "", c.fail(stageReply, err)
	}
	return response, nil
}

// beginPipelined begins one transaction as RFC 2920 allows: MAIL FROM, RCPT TO and DATA go in
// one write and their three replies are read after it, so a message waits for two round trips
// instead of four. Over a network to a provider's relay that doubles what a connection sends; on
// loopback it saves the system calls and goroutine switches of two exchanges. go-mail's client
// has no pipelining: this speaks through its textproto connection, and leaves the session where
// the client expects it, between transactions, once finish has read the reply to the dot.
func (c *conn) beginPipelined(from, to string, msg *gomail.Msg) (io.WriteCloser, error) {
	if strings.ContainsAny(from, "\r\n") || strings.ContainsAny(to, "\r\n") {
		return nil, &stageError{stageMail, &refusal{errors.New("an address contains a line break")}}
	}
	text := c.client.Text
	_, _ = fmt.Fprintf(text.W, "MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n", from, c.mailParams, to)
	if err := text.W.Flush(); err != nil {
		c.broken = true
		return nil, &stageError{stageMail, err}
	}
	// Every reply is read, whatever the first ones said: the server answers each command.
	replies := []struct {
		stage  stage
		expect int
	}{{stageMail, 250}, {stageRcpt, 25}, {stageData, 354}}
	var first *stageError
	for _, r := range replies {
		_, _, err := text.ReadResponse(r.expect)
		var reply *textproto.Error
		if err != nil && !errors.As(err, &reply) {
			// No reply: the connection's state is unknown. A reply that came first says more
			// (a 421 to MAIL FROM from a server closing an idle connection: Send dials again).
			c.broken = true
			if first != nil {
				return nil, first
			}
			return nil, &stageError{r.stage, err}
		}
		if err != nil && first == nil {
			first = &stageError{r.stage, err}
			if reply.Code == 421 {
				c.broken = true
			}
		}
		if err == nil && r.stage == stageData && first != nil {
			// A server that accepted DATA after refusing the sender or the recipient (RFC 2920
			// says it must not) gets an empty message, ended at once, and no message is sent.
			if _, _, err := c.endData(text); err != nil {
				return nil, err
			}
		}
	}
	if first != nil {
		if !c.broken {
			// The transaction may still be open (a refused recipient): start the next one clean.
			if err := c.client.Reset(); err != nil {
				c.broken = true
			}
		}
		return nil, first
	}
	dot := text.DotWriter()
	if err := c.writeContent(dot, msg); err != nil {
		return nil, err
	}
	return dot, nil
}

// endData ends a DATA section that nothing was written to, and reads the reply.
func (c *conn) endData(text *textproto.Conn) (int, string, error) {
	if err := text.DotWriter().Close(); err != nil {
		c.broken = true
		return 0, "", &stageError{stageContent, err}
	}
	code, msg, err := text.ReadResponse(0)
	var reply *textproto.Error
	if err != nil && !errors.As(err, &reply) {
		c.broken = true
		return 0, "", &stageError{stageReply, err}
	}
	return code, msg, nil
}

// fail records whether err left the connection usable and returns err with its stage. A reply
// other than 421 (closing) leaves the connection open; a transaction it ended before the final
// dot is reset so that the next one starts clean. Anything else (a timeout, a reset, a reply
// that never came) leaves the connection in an unknown state.
func (c *conn) fail(st stage, err error) error {
	var reply *textproto.Error
	switch {
	case !errors.As(err, &reply) || reply.Code == 421:
		c.broken = true
	case st != stageReply:
		if resetErr := c.client.Reset(); resetErr != nil {
			c.broken = true
		}
	}
	return &stageError{st, err}
}

func (c *conn) usable() bool { return !c.broken }

// isStale says whether err is a pooled connection found closed when a transaction began: the
// server hung up (or said 421) before accepting MAIL FROM, so nothing of the message was sent.
func isStale(err error) bool {
	var se *stageError
	if !errors.As(err, &se) || se.stage != stageMail {
		return false
	}
	var reply *textproto.Error
	return !errors.As(err, &reply) || reply.Code == 421
}

func (c *conn) close() { _ = c.raw.Close() }

// quit says goodbye (QUIT, then the server's 221) and closes the connection. It
// returns only a reply other than 221: a server that already hung up needs no goodbye.
func (c *conn) quit(timeout time.Duration) error {
	_ = c.raw.SetDeadline(time.Now().Add(timeout))
	err := c.client.Quit()
	_ = c.raw.Close()
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}
