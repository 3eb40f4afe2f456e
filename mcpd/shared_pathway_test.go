package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/internal/pgtest"
)

// TestShared_PathwayAcrossNodes: three nodes over one PostgreSQL. A trace
// added over MCP on one is found by search_traces over the gateway on
// another, and a retire there hides it on the first; one uid added on all
// three at once is one trace, replayed twice, on every node; /health
// reports the pathway's feed. With the database down, add_trace is refused
// with 503 and Retry-After naming it, and search_traces still answers.
func TestShared_PathwayAcrossNodes(t *testing.T) {
	pg, shared, cs := sharedSession(t)
	b, c := gatewayBase(t, shared), gatewayBase(t, shared)

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
	pgtest.Eventually(t, "node b's search to find node a's trace", func() (bool, string) {
		ts := search()
		return len(ts) == 1 && ts[0].(map[string]any)["uid"] == uid, fmt.Sprint(ts)
	})
	doJSON(t, "POST", b+"/v1/tools/retire_trace", map[string]any{"uid": uid, "reason": "fixed upstream"}, 200)
	pgtest.Eventually(t, "node a to see the retire", func() (bool, string) {
		got := call(t, cs, "get_trace", map[string]any{"uid": uid})
		return got["retired"] == true, fmt.Sprint(got)
	})

	same := map[string]any{"content": map[string]any{"step": "rotate the keys"}, "uid": "same-uid"}
	body, _ := json.Marshal(same)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	wg.Go(func() {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "add_trace", Arguments: same}); err != nil {
			t.Errorf("add_trace on node a: %v", err)
		}
	})
	for i, base := range []string{b, c} {
		wg.Go(func() {
			codes[i], _, _ = do(t, "POST", base+"/v1/tools/add_trace", bytes.NewReader(body), "Content-Type", "application/json")
		})
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("add_trace of one uid on nodes b and c: %v", codes)
	}
	replays := func(get func() map[string]any) func() (bool, string) {
		return func() (bool, string) {
			got := get()
			return got["replay_count"] == 2.0, fmt.Sprint(got)
		}
	}
	pgtest.Eventually(t, "node a to count two replays", replays(func() map[string]any {
		return call(t, cs, "get_trace", map[string]any{"uid": "same-uid"})
	}))
	for _, base := range []string{b, c} {
		pgtest.Eventually(t, "node "+base+" to count two replays", replays(func() map[string]any {
			return doJSON(t, "POST", base+"/v1/tools/get_trace", map[string]any{"uid": "same-uid"}, 200)
		}))
	}

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
