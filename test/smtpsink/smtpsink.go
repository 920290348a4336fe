// Package smtpsink runs Postfix's smtp-sink for tests and benchmarks: an SMTP server that accepts
// messages as fast as it can read them and throws them away, so that a benchmark measures the
// client. It can also hang up on chosen commands without replying, the case where a client cannot
// know whether its message was accepted.
//
// smtp-sink comes with Debian's postfix package; hack/ensure-smtp-sink.sh installs it.
package smtpsink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kizuna-dev/kizuna/test/process"
)

// ErrNotInstalled is returned when no smtp-sink program is found.
var ErrNotInstalled = errors.New("smtpsink: Postfix's smtp-sink is not installed: run hack/ensure-smtp-sink.sh " +
	"(or apt-get install postfix)")

// Options shape the server.
type Options struct {
	// DisconnectAfter names SMTP commands after which the server hangs up without replying
	// (smtp-sink -q), such as "." for the end of a message's data.
	DisconnectAfter []string
	// HardReject names SMTP commands the server refuses with HardReply (smtp-sink -f and -B),
	// SoftReject those it refuses with SoftReply (-r and -b), such as "rcpt".
	HardReject, SoftReject []string
	HardReply, SoftReply   string
}

// Server is a running smtp-sink.
type Server struct {
	port    int
	logFile string
	dir     string
	sink    *exec.Cmd
	exited  <-chan struct{}
}

// Binary returns the path of smtp-sink, or ErrNotInstalled.
func Binary() (string, error) {
	if path, err := exec.LookPath("smtp-sink"); err == nil {
		return path, nil
	}
	// Debian installs it in /usr/sbin, which a user's PATH may lack.
	const debianPath = "/usr/sbin/smtp-sink"
	if info, err := os.Stat(debianPath); err == nil && !info.IsDir() {
		return debianPath, nil
	}
	return "", ErrNotInstalled
}

// Start starts smtp-sink on a free loopback port.
func Start(opts Options) (*Server, error) {
	binary, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kizuna-smtpsink-")
	if err != nil {
		return nil, fmt.Errorf("smtpsink: %w", err)
	}
	s := &Server{dir: dir, logFile: filepath.Join(dir, "smtp-sink.log")}
	var args []string
	if os.Geteuid() == 0 {
		// smtp-sink refuses to keep root's privileges after it has opened its socket.
		args = append(args, "-u", "nobody")
	}
	if len(opts.DisconnectAfter) > 0 {
		args = append(args, "-q", strings.Join(opts.DisconnectAfter, ","))
	}
	if len(opts.HardReject) > 0 {
		args = append(args, "-f", strings.Join(opts.HardReject, ","))
	}
	if opts.HardReply != "" {
		args = append(args, "-B", opts.HardReply)
	}
	if len(opts.SoftReject) > 0 {
		args = append(args, "-r", strings.Join(opts.SoftReject, ","))
	}
	if opts.SoftReply != "" {
		args = append(args, "-b", opts.SoftReply)
	}
	for range 3 {
		if s.port, err = process.FreePort(); err != nil {
			break
		}
		// The backlog of 1000 connections is the one Postfix's own benchmarks use.
		if err = s.startOn(binary, append(args, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), "1000")); err == nil {
			return s, nil
		}
	}
	return nil, errors.Join(err, os.RemoveAll(dir))
}

func (s *Server) startOn(binary string, args []string) error {
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("smtpsink: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	// The kernel stops smtp-sink when the test process dies, so none outlives its tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := process.Start(cmd)
	if err != nil {
		return fmt.Errorf("smtpsink: start %s: %w", binary, err)
	}
	s.sink, s.exited = cmd, exited
	if err := s.waitReady(10 * time.Second); err != nil {
		_ = s.stopServer()
		log, _ := os.ReadFile(s.logFile)
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// waitReady waits for the greeting, which smtp-sink sends once it listens.
func (s *Server) waitReady(timeout time.Duration) error {
	if err := process.WaitReady("smtp-sink", s.exited, timeout, 10*time.Millisecond, s.greets); err != nil {
		return fmt.Errorf("smtpsink: %w", err)
	}
	return nil
}

func (s *Server) greets(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(greeting, "220") {
		return fmt.Errorf("greeting %q", strings.TrimSpace(greeting))
	}
	_, err = conn.Write([]byte("QUIT\r\n"))
	return err
}

func (s *Server) stopServer() error {
	if s.sink == nil {
		return nil
	}
	if err := process.Stop("smtp-sink", s.sink, s.exited, syscall.SIGTERM, 10*time.Second); err != nil {
		return fmt.Errorf("smtpsink: %w", err)
	}
	return nil
}

// Stop stops smtp-sink and removes its files.
func (s *Server) Stop() error {
	return errors.Join(s.stopServer(), os.RemoveAll(s.dir))
}

// Host is the host SMTP clients connect to.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the port SMTP clients connect to.
func (s *Server) Port() int { return s.port }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }
