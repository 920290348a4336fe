// Package mailsink runs Mailpit, a real SMTP server that keeps what it receives and shows it
// through an HTTP API, for tests of code that sends email. It can also fail on purpose (Mailpit's
// "chaos" triggers), require SMTP AUTH, and offer STARTTLS with a certificate the tests trust.
//
// The Mailpit binary is built once from the tools module in hack/tools/mailpit, which pins its
// version, into Kizuna's cache outside the repository; later runs start it in well under a second.
// A test package starts one server in TestMain.
package mailsink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kizuna-dev/kizuna/test/process"
)

// Version is the Mailpit release the tools module pins; the cached binary is keyed by it.
const Version = "v1.27.11"

// toolsModule is the folder, relative to the repository's root, of the Go module that pins Mailpit.
const toolsModule = "hack/tools/mailpit"

// Options shape the server a test needs.
type Options struct {
	// Users, when not empty, makes SMTP AUTH required, with these usernames and passwords. Mailpit
	// then offers PLAIN and LOGIN, and refuses MAIL FROM before AUTH (530). It offers them only
	// after STARTTLS, unless InsecureAuth is set.
	Users map[string]string
	// InsecureAuth lets clients authenticate without TLS: for clients that cannot be made to
	// trust the server's certificate, such as the worker processes of a local cluster.
	InsecureAuth bool
	// STARTTLS makes the server offer STARTTLS with a certificate made for 127.0.0.1;
	// Server.ClientTLSConfig trusts it.
	STARTTLS bool
}

// Server is a running Mailpit.
type Server struct {
	dir      string
	logFile  string
	smtpPort int
	httpPort int
	certPool *x509.CertPool
	http     *http.Client
	// mailpit is the server process, a child of the test process; exited is closed when it ends.
	mailpit *exec.Cmd
	exited  <-chan struct{}
}

// Start builds Mailpit if it is not cached yet and starts it on free loopback ports, with chaos
// (error injection) enabled and no limit on the number of messages it keeps.
func Start(opts Options) (*Server, error) {
	binary, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kizuna-mailsink-")
	if err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	s := &Server{dir: dir, logFile: filepath.Join(dir, "mailpit.log"), http: &http.Client{Timeout: 30 * time.Second}}
	args, err := s.prepare(opts)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if err := s.start(binary, args); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return s, nil
}

// prepare writes the files the options need (password file, certificate) and returns the
// arguments that do not depend on the ports.
func (s *Server) prepare(opts Options) ([]string, error) {
	args := []string{
		"--database", filepath.Join(s.dir, "mailpit.db"),
		"--disable-version-check",
		"--enable-chaos",
		"--max", "0",
		// No reverse DNS lookup of each client: loopback needs none, and a lookup can stall
		// a machine without a resolver.
		"--smtp-disable-rdns",
	}
	if len(opts.Users) > 0 {
		var users strings.Builder
		for name, password := range opts.Users {
			if strings.ContainsAny(name, ": \t\n") || strings.ContainsAny(password, " \t\n") {
				return nil, fmt.Errorf("mailsink: user %q: Mailpit's password file allows no whitespace, and no colon in a name", name)
			}
			fmt.Fprintf(&users, "%s:%s\n", name, password)
		}
		authFile := filepath.Join(s.dir, "smtp-users")
		if err := os.WriteFile(authFile, []byte(users.String()), 0o600); err != nil {
			return nil, fmt.Errorf("mailsink: %w", err)
		}
		args = append(args, "--smtp-auth-file", authFile)
		if opts.InsecureAuth {
			args = append(args, "--smtp-auth-allow-insecure")
		}
	}
	if opts.STARTTLS {
		certFile, keyFile := filepath.Join(s.dir, "smtp.crt"), filepath.Join(s.dir, "smtp.key")
		pool, err := writeCertificate(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		s.certPool = pool
		args = append(args, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile)
	}
	return args, nil
}

// writeCertificate makes a self-signed certificate for 127.0.0.1 and localhost, writes it and
// its key as PEM, and returns a pool that trusts it.
func writeCertificate(certFile, keyFile string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mailsink: certificate key: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailsink"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("mailsink: certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("mailsink: certificate key: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("mailsink: certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// Binary returns the path of the Mailpit binary, building it first when the cache lacks it.
func Binary() (string, error) {
	dir := filepath.Join(cacheDir(), "tools", "mailpit-"+Version)
	binary := filepath.Join(dir, "mailpit")
	if info, err := os.Stat(binary); err == nil && !info.IsDir() {
		return binary, nil
	}
	module, err := findToolsModule()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	// Build under a temporary name and rename: two test packages building at once each get a
	// complete binary, and a build killed halfway leaves nothing that looks finished.
	tmp, err := os.CreateTemp(dir, "mailpit-build-")
	if err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp.Name(), "github.com/axllent/mailpit")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mailsink: build Mailpit %s in %s (it needs the Go module proxy the first time): %w\n%s",
			Version, module, err, out)
	}
	if err := os.Rename(tmp.Name(), binary); err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	return binary, nil
}

