package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestObserverRecordsCalls(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	logs := make(chan *mcp.LoggingMessageParams, 10)
	cs, closeSession := session(t, cfg, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
		logs <- r.Params
	}})

	secret := "s3cr3t-payload-that-must-not-be-recorded"
	call(t, cs, "put_object", map[string]any{"key": "a.txt", "content": secret})
	call(t, cs, "query_sql", map[string]any{"sql": "SELECT 42 AS answer"})
	// The client asks for log messages with each request, as protocol
	// versions from 2026-07-28 do.
	for _, key := range []string{"x1", "x2", "x3", "x4"} {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
			Meta: mcp.Meta{"io.modelcontextprotocol/logLevel": "info"}, Name: "get_object", Arguments: map[string]any{"key": key}})
		if err != nil || !res.IsError {
			t.Fatalf("get_object of a missing key: %v %v", err, res)
		}
	}
	call(t, cs, "record_event", map[string]any{"endpoint": "checkout", "source": "scenario", "success": true, "duration_ms": 1200, "fields": map[string]any{"run": 7}})
	callErr(t, cs, "record_event", map[string]any{"endpoint": " "})
	callErr(t, cs, "record_event", map[string]any{"endpoint": "x", "source": "telepathy"})

	// The third equal failure escalates, once.
	select {
	case l := <-logs:
		data := l.Data.(map[string]any)
		if l.Level != "warning" || data["endpoint"] != "get_object" || data["count"] != 3.0 {
			t.Errorf("escalation = %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no escalation notification")
	}
	select {
	case l := <-logs:
		t.Errorf("a second escalation of the same cluster: %+v", l)
	default:
	}

	events := call(t, cs, "list_events", map[string]any{"tool": "put_object"})["events"].([]any)
	put := events[0].(map[string]any)
	if put["source"] != "mcp" || put["success"] != true || strings.Contains(put["input_summary"].(string), secret) ||
		!strings.Contains(put["input_summary"].(string), "content=<40 bytes>") || put["session_id"] == "" {
		t.Errorf("put_object op = %v", put)
	}
	// The output summary has the result's scalars, and sizes for its lists.
	if got := put["output_summary"]; got == nil || !strings.Contains(got.(string), `key="`) || !strings.Contains(got.(string), "size=40") {
		t.Errorf("put_object output summary = %v", got)
	}
	if got := call(t, cs, "list_events", map[string]any{"success": false, "limit": 2}); len(got["events"].([]any)) != 2 || got["next_cursor"] == nil {
		t.Errorf("a page of failures = %v", got)
	}

	// Stats count exactly what was recorded: 9 calls before this one (the
	// two list_events included), plus the reported scenario.
	check := func(st map[string]any) {
		t.Helper()
		byTool := st["by_tool"].(map[string]any)
		gets := byTool["get_object"].(map[string]any)
		if st["total"] != 12.0 || st["failures"] != 6.0 || gets["count"] != 4.0 || gets["failures"] != 4.0 ||
			st["by_source"].(map[string]any)["scenario"] != 1.0 || st["by_source"].(map[string]any)["mcp"] != 11.0 {
			t.Errorf("stats = %v", st)
		}
		clusters := st["failure_clusters"].([]any)
		top := clusters[0].(map[string]any)
		if top["endpoint"] != "get_object" || top["count"] != 4.0 || len(st["escalations"].([]any)) != 1 {
			t.Errorf("clusters = %v, escalations = %v", clusters, st["escalations"])
		}
		if sc := st["recent_scenarios"].([]any); len(sc) != 1 || sc[0].(map[string]any)["endpoint"] != "checkout" {
			t.Errorf("recent scenarios = %v", sc)
		}
	}
	check(call(t, cs, "observer_stats", nil))

	// A restart restores the statistics (the stats call above now counts too).
	closeSession()
	cs, _ = session(t, cfg, nil)
	st := call(t, cs, "observer_stats", map[string]any{"since": time.Now().Add(-time.Hour)})
	if st["total"] != 13.0 || st["by_tool"].(map[string]any)["observer_stats"].(map[string]any)["count"] != 1.0 {
		t.Errorf("stats after restart = %v", st)
	}
}
