package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpServer is the server this process offers its clients: its own as the
// owner, or as a guest a proxy whose tools call the owner's. stop is called
// when a guest can reach no owner any more; release closes what a guest
// took over and returns why it stopped, if it did.
func (n *node) mcpServer(ctx context.Context, cfg Config, stop func()) (server *mcp.Server, release func() error, err error) {
	if n.isOwner() {
		return n.server, func() error { return nil }, nil
	}
	g := &guest{cfg: cfg, relay: &progressRelay{calls: map[string]relayedCall{}}}
	if g.up, err = g.connect(ctx, n); err != nil {
		return nil, nil, fmt.Errorf("connect to the owning mcpd: %w", err)
	}
	if server, err = g.proxy(ctx); err != nil {
		g.close()
		return nil, nil, err
	}
	go g.follow(ctx, stop)
	return server, g.close, nil
}

// A guest serves its clients through a proxy whose tools call the owner of
// the data directory over a client session. When the owner goes away, the
// guest attaches again, as any new process would: it becomes the owner
// itself or connects to the process that did, and its clients carry on. A
// call in flight at that moment fails; it may or may not have been done.
type guest struct {
	cfg   Config
	relay *progressRelay

	mu     sync.Mutex
	up     upstream
	taken  *node // what the guest attached to after the first owner went away
	closed bool
	failed error // why the guest stopped, when no owner could be had
}

// upstream is a client session to the owner, with a channel closed when
// the session ends.
type upstream struct {
	cs   *mcp.ClientSession
	done chan struct{}
}

// connect opens a client session to n and watches for its end.
func (g *guest) connect(ctx context.Context, n *node) (upstream, error) {
	cs, err := n.connect(ctx, g.cfg, "mcpd-guest", &mcp.ClientOptions{ProgressNotificationHandler: g.relay.forward})
	if err != nil {
		return upstream{}, err
	}
	up := upstream{cs: cs, done: make(chan struct{})}
	go func() {
		cs.Wait()
		close(up.done)
	}()
	return up, nil
}

func (g *guest) upstream() upstream {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.up
}

// proxy builds the server clients see: the owner's tools and instructions,
// each call sent on the current session. Of them, a session that may only
// read sees and calls those the owner annotates read-only (see scopeFilter).
func (g *guest) proxy(ctx context.Context) (*mcp.Server, error) {
	cs := g.upstream().cs
	init := cs.InitializeResult()
	s := mcp.NewServer(init.ServerInfo, &mcp.ServerOptions{Instructions: init.Instructions})
	readOnly := map[string]bool{}
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list the owner's tools: %w", err)
		}
		s.AddTool(t, g.forward)
		if t.Annotations != nil && t.Annotations.ReadOnlyHint {
			readOnly[t.Name] = true
		}
	}
	s.AddReceivingMiddleware(scopeFilter(readOnly))
	return s, nil
}

// forward sends a tool call to the owner, with a progress token of its own
// when the caller gave one. A call the owner's exit cut off is a tool error.
func (g *guest) forward(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	params := &mcp.CallToolParams{Meta: maps.Clone(req.Params.Meta), Name: req.Params.Name, Arguments: req.Params.Arguments}
	if token := req.Params.GetProgressToken(); token != nil {
		id := g.relay.add(ctx, req.Session, token)
		defer g.relay.remove(id)
		params.SetProgressToken(id)
	}
	up, err := g.live(ctx)
	if err != nil {
		return toolError(err), nil
	}
	res, err := up.cs.CallTool(ctx, params)
	if err != nil && ctx.Err() == nil && ended(up) {
		return toolError(errors.New("the mcpd that owned the data directory went away during this call, which may or may not have been done; this server is attaching to the data directory again: check, then retry")), nil
	}
	return res, err
}

