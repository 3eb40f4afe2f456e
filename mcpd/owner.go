package main

// Sharing one data directory between processes.
//
// The first mcpd to start on a data directory takes an exclusive flock on
// DATA/mcpd.lock, opens the engines, and serves MCP on the unix socket
// DATA/mcpd.sock besides its own transport. A later mcpd fails to take the
// lock and forwards its traffic to that socket instead of opening any file of
// the data directory itself: a server through a proxy of the owner's tools
// (see guest.go), `mcpd call` as an MCP client. The kernel drops the lock
// when the owner exits, however it exits; its guests then attach again, and
// the first to take the lock becomes the owner of the others.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/internal/disk"
)

// attachTimeout bounds how long a process waits to become the owner or reach
// one (an owner may be starting or exiting at that moment).
const attachTimeout = 15 * time.Second

// node is this process's place on a data directory: the owner (engines set)
// or a guest with a connection to the owner.
type node struct {
	engines *engines
	lock    *disk.File
	ln      net.Listener
	server  *mcp.Server

	owner net.Conn // for a guest

	mu    sync.Mutex
	conns map[net.Conn]bool // the owner's socket connections; nil once closing
}

// attach makes this process the owner of cfg.DataDir, or connects it to the owner.
func attach(ctx context.Context, cfg Config) (*node, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lockPath := filepath.Join(cfg.DataDir, "mcpd.lock")
	sockPath := filepath.Join(cfg.DataDir, "mcpd.sock")
	deadline := time.Now().Add(attachTimeout)
	for {
		lock, err := tryLock(lockPath)
		if err != nil {
			return nil, err
		}
		if lock != nil {
			return becomeOwner(ctx, cfg, lock, sockPath)
		}
		if conn, err := net.Dial("unix", sockPath); err == nil {
			slog.Info("data directory is owned by another mcpd; forwarding to it", "owner_pid", readPID(lockPath), "socket", sockPath)
			return &node{owner: conn}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("data directory %s is locked by process %s, but its socket %s does not answer", cfg.DataDir, readPID(lockPath), sockPath)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tryLock takes the exclusive lock, or returns nil when another process
// holds it. The lock file is opened beneath the data directory refusing
// links, so a planted link cannot make it truncate a file elsewhere.
func tryLock(path string) (*disk.File, error) {
	dir, err := disk.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	defer dir.Close()
	f, err := dir.OpenFile(filepath.Base(path), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is for messages only; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readPID(lockPath string) string {
	dir, err := disk.Open(filepath.Dir(lockPath))
	if err != nil {
		return "?"
	}
	defer dir.Close()
	b, err := dir.ReadFile(filepath.Base(lockPath))
	if err != nil || len(b) == 0 || len(b) > 32 {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func becomeOwner(ctx context.Context, cfg Config, lock *disk.File, sockPath string) (*node, error) {
	e, err := openEngines(ctx, cfg)
	if err != nil {
		lock.Close()
		return nil, err
	}
	n := &node{engines: e, lock: lock, server: newServer(e.backends, cfg.MCP.fences(cfg.Server.HTTP != "")), conns: map[net.Conn]bool{}}
	// A socket file left by an owner that died is stale: we hold the lock.
	os.Remove(sockPath)
	if n.ln, err = net.Listen("unix", sockPath); err != nil {
		n.Close()
		return nil, fmt.Errorf("listen on %s: %w", sockPath, err)
	}
	go n.serveSocket(maxLine(cfg))
	return n, nil
}

// serveSocket serves one MCP session per connection until the listener
// closes, keeping the connections so that Close can end them.
func (n *node) serveSocket(maxLineLength int) {
	for {
		conn, err := n.ln.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		if n.conns == nil { // closing
			n.mu.Unlock()
			conn.Close()
			return
		}
		n.conns[conn] = true
		n.mu.Unlock()
		go func() {
			defer func() {
				n.mu.Lock()
				delete(n.conns, conn)
				n.mu.Unlock()
				conn.Close()
			}()
			ss, err := n.server.Connect(context.Background(), &mcp.IOTransport{Reader: conn, Writer: conn, MaxLineLength: maxLineLength}, nil)
			if err != nil {
				slog.Warn("socket session", "err", err)
				return
			}
			ss.Wait()
		}()
	}
}

// connect opens an MCP client session to the data directory's server,
// introducing itself as name: over a pipe to this process's own server for
// the owner, over the socket for a guest. Either way it takes messages as
// large as the socket does.
func (n *node) connect(ctx context.Context, cfg Config, name string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	limit := maxLine(cfg)
	conn := n.owner
	if n.isOwner() {
		var serverEnd net.Conn
		conn, serverEnd = net.Pipe()
		if _, err := n.server.Connect(ctx, &mcp.IOTransport{Reader: serverEnd, Writer: serverEnd, MaxLineLength: limit}, nil); err != nil {
			conn.Close()
			return nil, err
		}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: version}, opts)
	return c.Connect(ctx, &mcp.IOTransport{Reader: conn, Writer: conn, MaxLineLength: limit}, nil)
}

// isOwner reports whether this process owns the data directory.
func (n *node) isOwner() bool { return n.engines != nil }

// health is what /health reports of the services beyond the machine: those
// of the engines, when this node owns them.
func (n *node) health(ctx context.Context) healthReport {
	if n.engines == nil {
		return healthReport{}
	}
	return n.engines.health(ctx)
}

// Close stops serving the socket and ends its sessions, so that guests
// attach again at once rather than reach closed engines; then it closes the
// engines and releases the lock.
func (n *node) Close() error {
	if n.owner != nil {
		return n.owner.Close()
	}
	if n.ln != nil {
		n.ln.Close()
	}
	n.mu.Lock()
	for conn := range n.conns {
		conn.Close()
	}
	n.conns = nil
	n.mu.Unlock()
	err := n.engines.Close()
	n.lock.Close()
	return err
}

// maxLine is the largest JSON-RPC message accepted: room for an object of the
// configured size sent base64-encoded, plus the envelope.
func maxLine(cfg Config) int {
	return int(cfg.Objects.MaxBytes/3*4) + 1<<20
}
