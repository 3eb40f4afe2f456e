package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"lakehouse/tools"
	"lakehouse/tools/gateway"
)

// gatewayHandler is the REST gateway at /v1 of cfg, or nil when it is off.
// It serves the engines of the process that owns the data directory; a
// guest, whose tools are calls to the owner, answers /v1 with 503 and
// where to go instead.
func (n *node) gatewayHandler(cfg Config) http.Handler {
	gc := cfg.Gateway
	if !gc.Enabled {
		return nil
	}
	if !n.isOwner() {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"error": "this mcpd shares its data directory with the mcpd that owns it (" + cfg.DataDir + "), which serves the REST gateway; call /v1 on the owner's --http address, or /mcp here"})
		})
	}
	b := n.engines.backends
	all := tools.All(b)
	if cfg.Auth.ReadOnly { // the tools that change data are not there at all
		all = slices.DeleteFunc(all, func(t tools.Tool) bool { return !t.ReadOnly() })
	}
	g := &gateway.Gateway{
		Tools: all, Backends: b,
		MaxBodyBytes: gc.MaxBodyBytes, MaxJSONBytes: gc.MaxJSONBytes, MaxWrites: gc.MaxWrites,
		RequestTimeout: millis(gc.RequestTimeoutMS),
		Permit:         permit, // a reader calls and lists only read-only tools
	}
	if b.Observer != nil {
		g.Watch = func(ctx context.Context, tool string, args json.RawMessage) (context.Context, func(error)) {
			return tools.Watch(ctx, b.Observer, "rest", tool, args)
		}
	}
	return g.Handler()
}
