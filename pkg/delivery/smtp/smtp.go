// Package smtp sends email through an SMTP server: the Sender of Channels of type SMTP.
//
// A Sender keeps a pool of up to MaxConnections open connections and sends many messages on each,
// one transaction after another, so a campaign pays for a connection's TCP, TLS and AUTH round
// trips once rather than once per recipient. Concurrent Sends use different connections.
//
// go-mail builds the MIME messages (multipart/alternative, UTF-8, RFC 2047 headers) and speaks
// the protocol (its smtp.Client, with STARTTLS and the SCRAM, PLAIN, LOGIN and CRAM-MD5
// mechanisms). The pool drives each transaction itself (MAIL, RCPT, DATA) rather than through
// go-mail's mail.Client.Send, for three reasons: Send's SendError does not unwrap to the server's
// reply, which a Failure must classify and keep; Send spends a NOOP and an RSET round trip on every
// message; and a connection the pool dials itself (to bound it by the caller's context) would
// look unencrypted to mail.Client's choice of AUTH mechanism under implicit TLS.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

// TLSMode says how a connection is secured. The values are those of the Channel API's tls field.
type TLSMode string

const (
	// TLSModeSTARTTLS connects in plain text and upgrades with STARTTLS before anything else;
	// a server that does not offer STARTTLS is refused rather than used unencrypted.
	TLSModeSTARTTLS TLSMode = "STARTTLS"
	// TLSModeTLS speaks TLS from the first byte (implicit TLS, usually port 465).
	TLSModeTLS TLSMode = "TLS"
	// TLSModeNone sends in plain text: for local test servers only.
	TLSModeNone TLSMode = "None"
)

// Defaults of Config, the same as the Channel API's.
const (
	DefaultPort           = 587
	DefaultMaxConnections = 4
	DefaultTimeout        = 30 * time.Second
)

// Address is a mailbox with an optional display name, such as 絆ストア <news@example.co.jp>.
type Address struct {
	Address string
	Name    string
}

// Config is an SMTP channel's configuration, with credentials read from its Secret.
type Config struct {
	// Host is the SMTP server's name; it is also the name its certificate must carry.
	Host string
	// Port defaults to 587.
	Port int
	// TLS defaults to STARTTLS.
	TLS TLSMode

	// Username and Password authenticate with SMTP AUTH; no AUTH is tried when Username is empty.
	Username string
	Password string

	// From is the author of every message and the envelope sender that bounces return to.
	From Address
	// ReplyTo, when its Address is set, is where replies go.
	ReplyTo Address

	// MaxConnections bounds the pool of open connections; it defaults to 4.
	MaxConnections int
	// Timeout bounds dialling a connection (TCP, greeting, TLS, AUTH) and each message's
	// transaction on it; the caller's context can end either sooner. It defaults to 30 seconds.
	Timeout time.Duration

	// TLSConfig replaces the default TLS configuration (the system's roots, TLS 1.2 or newer),
	// for example to trust a test server's certificate. Its ServerName defaults to Host.
	TLSConfig *tls.Config

	// MessageIDDomain is the part after @ in Message-IDs; it defaults to the From address's domain.
	MessageIDDomain string
}

// Sender sends messages through one SMTP server. It is safe for concurrent use.
type Sender struct {
	cfg       Config
	addr      string
	tlsConfig *tls.Config
	// helo is the name the Sender introduces itself with in EHLO: the machine's host name.
	helo string

	// slots holds one token per connection a Send may use: a Send holds a token while it sends,
	// and only a Send holding one dials, so no more than MaxConnections connections are ever open.
	slots chan struct{}

	mu sync.Mutex
	// idle holds the open connections no Send is using, the most recently used last.
	idle   []*conn
	closed bool
}

var (
	_ delivery.Sender = (*Sender)(nil)
	_ delivery.Stager = (*Sender)(nil)
)

// New checks cfg, fills in its defaults and returns a Sender. It does not connect: the first Send
// does.
func New(cfg Config) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is empty: set spec.smtp.host to the SMTP server's name")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp: port %d is out of range: set spec.smtp.port between 1 and 65535", cfg.Port)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSModeSTARTTLS
	case TLSModeSTARTTLS, TLSModeTLS, TLSModeNone:
	default:
		return nil, fmt.Errorf("smtp: tls mode %q is unknown: use STARTTLS, TLS or None", cfg.TLS)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("smtp: a password is set without a username: the Secret of spec.smtp.authSecretRef needs the key username")
	}
	if cfg.Username != "" && cfg.Password == "" {
		return nil, errors.New("smtp: a username is set without a password: the Secret of spec.smtp.authSecretRef needs the key password")
	}
	if err := checkAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: from: %w: set spec.smtp.from.address to an address such as news@example.co.jp", err)
	}
	if cfg.ReplyTo.Address != "" {
		if err := checkAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("smtp: replyTo: %w: set spec.smtp.replyTo.address to an address such as support@example.co.jp", err)
		}
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnections < 0 {
		return nil, fmt.Errorf("smtp: maxConnections %d must be at least 1", cfg.MaxConnections)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("smtp: timeout %v must be positive", cfg.Timeout)
	}
	if cfg.MessageIDDomain == "" {
		cfg.MessageIDDomain = cfg.From.Address[strings.LastIndexByte(cfg.From.Address, '@')+1:]
	}
	if !validDomain(cfg.MessageIDDomain) {
		return nil, fmt.Errorf("smtp: Message-ID domain %q is not a domain name such as example.co.jp", cfg.MessageIDDomain)
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.Host
	}
	helo, err := os.Hostname()
	if err != nil || helo == "" {
		helo = "localhost"
	}
	return &Sender{
		cfg:       cfg,
		addr:      net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		tlsConfig: tlsConfig,
		helo:      helo,
		slots:     make(chan struct{}, cfg.MaxConnections),
	}, nil
}

