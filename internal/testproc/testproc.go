// Package testproc runs a server process for tests: it finds a free
// loopback port, starts the process, waits until it answers and stops or
// kills it. internal/s3test and internal/pgtest build on it.
package testproc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreeAddr returns a loopback address with a port that was free just now.
// Another process may take it before the server binds it, so a caller that
// fails to start on it should try another.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Missing handles a server binary that could not be found (err says
// where it was looked for): it skips tb when the environment variable
// skipEnv is 1, and otherwise fails tb saying how to install it. What
// names the tests that need it, e.g. "S3".
func Missing(tb testing.TB, err error, install, skipEnv, what string) {
	tb.Helper()
	if os.Getenv(skipEnv) == "1" {
		tb.Skipf("%v (%s=1 skips the %s tests)", err, skipEnv, what)
	}
	tb.Fatalf("%v; install it with `%s`, or set %s=1 to skip the %s tests", err, install, skipEnv, what)
}

// OnFreePort calls start with a free loopback address until it succeeds,
// and returns that address. A port found free may be taken before the
// server binds it, so it tries three ports before it fails tb.
func OnFreePort(tb testing.TB, name string, start func(addr string) error) string {
	tb.Helper()
	for attempt := 1; ; attempt++ {
		addr := FreeAddr(tb)
		err := start(addr)
		if err == nil {
			return addr
		}
		if attempt == 3 {
			tb.Fatalf("start %s: %v", name, err)
		}
	}
}

// Process is one running server. Its process group is its own, so that
// [Process.Kill] takes down the children it forked too, as a crash of the
// machine would.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	logs *logBuffer
}

// pollEvery is how often Start asks a starting server whether it is ready.
const pollEvery = 20 * time.Millisecond

// Start starts cmd, whose output it keeps for error messages, and waits
// until ready returns nil, polling it every 20ms. It fails when the process
// exits first or timeout passes, with the last answer of ready and the
// process's output; the process is killed then.
func Start(name string, cmd *exec.Cmd, ready func() error, timeout time.Duration) (*Process, error) {
	p := &Process{name: name, cmd: cmd, done: make(chan struct{}), logs: &logBuffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", name, err, p.logs)
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("%s was not ready within %s: %v; its output:\n%s", name, timeout, err, p.logs)
		}
	}
}

// Stop sends sig to the process and waits until it has exited, killing it
// after grace, so that its port is closed when Stop returns.
func (p *Process) Stop(sig os.Signal, grace time.Duration) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL to the process's whole group and waits until the
// process has exited.
func (p *Process) Kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Output returns what the process has written so far.
func (p *Process) Output() string { return p.logs.String() }

// A Runner keeps at most one process of a server running, started on
// demand and stopped or killed, for a test server that goes down and comes
// back on the same port and data.
type Runner struct {
	Name    string
	Spawn   func() (cmd *exec.Cmd, ready func() error) // what each start runs, and how it tells it is ready
	Timeout time.Duration                              // for each start to be ready
	Signal  os.Signal                                  // ends it at Down, which kills it after Grace
	Grace   time.Duration

	mu   sync.Mutex
	proc *Process // nil while stopped
}

// Up starts the server and waits until it is ready, unless it runs.
func (r *Runner) Up() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return fmt.Errorf("%s is already running", r.Name)
	}
	cmd, ready := r.Spawn()
	p, err := Start(r.Name, cmd, ready, r.Timeout)
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// Down stops the server with Signal, if it runs, and waits until it has
// exited.
func (r *Runner) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Stop(r.Signal, r.Grace)
		r.proc = nil
	}
}

// Kill kills the server and what it forked, if it runs (see Process.Kill).
func (r *Runner) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Kill()
		r.proc = nil
	}
}

// logBuffer is a bytes.Buffer that the process's output goroutines and the
// test may use at once.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
