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
// took over.
func (n *node) mcpServer(ctx context.Context, cfg Config, stop func()) (server *mcp.Server, release func(), err error) {
	if n.isOwner() {
		return n.server, func() {}, nil
	}
	g := &guest{cfg: cfg, relay: &progressRelay{calls: map[string]relayedCall{}}}
	if g.cs, err = g.connect(ctx, n); err != nil {
		return nil, nil, fmt.Errorf("connect to the owning mcpd: %w", err)
	}
	if server, err = g.proxy(ctx); err != nil {
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
	cs     *mcp.ClientSession
	taken  *node // what the guest attached to after the first owner went away
	closed bool
}

// connect opens a client session to n: the owner's socket for a guest node,
// or n's own server, in memory, when this process became the owner.
func (g *guest) connect(ctx context.Context, n *node) (*mcp.ClientSession, error) {
	opts := &mcp.ClientOptions{ProgressNotificationHandler: g.relay.forward}
	if !n.isOwner() {
		return connectClient(ctx, &mcp.IOTransport{Reader: n.owner, Writer: n.owner}, "mcpd-guest", opts)
	}
	st, ct := mcp.NewInMemoryTransports()
	if _, err := n.server.Connect(ctx, st, nil); err != nil {
		return nil, err
	}
	return connectClient(ctx, ct, "mcpd-guest", opts)
}

func (g *guest) session() *mcp.ClientSession {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cs
}

// proxy builds the server clients see: the owner's tools and instructions,
// each call sent on the current session.
func (g *guest) proxy(ctx context.Context) (*mcp.Server, error) {
	cs := g.session()
	init := cs.InitializeResult()
	s := mcp.NewServer(init.ServerInfo, &mcp.ServerOptions{Instructions: init.Instructions})
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list the owner's tools: %w", err)
		}
		s.AddTool(t, g.forward)
	}
	return s, nil
}

// forward sends a tool call to the owner, with a progress token of its own
// when the caller gave one.
func (g *guest) forward(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	params := &mcp.CallToolParams{Meta: maps.Clone(req.Params.Meta), Name: req.Params.Name, Arguments: req.Params.Arguments}
	if token := req.Params.GetProgressToken(); token != nil {
		id := g.relay.add(ctx, req.Session, token)
		defer g.relay.remove(id)
		params.SetProgressToken(id)
	}
	res, err := g.session().CallTool(ctx, params)
	if err != nil && ctx.Err() == nil && errors.Is(err, mcp.ErrConnectionClosed) {
		res, err = &mcp.CallToolResult{}, nil
		res.SetError(errors.New("the mcpd that owned the data directory went away during this call, which may or may not have been done; this server is attaching to the data directory again: check, then retry"))
	}
	return res, err
}

// follow waits for the session to the owner to end and attaches again,
// until the guest closes. When no owner can be had, it calls stop.
func (g *guest) follow(ctx context.Context, stop func()) {
	for {
		g.session().Wait()
		if g.isClosed() || ctx.Err() != nil {
			return
		}
		slog.Warn("the owning mcpd went away; attaching to the data directory again")
		if err := g.reattach(ctx); err != nil {
			if !g.isClosed() && ctx.Err() == nil {
				slog.Error("cannot attach to the data directory again; stopping", "err", err)
				stop()
			}
			return
		}
	}
}

// reattach attaches to the data directory and connects, trying again for
// attachTimeout: the next owner may itself be exiting as we connect.
func (g *guest) reattach(ctx context.Context) error {
	deadline := time.Now().Add(attachTimeout)
	for {
		n, err := attach(ctx, g.cfg)
		if err == nil {
			var cs *mcp.ClientSession
			if cs, err = g.connect(ctx, n); err == nil {
				g.mu.Lock()
				old := g.taken
				g.cs, g.taken = cs, n
				g.mu.Unlock()
				if old != nil {
					old.Close()
				}
				slog.Info("attached to the data directory again", "owner", n.isOwner())
				return nil
			}
			n.Close()
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

func (g *guest) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// close releases what the guest attached to after the first owner.
func (g *guest) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.cs.Close()
	if g.taken != nil {
		g.taken.Close()
	}
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
