// Package pgtest runs a throwaway PostgreSQL for tests: each [Start] gets a
// cluster of its own, made by initdb in a folder of the test's, served on a
// free loopback port with a socket folder of its own, and stopped when the
// test ends. [Server.Stop], [Server.Kill] and [Server.Start] take it down
// and bring it back on the same port and data, for fault tests.
//
// The binaries are found through `pg_config --bindir`, or in
// /usr/lib/postgresql/<major>/bin. PostgreSQL refuses to run as root, so
// a test running as root runs them as the "postgres" user. When they are
// missing the test fails, saying how to install them, unless
// LAKEHOUSE_TEST_SKIP_PG=1 skips the PostgreSQL tests.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/internal/testproc"
)

// The cluster's fixed settings.
const (
	User     = "lakehouse"
	Password = "lakehouse-test-secret"

	// Install says how to install the PostgreSQL the tests are made for.
	Install = "apt-get install postgresql-15"

	// SkipEnv names the variable that, set to 1, skips the PostgreSQL
	// tests when the binaries are missing.
	SkipEnv = "LAKEHOUSE_TEST_SKIP_PG"

	// readyTimeout bounds initdb and the wait for a started server to
	// accept connections.
	readyTimeout = 60 * time.Second
)

// Server is one PostgreSQL cluster and the postgres process serving it.
type Server struct {
	Addr string // 127.0.0.1:PORT, the same across restarts

	t       testing.TB
	bin     string
	data    string // the cluster's folder
	sockets string // unix_socket_directories
	owner   *syscall.Credential

	run testproc.Runner
	mu  sync.Mutex
	dbs int // databases made so far, to name the next
}

// Start makes and starts a cluster for t, or fails t (or skips it, see
// SkipEnv) when PostgreSQL is not installed. It stops when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		testproc.Missing(t, err, Install, SkipEnv, "PostgreSQL")
	}
	s := &Server{t: t, bin: bin}
	if s.owner, err = owner(); err != nil {
		t.Fatal(err)
	}
	if err := s.initdb(); err != nil {
		t.Fatal(err)
	}
	s.run = testproc.Runner{Name: "postgres", Spawn: s.spawn, Timeout: readyTimeout, Signal: syscall.SIGINT, Grace: 30 * time.Second}
	s.Addr = testproc.OnFreePort(t, "postgres", func(addr string) error {
		s.Addr = addr
		return s.run.Up()
	})
	t.Cleanup(s.Stop)
	return s
}

// BinDir returns the folder of initdb and postgres, or an error saying where
// they were looked for.
func BinDir() (string, error) {
	var dirs []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = append(dirs, matches...)
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL's initdb and postgres are not found (pg_config --bindir, /usr/lib/postgresql/*/bin: %v)", dirs)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// initdb makes the cluster in a fresh folder, owned by the user postgres
// runs as, with User's password for connections over TCP.
func (s *Server) initdb() error {
	base := s.t.TempDir()
	s.data = filepath.Join(base, "data")
	// The socket's path must fit in 107 bytes, which a folder named after a
	// long test may not: it gets a short one of its own.
	sockets, err := os.MkdirTemp("", "pgs")
	if err != nil {
		return err
	}
	s.t.Cleanup(func() { os.RemoveAll(sockets) })
	s.sockets = sockets
	pwfile := filepath.Join(base, "pwfile")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		return err
	}
	for _, p := range []string{s.data, s.sockets, pwfile} {
		if p != pwfile {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		}
		if err := s.own(p); err != nil {
			return err
		}
	}
	cmd := s.command("initdb", "-D", s.data, "-U", User, "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

// Start starts the server again after Stop or Kill, on the same port and
// data, and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.run.Up(); err != nil {
		s.t.Fatalf("restart postgres: %v", err)
	}
}

// spawn is the command of a start, ready once it accepts connections. The
// settings favour speed where no test depends on them; fsync stays on, so
// that what a commit acknowledged is on disk as in production.
func (s *Server) spawn() (*exec.Cmd, func() error) {
	host, port, _ := net.SplitHostPort(s.Addr)
	cmd := s.command("postgres", "-D", s.data,
		"-c", "listen_addresses="+host, "-p", port,
		"-c", "unix_socket_directories="+s.sockets,
		"-c", "max_connections=100",
		"-c", "shared_buffers=16MB",
		"-c", "full_page_writes=off",
		"-c", "autovacuum=off",
		"-c", "log_min_messages=warning",
	)
	dsn := s.dsn("postgres")
	return cmd, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
}

// Stop shuts the server down ("fast": open sessions are ended, what they
// committed stays), if it runs, and waits until it has exited.
func (s *Server) Stop() { s.run.Down() }

// Kill ends the server and every process it forked with SIGKILL, as a
// crash would: what was not committed is lost, and the next Start recovers
// from the write-ahead log.
func (s *Server) Kill() { s.run.Kill() }

// Restart stops the server and starts it again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// CreateDatabase creates a database of a new name and returns its DSN.
func (s *Server) CreateDatabase() string {
	s.t.Helper()
	s.mu.Lock()
	s.dbs++
	name := "db" + strconv.Itoa(s.dbs)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		s.t.Fatalf("connect to postgres at %s: %v", s.Addr, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		s.t.Fatalf("create database %s: %v", name, err)
	}
	return s.dsn(name)
}

// dsn is the URL of database db over TCP, with User's password.
func (s *Server) dsn(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, Password), Host: s.Addr, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// command returns a command running the PostgreSQL binary name as the
// cluster's owner.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.owner}
	}
	return cmd
}
