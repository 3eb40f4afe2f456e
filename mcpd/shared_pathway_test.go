package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestShared_PathwayAcrossNodes: two nodes over one PostgreSQL. A trace
// added over MCP on one is found by search_traces over the gateway on the
// other, and a retire there hides it on the first; /health reports the
// pathway's feed. With the database down, add_trace is refused with 503
// and Retry-After naming it, and search_traces still answers.
func TestShared_PathwayAcrossNodes(t *testing.T) {
	pg, shared, cs := sharedSession(t)
	b := gatewayBase(t, shared)

	added := call(t, cs, "add_trace", map[string]any{"content": map[string]any{"fix": "raise the pool size"}, "text": "connection pool exhausted under load", "tags": []string{"db"}})
	uid, _ := added["uid"].(string)
	if uid == "" {
		t.Fatalf("add_trace on node a: %v", added)
	}
	search := func() []any {
		res := doJSON(t, "POST", b+"/v1/tools/search_traces", map[string]any{"query": "pool exhausted"}, 200)
		traces, _ := res["traces"].([]any)
		return traces
	}
	waitTraces(t, "node b's search to find node a's trace", search, func(ts []any) bool {
		return len(ts) == 1 && ts[0].(map[string]any)["uid"] == uid
	})
	doJSON(t, "POST", b+"/v1/tools/retire_trace", map[string]any{"uid": uid, "reason": "fixed upstream"}, 200)
	waitTraces(t, "node a to see the retire", func() []any {
		got := call(t, cs, "get_trace", map[string]any{"uid": uid})
		return []any{got}
	}, func(ts []any) bool { return ts[0].(map[string]any)["retired"] == true })
	h := health(t, b, func(h map[string]any) bool { return h["status"] == "ok" })
	feed, _ := h["feeds"].(map[string]any)["pathway"].(map[string]any)
	if check(h, "pathway") != "ok" || feed == nil || feed["applied"].(float64) < 1 {
		t.Errorf("/health with the database up: %v", h)
	}

	pg.Stop()
	code, hdr, body := do(t, "POST", b+"/v1/tools/add_trace", bytes.NewReader([]byte(`{"content": "during the outage"}`)), "Content-Type", "application/json")
	if code != 503 || hdr.Get("Retry-After") == "" || !bytes.Contains(body, []byte(pg.Addr)) {
		t.Errorf("add_trace with the database down: %d %s", code, body)
	}
	doJSON(t, "POST", b+"/v1/tools/search_traces", map[string]any{"query": "pool exhausted"}, 200)
	pg.Start()
	health(t, b, func(h map[string]any) bool { return h["status"] == "ok" })
}

// waitTraces polls get until ok holds of what it returns, or fails t after
// 15 s.
func waitTraces(t *testing.T, what string, get func() []any, ok func([]any) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := get()
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, fmt.Sprint(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
