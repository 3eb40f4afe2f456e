package tools

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/sqlengine"
)

// noViews is a catalog without datasets.
type noViews struct{}

func (noViews) Views() (uint64, []sqlengine.View) { return 1, nil }

// sqlSession serves query_sql over an engine with one query slot to an
// in-memory client, whose progress notifications go to progress.
func sqlSession(t *testing.T, progress chan<- *mcp.ProgressNotificationParams) *mcp.ClientSession {
	t.Helper()
	dir := t.TempDir()
	e, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "tmp"), MaxConns: 1, Threads: 1}, dir, noViews{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return connect(t, sqlTools(&Backends{SQL: e}), &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) { progress <- req.Params },
	})
}

// TestQuerySQL_WaitsForSlot holds the one query slot with an endless query
// while a second waits: the waiting call sends progress, and a third call
// whose timeout ends while it waits fails with the busy-slots message.
func TestQuerySQL_WaitsForSlot(t *testing.T) {
	progress := make(chan *mcp.ProgressNotificationParams, 100)
	cs := sqlSession(t, progress)

	const endless = "SELECT count(*) FROM range(1000000000000) a, range(1000000) b"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, token := range []string{"first", "second"} {
		params := &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": endless, "timeout_ms": 120000}}
		params.SetProgressToken(token)
		wg.Go(func() { cs.CallTool(ctx, params) })
	}
	defer wg.Wait()
	defer cancel()

	// One of the two waits for the slot the other holds, and says so.
	p := <-progress
	if !strings.Contains(p.Message, "waiting for a query slot: the one query slot is busy") {
		t.Errorf("progress %q (token %v)", p.Message, p.ProgressToken)
	}

	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": "SELECT 1", "timeout_ms": 50}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !res.IsError || !strings.Contains(text, "the one query slot is busy (sql.max_conns)") || !strings.Contains(text, "raise sql.max_conns") {
		t.Errorf("query_sql while the slot is busy = %q (error %v)", text, res.IsError)
	}
}

// TestQuerySQL_TimeoutCeiling checks the bound on timeout_ms.
func TestQuerySQL_TimeoutCeiling(t *testing.T) {
	cs := sqlSession(t, make(chan *mcp.ProgressNotificationParams, 1))
	for _, tc := range []struct {
		timeout int
		isError bool
	}{{maxTimeoutMS, false}, {maxTimeoutMS + 1, true}} {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": "SELECT 1", "timeout_ms": tc.timeout}})
		if err != nil {
			t.Fatal(err)
		}
		if text := res.Content[0].(*mcp.TextContent).Text; res.IsError != tc.isError || tc.isError && !strings.Contains(text, "timeout_ms must be between 1 and 120000") {
			t.Errorf("timeout_ms %d: %q (error %v), want error %v", tc.timeout, text, res.IsError, tc.isError)
		}
	}
}
