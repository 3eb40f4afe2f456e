package main

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestHTTP_BothRevisions: on /mcp, stateful or stateless, a client of the
// stateless revision 2026-07-28 (go-sdk's default) and a 2025-06-18 client
// each get their own revision and call the same tools.
func TestHTTP_BothRevisions(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		base := gatewayBase(t, func(c *Config) { c.Server.Stateless = stateless })
		for _, revision := range []string{"2026-07-28", "2025-06-18"} {
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(),
				&mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: revision})
			if err != nil {
				t.Fatalf("stateless %v, %s client: %v", stateless, revision, err)
			}
			if got := cs.InitializeResult().ProtocolVersion; got != revision {
				t.Errorf("stateless %v, %s client: negotiated %s", stateless, revision, got)
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": "SELECT 42"}})
			if err != nil || res.IsError {
				t.Errorf("stateless %v, %s client: query_sql: %v %v", stateless, revision, err, res)
			}
			cs.Close()
		}
	}
}
