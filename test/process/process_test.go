package process

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestWaitReadyEndsWhenTheServerIsReadyExitsOrTimesOut(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	exited, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	notReady := func(context.Context) error { return errors.New("connection refused") }
	if err := WaitReady("sh", exited, time.Minute, time.Millisecond, notReady); err == nil || !strings.Contains(err.Error(), "sh exited before it was ready") {
		t.Errorf("a server that exits: %v", err)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("the exited channel closed before the process was waited for: %v", cmd.ProcessState)
	}

	never := make(chan struct{})
	if err := WaitReady("sh", never, 20*time.Millisecond, time.Millisecond, notReady); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a server never ready: %v, want the last readiness error", err)
	}
	calls := 0
	readySecond := func(context.Context) error {
		if calls++; calls < 2 {
			return errors.New("not yet")
		}
		return nil
	}
	if err := WaitReady("sh", never, time.Minute, time.Millisecond, readySecond); err != nil || calls != 2 {
		t.Errorf("a server ready at the second try: %v after %d calls", err, calls)
	}
}

func TestFreePortCanBeBound(t *testing.T) {
	port, err := FreePort()
	if err != nil || port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d, %v", port, err)
	}
}
