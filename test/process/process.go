// Package process starts the servers that tests run beside them (PostgreSQL, Mailpit,
// smtp-sink) so that none outlives its tests, and waits until they are ready.
package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// Start starts cmd, whose SysProcAttr sets the Pdeathsig the server should get when the test
// process dies, and returns a channel closed when it has exited. The kernel sends Pdeathsig when
// the thread that started the child ends, and Go may end idle threads: the child is started and
// waited for on a goroutine that keeps its thread until the child has exited.
func Start(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
	started := make(chan error)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}

// WaitReady calls ready every interval until it succeeds, the server has exited, or timeout has
// passed. name is the server's, for the errors.
func WaitReady(name string, exited <-chan struct{}, timeout, interval time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	poll := time.NewTicker(interval)
	defer poll.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready", name)
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready within %v: %w", name, timeout, err)
		case <-poll.C:
		}
	}
}

// FreePort returns a loopback TCP port that was free a moment ago. Another process may take it
// before the server binds it: callers try again on a new port when the start fails.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Tail returns the last n bytes of a file, for an error that shows a server's log; "" when the
// file cannot be read.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop sends the server started by Start the signal that stops it cleanly and waits for it to
// exit; after grace it kills the server and says so. name is the server's, for the errors.
func Stop(name string, cmd *exec.Cmd, exited <-chan struct{}, sig os.Signal, grace time.Duration) error {
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop within %v; killed it", name, grace)
	}
}