// checkAddress accepts a bare address (no display name, no angle brackets) that net/mail parses.
func checkAddress(a Address) error {
	parsed, err := mail.ParseAddress(a.Address)
	if err != nil {
		return fmt.Errorf("address %q is not valid: %w", a.Address, err)
	}
	if parsed.Address != a.Address || parsed.Name != "" {
		return fmt.Errorf("address %q must be a bare address; put the display name in name", a.Address)
	}
	return nil
}

// Send sends one message on a pooled connection and returns the server's queue ID when its reply
// names one. Its errors are *delivery.Failure values.
func (s *Sender) Send(ctx context.Context, m *delivery.Message) (delivery.Receipt, error) {
	staged, err := s.Stage(ctx, m)
	if err != nil {
		return delivery.Receipt{}, err
	}
	return staged.Commit(ctx)
}

// Stage sends a message but for its final dot, on a pooled connection it keeps until Commit or
// Abandon: the server holds the message and has not accepted it. A caller that must record each
// accepted message before the next one is accepted (the ledger) stages the next message while it
// records the last, and commits once the record is durable. Its errors are *delivery.Failure
// values.
func (s *Sender) Stage(ctx context.Context, m *delivery.Message) (delivery.Staged, error) {
	msg, err := s.compose(m)
	if err != nil {
		return nil, &delivery.Failure{Kind: delivery.Permanent, Err: err}
	}
	c, err := s.acquire(ctx)
	if err != nil {
		return nil, &delivery.Failure{Kind: delivery.Transient, Err: err}
	}
	for {
		fresh := c == nil
		if fresh {
			if c, err = s.dial(ctx); err != nil {
				s.release(nil)
				return nil, failure(ctx, err)
			}
		}
		data, err := c.begin(ctx, s.cfg.Timeout, s.cfg.From.Address, m.To, msg)
		if err == nil {
			return &staged{s: s, c: c, data: data}, nil
		}
		if c.usable() {
			s.release(c)
			return nil, failure(ctx, err)
		}
		c.close()
		c = nil
		// A server closes connections it finds idle for too long, and the pool learns it only
		// when it speaks. Nothing was sent before MAIL FROM was accepted, so the message is safe
		// to try once more, on a new connection.
		if fresh || !isStale(err) || contextEnded(ctx) != nil {
			s.release(nil)
			return nil, failure(ctx, err)
		}
	}
}

// staged is a message Stage sent but for its final dot, holding its connection.
type staged struct {
	s    *Sender
	c    *conn
	data io.WriteCloser
	done bool
}

// Commit sends the final dot and returns the server's queue ID when its reply names one; the
// connection goes back to the pool. Its errors are *delivery.Failure values.
func (st *staged) Commit(ctx context.Context) (delivery.Receipt, error) {
	if st.done {
		return delivery.Receipt{}, &delivery.Failure{Kind: delivery.Permanent, Err: errors.New("smtp: the message was committed or abandoned already")}
	}
	st.done = true
	reply, err := st.c.finish(ctx, st.s.cfg.Timeout, st.data)
	if !st.c.usable() {
		st.c.close()
		st.s.release(nil)
	} else {
		st.s.release(st.c)
	}
	if err != nil {
		return delivery.Receipt{}, failure(ctx, err)
	}
	return delivery.Receipt{ProviderMessageID: queueID(reply)}, nil
}

// Abandon drops the message: its DATA section cannot be ended without the server accepting the
// message, so the connection is closed, and the server discards what it holds.
func (st *staged) Abandon() {
	if st.done {
		return
	}
	st.done = true
	st.c.close()
	st.s.release(nil)
}

// failure classifies err, and names the caller's context as the cause when it ended without a
// reply from the server.
func failure(ctx context.Context, err error) *delivery.Failure {
	f := classify(err)
	if f.Kind == delivery.Transient && f.Code == "" {
		if ended := contextEnded(ctx); ended != nil {
			f.Err = fmt.Errorf("%w: %w", ended, err)
		}
	}
	return f
}

// contextEnded returns why ctx ended, or nil. A connection's deadline is the context's when that
// comes first, and its read can time out a moment before the context's own timer fires: a
// deadline in the past counts as ended.
func contextEnded(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// acquire waits for a slot and returns an idle connection, or nil when the holder of the slot
// must dial one.
func (s *Sender) acquire(ctx context.Context) (*conn, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("smtp: wait for one of %d connections to %s: %w", s.cfg.MaxConnections, s.addr, context.Cause(ctx))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		<-s.slots
		return nil, errors.New("smtp: the sender is closed")
	}
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return c, nil
	}
	return nil, nil
}

// release returns a usable connection to the pool (or closes it if the Sender was closed
// meanwhile) and frees the slot.
func (s *Sender) release(c *conn) {
	defer func() { <-s.slots }()
	if c == nil {
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.idle = append(s.idle, c)
	}
	s.mu.Unlock()
	if closed {
		_ = c.quit(s.cfg.Timeout)
	}
}

// Close sends QUIT on every idle connection and closes it; connections in use are closed when
// their Send returns. Sends after Close fail. Only a server's unexpected reply to QUIT is an
// error: a server that already hung up needs no goodbye.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	var errs []error
	for _, c := range idle {
		if err := c.quit(s.cfg.Timeout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("smtp: close connections to %s: %w", s.addr, err)
	}
	return nil
}