// cacheDir is Kizuna's cache folder, chosen as the Makefile chooses it.
func cacheDir() string {
	if dir := os.Getenv("KIZUNA_CACHE_DIR"); dir != "" {
		return dir
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "kizuna")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kizuna-cache")
	}
	return filepath.Join(home, ".cache", "kizuna")
}

// findToolsModule finds hack/tools/mailpit in the repository that holds the working directory:
// go test runs a package's tests in the package's folder.
func findToolsModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	for {
		candidate := filepath.Join(dir, toolsModule)
		if _, err := os.Stat(filepath.Join(candidate, "go.mod")); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("mailsink: no %s/go.mod above the working directory: run the tests from inside the Kizuna repository", toolsModule)
		}
		dir = parent
	}
}

// start starts Mailpit on free ports. Another process may take a port between the moment it is
// found free and Mailpit binding it, so a failed start is tried again on new ports.
func (s *Server) start(binary string, args []string) error {
	var err error
	for range 3 {
		if s.smtpPort, err = process.FreePort(); err != nil {
			return err
		}
		if s.httpPort, err = process.FreePort(); err != nil {
			return err
		}
		if err = s.startOnPorts(binary, args); err == nil {
			return nil
		}
	}
	return err
}

func (s *Server) startOnPorts(binary string, args []string) error {
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("mailsink: %w", err)
	}
	defer log.Close()
	args = append(slices.Clone(args),
		"--smtp", s.SMTPAddr(),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort)))
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	// The kernel stops Mailpit when the test process dies, so no server outlives its tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := process.Start(cmd)
	if err != nil {
		return fmt.Errorf("mailsink: start Mailpit: %w", err)
	}
	s.mailpit, s.exited = cmd, exited
	if err := s.waitReady(30 * time.Second); err != nil {
		_ = s.stopServer()
		return fmt.Errorf("%w\n%s", err, process.Tail(s.logFile, 2048))
	}
	return nil
}

// waitReady waits until both the HTTP API and the SMTP listener answer, or Mailpit has exited,
// or timeout has passed. Mailpit starts the two listeners independently.
func (s *Server) waitReady(timeout time.Duration) error {
	if err := process.WaitReady("Mailpit", s.exited, timeout, 20*time.Millisecond, s.ready); err != nil {
		return fmt.Errorf("mailsink: %w", err)
	}
	return nil
}

func (s *Server) ready(ctx context.Context) error {
	if err := s.do(ctx, http.MethodGet, "/readyz", nil, nil); err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.SMTPAddr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read the SMTP greeting: %w", err)
	}
	if !strings.HasPrefix(greeting, "220") {
		return fmt.Errorf("SMTP greeting %q", strings.TrimSpace(greeting))
	}
	return nil
}

// stopServer asks Mailpit to stop and waits for it to exit.
func (s *Server) stopServer() error {
	if s.mailpit == nil {
		return nil
	}
	if err := process.Stop("Mailpit", s.mailpit, s.exited, syscall.SIGTERM, 30*time.Second); err != nil {
		return fmt.Errorf("mailsink: %w", err)
	}
	return nil
}

// Stop stops Mailpit and removes its files.
func (s *Server) Stop() error {
	return errors.Join(s.stopServer(), os.RemoveAll(s.dir))
}

// Main is a test package's TestMain body when its tests need a server: it starts one with opts,
// stores it in *server for the tests, runs them, stops the server and exits with the tests'
// code, or 1 when the server could not start or stop.
func Main(m interface{ Run() int }, server **Server, opts Options) {
	s, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*server = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// SMTPHost is the host SMTP clients connect to.
func (s *Server) SMTPHost() string { return "127.0.0.1" }

// SMTPPort is the port SMTP clients connect to.
func (s *Server) SMTPPort() int { return s.smtpPort }

// SMTPAddr is host:port of the SMTP listener.
func (s *Server) SMTPAddr() string {
	return net.JoinHostPort(s.SMTPHost(), strconv.Itoa(s.smtpPort))
}

// ClientTLSConfig returns a TLS configuration that trusts the server's certificate, or nil when
// the server was started without STARTTLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.certPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.certPool, MinVersion: tls.VersionTLS12}
}

// Log returns the end of Mailpit's log, for a failing test's message.
func (s *Server) Log() string { return process.Tail(s.logFile, 4096) }