// live returns the session to the owner, waiting while the guest attaches
// again after the owner went away, so that calls made meanwhile just wait.
func (g *guest) live(ctx context.Context) (upstream, error) {
	deadline := time.Now().Add(2 * attachTimeout)
	for {
		up := g.upstream()
		select {
		case <-up.done:
		default:
			return up, nil
		}
		if g.isClosed() || time.Now().After(deadline) {
			return up, errors.New("no mcpd owns the data directory at the moment, and this server could not take it over; see its log")
		}
		select {
		case <-ctx.Done():
			return up, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func toolError(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(err)
	return &res
}

// ended reports whether up's session has ended, or ends within a moment (a
// call can fail on the broken connection just before the session notices).
func ended(up upstream) bool {
	select {
	case <-up.done:
		return true
	case <-time.After(time.Second):
		return false
	}
}

// follow waits for the session to the owner to end and attaches again,
// until the guest closes. When no owner can be had, it calls stop.
func (g *guest) follow(ctx context.Context, stop func()) {
	for {
		<-g.upstream().done
		if g.isClosed() || ctx.Err() != nil {
			return
		}
		slog.Warn("the session to the owning mcpd ended; attaching to the data directory again")
		if err := g.reattach(ctx); err != nil {
			g.mu.Lock()
			quiet := g.closed || ctx.Err() != nil
			g.failed = fmt.Errorf("cannot attach to the data directory again: %w", err)
			g.mu.Unlock()
			if !quiet {
				slog.Error("stopping", "err", g.failed)
				stop()
			}
			return
		}
	}
}

// reattach connects the guest again: to its own server when this process
// owns the data directory already, else to whatever attach finds, trying
// for attachTimeout, as the next owner may itself be exiting meanwhile.
func (g *guest) reattach(ctx context.Context) error {
	deadline := time.Now().Add(attachTimeout)
	for {
		g.mu.Lock()
		n := g.taken
		g.mu.Unlock()
		var err error
		if n == nil || !n.isOwner() {
			n, err = attach(ctx, g.cfg)
		}
		if err == nil {
			var up upstream
			if up, err = g.connect(ctx, n); err == nil {
				return g.swap(n, up)
			}
			if n != g.taken {
				n.Close()
			}
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// swap makes up the guest's session and n what it attached to, closing the
// node it replaces; after close it closes n and up instead.
func (g *guest) swap(n *node, up upstream) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		up.cs.Close()
		if n != g.taken {
			n.Close()
		}
		return errors.New("closed")
	}
	old := g.taken
	g.up, g.taken = up, n
	g.mu.Unlock()
	if old != nil && old != n {
		old.Close()
	}
	slog.Info("attached to the data directory again", "owner", n.isOwner())
	return nil
}

func (g *guest) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// close releases what the guest attached to after the first owner, and
// returns why the guest stopped, if it did.
func (g *guest) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.up.cs.Close()
	if g.taken != nil {
		g.taken.Close()
	}
	return g.failed
}

// progressRelay carries the owner's progress notifications back to the
// client whose call they are about. Each forwarded call gets a token of its
// own: the proxy's clients choose theirs independently.
type progressRelay struct {
	mu    sync.Mutex
	next  int
	calls map[string]relayedCall
}

// relayedCall is a call whose progress is relayed: its context (which ties
// a notification to the call on streamable HTTP), session and token.
type relayedCall struct {
	ctx     context.Context
	session *mcp.ServerSession
	token   any
}

func (r *progressRelay) add(ctx context.Context, ss *mcp.ServerSession, token any) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	id := fmt.Sprintf("relay-%d", r.next)
	r.calls[id] = relayedCall{ctx: ctx, session: ss, token: token}
	return id
}

func (r *progressRelay) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.calls, id)
}

func (r *progressRelay) forward(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	id, _ := req.Params.ProgressToken.(string)
	r.mu.Lock()
	call, ok := r.calls[id]
	r.mu.Unlock()
	if !ok || call.session == nil {
		return
	}
	p := *req.Params
	p.ProgressToken = call.token
	call.session.NotifyProgress(call.ctx, &p)
}
