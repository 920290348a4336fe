package process

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
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

func TestStopSignalsThenKills(t *testing.T) {
	polite := exec.Command("/bin/sleep", "30")
	exited, err := Start(polite)
	if err != nil {
		t.Fatal(err)
	}
	if err := Stop("sleep", polite, exited, syscall.SIGTERM, time.Minute); err != nil {
		t.Errorf("a server that stops on its signal: %v", err)
	}

	stubborn := exec.Command("/bin/sh", "-c", `trap "" TERM; echo ready; while :; do sleep 1; done`)
	out, err := stubborn.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	exited, err = Start(stubborn)
	if err != nil {
		t.Fatal(err)
	}
	// Only once it says so has the shell set its trap.
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the shell said %q, %v", line, err)
	}
	if err := Stop("sh", stubborn, exited, syscall.SIGTERM, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed it") {
		t.Errorf("a server that ignores its signal: %v, want it killed", err)
	}
	select {
	case <-exited:
	default:
		t.Error("Stop returned before the killed server exited")
	}
}
