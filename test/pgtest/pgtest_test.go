package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestServerGivesEachDatabaseItsOwnTables(t *testing.T) {
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Stop()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, db := range []string{"first", "second-with-dash"} {
		if err := srv.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.CreateDatabase("first"); err == nil {
		t.Fatal("creating a database twice succeeded")
	}

	first, err := pgx.Connect(ctx, srv.DSN("first"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(ctx)
	if _, err := first.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	second, err := pgx.Connect(ctx, srv.DSN("second-with-dash"))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctx)
	_, err = second.Exec(ctx, "SELECT x FROM t")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("table of database first seen from database second: got %v, want undefined_table", err)
	}

	var fsync, encoding string
	if err := first.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('server_encoding')").Scan(&fsync, &encoding); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" || encoding != "UTF8" {
		t.Errorf("fsync=%s encoding=%s, want off and UTF8", fsync, encoding)
	}

	dir := srv.dir
	first.Close(ctx)
	second.Close(ctx)
	stopped = true
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server's folder %s is still there after Stop: %v", dir, err)
	}
	if conn, err := pgx.Connect(ctx, srv.DSN("first")); err == nil {
		conn.Close(ctx)
		t.Error("the server still accepts connections after Stop")
	}
}

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	makeBinDir := func(version string, programs ...string) string {
		dir := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range programs {
			if err := os.WriteFile(filepath.Join(dir, p), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	pattern := filepath.Join(root, "*", "bin")

	if _, err := findBinDir("", pattern); err == nil || !strings.Contains(err.Error(), "install Debian's postgresql package") {
		t.Fatalf("no binaries: got %v, want an error that says to install Debian's postgresql package", err)
	}

	makeBinDir("9", "initdb", "postgres")
	v15 := makeBinDir("15", "initdb", "postgres")
	makeBinDir("16", "initdb") // no server
	got, err := findBinDir("", pattern)
	if err != nil || got != v15 {
		t.Fatalf("findBinDir = %q, %v; want the newest complete one, %q", got, err, v15)
	}

	if got, err := findBinDir(v15, filepath.Join(root, "none", "*")); err != nil || got != v15 {
		t.Fatalf("with %s set: findBinDir = %q, %v; want %q", BinDirEnv, got, err, v15)
	}
	if _, err := findBinDir(filepath.Join(root, "16", "bin"), pattern); err == nil {
		t.Fatalf("with %s naming a folder without postgres: no error", BinDirEnv)
	}
}

// childEnv makes the test binary, run again, start a server, print its DSN and folder, and wait
// to be killed.
const childEnv = "PGTEST_CHILD"

func TestServerDiesWithItsTestProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		srv, err := Start()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(srv.DSN("postgres"))
		fmt.Println(srv.dir)
		select {}
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithItsTestProcess$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var dsn, dir string
	if lines.Scan() {
		dsn = lines.Text()
	}
	if lines.Scan() {
		dir = lines.Text()
	}
	if !strings.HasPrefix(dsn, "postgres://") || dir == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the child printed %q and %q, want a DSN and a folder", dsn, dir)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the child's server: %v", err)
	}
	conn.Close(ctx)

	// A test process killed outright (a timeout, SIGKILL) runs no cleanup at all.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			break
		}
		conn.Close(ctx)
		select {
		case <-ctx.Done():
			t.Fatal("the server still accepts connections a minute after its test process died")
		case <-poll.C:
		}
	}
}
