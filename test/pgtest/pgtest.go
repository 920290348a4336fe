// Package pgtest runs a throwaway PostgreSQL server for tests: the machines Kizuna is built on have
// PostgreSQL's binaries (Debian's postgresql package) but no server running and no Docker. A test
// package starts one server in TestMain and gives each test a database of its own.
//
// The server trades durability for speed (fsync off): its data lives in a temporary folder that
// Stop removes.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kizuna-dev/kizuna/test/process"
)

// Server is a running PostgreSQL server, reachable on a loopback port by the superuser postgres
// without a password.
type Server struct {
	binDir  string
	dir     string
	dataDir string
	logFile string
	port    int
	// cred runs PostgreSQL's programs as the postgres user when the tests run as root: initdb and
	// postgres refuse to run as root.
	cred *syscall.Credential
	// postgres is the server process, a child of the test process; exited is closed when it ends.
	postgres *exec.Cmd
	exited   <-chan struct{}
}

// superuser is the database superuser initdb creates.
const superuser = "postgres"

// BinDirEnv names a folder holding initdb and postgres, for machines where they live elsewhere
// than Debian puts them.
const BinDirEnv = "KIZUNA_PG_BINDIR"

// debianBinDirs is where Debian's postgresql package installs the server's programs, one folder
// per major version.
const debianBinDirs = "/usr/lib/postgresql/*/bin"

// Start creates a database cluster in a temporary folder with initdb and starts a server on a
// free loopback port. It fails, rather than letting tests skip, when PostgreSQL is not installed:
// a suite that silently skips its PostgreSQL half proves nothing about it.
//
// The server runs as a child of the test process, not daemonized by pg_ctl: the kernel stops it
// when the test process dies (a timeout, a panic, a kill), so no server outlives its tests, still
// busy with a query nobody waits for.
func Start() (*Server, error) {
	binDir, err := findBinDir(os.Getenv(BinDirEnv), debianBinDirs)
	if err != nil {
		return nil, err
	}
	s := &Server{binDir: binDir}
	if s.cred, err = credential(); err != nil {
		return nil, err
	}
	if s.dir, err = os.MkdirTemp("", "kizuna-pgtest-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s.dataDir = filepath.Join(s.dir, "data")
	s.logFile = filepath.Join(s.dir, "postgres.log")
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, errors.Join(fmt.Errorf("pgtest: give %s to the postgres user: %w", s.dir, err), os.RemoveAll(s.dir))
		}
	}
	if err := s.run("initdb", "--pgdata", s.dataDir, "--username", superuser, "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions"); err != nil {
		return nil, errors.Join(err, os.RemoveAll(s.dir))
	}
	if err := s.start(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(s.dir))
	}
	return s, nil
}

// findBinDir returns the folder of initdb and postgres: override when set, else the newest version
// among the folders matching pattern.
func findBinDir(override, pattern string) (string, error) {
	if override != "" {
		if !hasServerBinaries(override) {
			return "", fmt.Errorf("pgtest: %s=%s holds no initdb and postgres", BinDirEnv, override)
		}
		return override, nil
	}
	dirs, _ := filepath.Glob(pattern)
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !hasServerBinaries(d) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("pgtest: PostgreSQL's server programs (initdb, postgres) are not in %s: "+
			"install Debian's postgresql package (apt-get install postgresql), or set %s to their folder",
			pattern, BinDirEnv)
	}
	// The major version is the folder above bin: prefer the newest.
	slices.SortFunc(dirs, func(a, b string) int { return majorVersion(a) - majorVersion(b) })
	return dirs[len(dirs)-1], nil
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.IsDir() {
			return false
		}
	}
	return true
}

func majorVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// credential returns who PostgreSQL's programs must run as: nil for the current user, the
// postgres user when the current user is root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, PostgreSQL must run as the postgres user, "+
			"which Debian's postgresql package creates (apt-get install postgresql): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// run runs one of PostgreSQL's programs and returns its output in the error when it fails.
func (s *Server) run(program string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.binDir, program), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s %s: %w\n%s", program, strings.Join(args, " "), err, out.String())
	}
	return nil
}

// start starts the server on a free port. Another process may take the port between the moment
// it is found free and the server binding it, so a failed start is tried again on a new port.
func (s *Server) start() error {
	var err error
	for range 3 {
		if s.port, err = process.FreePort(); err != nil {
			return err
		}
		if err = s.startOnPort(); err == nil {
			return nil
		}
	}
	return err
}

func (s *Server) startOnPort() error {
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer log.Close()
	// The socket folder is the data folder: short enough for a socket path, and the postgres
	// user may write there.
	cmd := exec.Command(filepath.Join(s.binDir, "postgres"), "-D", s.dataDir,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(s.port), "-k", s.dataDir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = log, log
	// SIGQUIT is PostgreSQL's immediate shutdown: the server stops its backends and frees its
	// shared memory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	exited, err := process.Start(cmd)
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.postgres, s.exited = cmd, exited
	if err := s.waitReady(60 * time.Second); err != nil {
		_ = s.stopServer()
		return fmt.Errorf("%w\n%s", err, process.Tail(s.logFile, 2048))
	}
	return nil
}

// waitReady waits until the server accepts connections, or has exited, or timeout has passed.
// The server says nothing when it is ready, so connecting is the way to know.
func (s *Server) waitReady(timeout time.Duration) error {
	if err := process.WaitReady("postgres", s.exited, timeout, 20*time.Millisecond, s.connects); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// connects tells whether the server accepts connections.
func (s *Server) connects(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// stopServer asks the server for a fast shutdown and waits for it to exit.
func (s *Server) stopServer() error {
	if s.postgres == nil {
		return nil
	}
	if err := process.Stop("postgres", s.postgres, s.exited, syscall.SIGINT, time.Minute); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// DSN returns the connection string of a database on the server.
func (s *Server) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates an empty database, so that each test starts from nothing.
func (s *Server) CreateDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return nil
}

// Stop stops the server and removes its data.
func (s *Server) Stop() error {
	return errors.Join(s.stopServer(), os.RemoveAll(s.dir))
}

// Main is a test package's TestMain body when its tests need a server: it starts one, stores it
// in *server for the tests, runs them, stops the server and exits with the tests' code, or 1
// when the server could not start or stop.
func Main(m interface{ Run() int }, server **Server) {
	s, err := Start()
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
