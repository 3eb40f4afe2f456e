package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveStdio serves MCP on stdin/stdout until the client closes stdin. A guest
// copies the bytes to and from the owner's socket, so the client talks to the
// owner's server directly.
func serveStdio(ctx context.Context, cfg Config, n *node) error {
	if n.isOwner() {
		err := n.server.Run(ctx, &mcp.StdioTransport{MaxLineLength: maxLine(cfg)})
		if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(n.owner, os.Stdin)
		// Tell the owner this client is gone; it then ends the session and
		// closes its side, which ends the copy below.
		n.owner.(*net.UnixConn).CloseWrite()
		done <- err
	}()
	go func() {
		_, err := io.Copy(os.Stdout, n.owner)
		done <- err
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return err
	}
}

// serveHTTP serves streamable HTTP at /mcp, SSE at /sse and GET /health on
// addr until ctx ends.
func serveHTTP(ctx context.Context, cfg Config, n *node, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: want host:port, e.g. 127.0.0.1:3110", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) && cfg.Server.AuthToken == "" {
		return fmt.Errorf("--http %s is not a loopback address: anyone who can reach it could read and change your data. Set server.auth_token (or LAKEHOUSE_SERVER_AUTH_TOKEN) to require a bearer token, or bind 127.0.0.1", addr)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	server := n.server
	if !n.isOwner() {
		if server, err = proxyServer(ctx, n.owner, stop); err != nil {
			return err
		}
	}
	getServer := func(*http.Request) *mcp.Server { return server }
	body := int64(maxLine(cfg))
	mux := http.NewServeMux()
	mux.Handle("/mcp", requireToken(cfg.Server.AuthToken, mcp.NewStreamableHTTPHandler(getServer,
		&mcp.StreamableHTTPOptions{Stateless: cfg.Server.Stateless, MaxRequestBodyBytes: body})))
	mux.Handle("/sse", requireToken(cfg.Server.AuthToken, mcp.NewSSEHandler(getServer, &mcp.SSEOptions{MaxRequestBodyBytes: body})))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"status": "ok", "service": "mcpd", "version": version})
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "mcpd listening on http://%s: streamable HTTP at /mcp, SSE at /sse, health at /health\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// requireToken lets a request through only with "Authorization: Bearer token";
// an empty token lets everything through (loopback only, see serveHTTP).
func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpd"`)
			http.Error(w, "missing or wrong bearer token (server.auth_token)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// proxyServer is an MCP server whose tools are those of the owner, reached
// through one client session on conn. A guest serves it over HTTP. gone is
// called when the owner goes away.
func proxyServer(ctx context.Context, conn net.Conn, gone func()) (*mcp.Server, error) {
	relay := &progressRelay{calls: map[string]relayedCall{}}
	cs, err := connectClient(ctx, &mcp.IOTransport{Reader: conn, Writer: conn}, "mcpd-guest",
		&mcp.ClientOptions{ProgressNotificationHandler: relay.forward})
	if err != nil {
		return nil, fmt.Errorf("connect to the owning mcpd: %w", err)
	}
	init := cs.InitializeResult()
	s := mcp.NewServer(init.ServerInfo, &mcp.ServerOptions{Instructions: init.Instructions})
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list the owner's tools: %w", err)
		}
		s.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			params := &mcp.CallToolParams{Meta: maps.Clone(req.Params.Meta), Name: req.Params.Name, Arguments: req.Params.Arguments}
			if token := req.Params.GetProgressToken(); token != nil {
				params.SetProgressToken(relay.add(ctx, req.Session, token))
				defer relay.remove(params.GetProgressToken().(string))
			}
			return cs.CallTool(ctx, params)
		})
	}
	go func() {
		cs.Wait()
		slog.Error("the owning mcpd went away; stopping (start mcpd again to take over the data directory)")
		gone()
	}()
	return s, nil
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

// connectClient opens an MCP client session on t, introducing itself as name.
func connectClient(ctx context.Context, t mcp.Transport, name string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: version}, opts)
	return c.Connect(ctx, t, nil)
}
