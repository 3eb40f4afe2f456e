package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveStdio serves MCP on stdin/stdout until the client closes stdin.
func serveStdio(ctx context.Context, cfg Config, n *node) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	server, release, err := n.mcpServer(ctx, cfg, stop)
	if err != nil {
		return err
	}
	err = server.Run(ctx, &mcp.StdioTransport{MaxLineLength: maxLine(cfg)})
	if failed := release(); failed != nil {
		return failed
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
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
	server, release, err := n.mcpServer(ctx, cfg, stop)
	if err != nil {
		return err
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
		release()
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
	err = srv.Serve(ln)
	if failed := release(); failed != nil {
		return failed
	}
	if !errors.Is(err, http.ErrServerClosed) {
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