// Address is a mailbox as Mailpit reports it.
type Address struct {
	Name    string
	Address string
}

// Summary is a message in Mailpit's list.
type Summary struct {
	// ID is Mailpit's own ID of the message: the one its SMTP reply "queued as" names.
	ID        string
	MessageID string
	From      *Address
	To        []Address
	ReplyTo   []Address
	Subject   string
	Created   time.Time
	Size      int
}

// ListUnsubscribe is what Mailpit read from the List-Unsubscribe headers.
type ListUnsubscribe struct {
	Header     string
	Links      []string
	Errors     string
	HeaderPost string
}

// Message is one message with its decoded parts and headers.
type Message struct {
	ID              string
	MessageID       string
	From            *Address
	To              []Address
	ReplyTo         []Address
	ReturnPath      string
	Subject         string
	ListUnsubscribe ListUnsubscribe
	// Text and HTML are the decoded text/plain and text/html parts.
	Text string
	HTML string
	Size int
	// Headers holds every header with decoded values, keyed by canonical name.
	Headers map[string][]string
}

// Messages lists every message the server holds, oldest first.
func (s *Server) Messages(ctx context.Context) ([]Summary, error) {
	var list struct {
		Messages []Summary `json:"messages"`
	}
	// limit=0 lists all: the default page is 50.
	if err := s.do(ctx, http.MethodGet, "/api/v1/messages?limit=0", nil, &list); err != nil {
		return nil, err
	}
	sort.SliceStable(list.Messages, func(i, j int) bool { return list.Messages[i].Created.Before(list.Messages[j].Created) })
	return list.Messages, nil
}

// Message returns one message, by Mailpit's ID, with its parts and headers.
func (s *Server) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	if err := s.do(ctx, http.MethodGet, "/api/v1/message/"+url.PathEscape(id), nil, &m); err != nil {
		return nil, err
	}
	if err := s.do(ctx, http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/headers", nil, &m.Headers); err != nil {
		return nil, err
	}
	return &m, nil
}

// Raw returns a message as it was received, headers and MIME body undecoded.
func (s *Server) Raw(ctx context.Context, id string) ([]byte, error) {
	var raw bytes.Buffer
	if err := s.do(ctx, http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/raw", nil, &raw); err != nil {
		return nil, err
	}
	return raw.Bytes(), nil
}

// DeleteMessages deletes every message, so that a test starts from an empty mailbox.
func (s *Server) DeleteMessages(ctx context.Context) error {
	return s.do(ctx, http.MethodDelete, "/api/v1/messages", struct{}{}, nil)
}

// Trigger makes the SMTP server fail a command with ErrorCode (400 to 599) in Probability percent
// of cases (0 to 100).
type Trigger struct {
	ErrorCode   int
	Probability int
}

// Chaos says which SMTP commands fail: MAIL FROM (Sender), RCPT TO (Recipient) and AUTH
// (Authentication, when users are configured). Mailpit replies "<code> Chaos recipient error",
// without an enhanced status code. The zero Chaos fails nothing.
type Chaos struct {
	Sender         Trigger
	Recipient      Trigger
	Authentication Trigger
}

// SetChaos replaces the server's error injection; SetChaos(ctx, Chaos{}) clears it.
func (s *Server) SetChaos(ctx context.Context, c Chaos) error {
	var applied Chaos
	if err := s.do(ctx, http.MethodPut, "/api/v1/chaos", c, &applied); err != nil {
		return err
	}
	if applied.Recipient.Probability != c.Recipient.Probability || applied.Sender.Probability != c.Sender.Probability ||
		applied.Authentication.Probability != c.Authentication.Probability {
		return fmt.Errorf("mailsink: Mailpit applied chaos %+v, not %+v", applied, c)
	}
	return nil
}

// do calls Mailpit's API. A non-nil body is sent as JSON; out, when not nil, receives the JSON
// reply, or the raw reply when it is a *bytes.Buffer.
func (s *Server) do(ctx context.Context, method, path string, body, out any) error {
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("mailsink: %s %s: %w", method, path, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))+path, reqBody)
	if err != nil {
		return fmt.Errorf("mailsink: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("mailsink: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("mailsink: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	switch out := out.(type) {
	case nil:
		return nil
	case *bytes.Buffer:
		_, err = out.ReadFrom(resp.Body)
	default:
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		return fmt.Errorf("mailsink: %s %s: read the reply: %w", method, path, err)
	}
	return nil
}

// Header returns the values of one header, whatever the case of name.
func (m *Message) Header(name string) []string {
	return m.Headers[textproto.CanonicalMIMEHeaderKey(name)]
}
