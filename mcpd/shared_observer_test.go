package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse/internal/pgtest"
)

// toolCount is the count of tool in observer_stats's result st.
func toolCount(st map[string]any, tool string) float64 {
	byTool, _ := st["by_tool"].(map[string]any)
	ts, _ := byTool[tool].(map[string]any)
	n, _ := ts["count"].(float64)
	return n
}

// waitStats waits until ok holds of stats (see pgtest.Eventually) and
// returns them.
func waitStats(t *testing.T, what string, stats func() map[string]any, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var st map[string]any
	pgtest.Eventually(t, what, func() (bool, string) {
		st = stats()
		return ok(st), fmt.Sprintf("observer_stats %v", st)
	})
	return st
}

// TestShared_ObserverAcrossNodes: three nodes, each with a data directory
// of its own, over one PostgreSQL. The calls made over MCP on one and over
// the REST gateway on the others count on every node, in observer_stats
// (failures clustered and escalated across nodes) and in list_events;
// /health reports the observer's feed. With the database
// down, calls go on, observer_stats says it may be stale, record_event is
// refused with 503, and /health names the observer; once it is back, the
// calls made meanwhile reach the other node, and all is well by itself.
func TestShared_ObserverAcrossNodes(t *testing.T) {
	pg, shared, cs := sharedSession(t)
	b, c := gatewayBase(t, shared), gatewayBase(t, shared)

	statsA := func() map[string]any { return call(t, cs, "observer_stats", map[string]any{}) }
	statsOf := func(base string) func() map[string]any {
		return func() map[string]any {
			return doJSON(t, "POST", base+"/v1/tools/observer_stats", map[string]any{}, 200)
		}
	}
	statsB := statsOf(b)
	call(t, cs, "put_object", map[string]any{"key": "a.txt", "content": "on node a"})
	call(t, cs, "put_object", map[string]any{"key": "b.txt", "content": "on node a"})
	for range 3 {
		doJSON(t, "POST", b+"/v1/tools/list_objects", map[string]any{}, 200)
	}
	for range 4 { // a failure cluster of node c's, of 4 > escalate_at
		doJSON(t, "POST", c+"/v1/tools/get_object", map[string]any{"key": "missing.txt"}, 404)
	}
	addsUp := func(st map[string]any) bool {
		byTool, _ := st["by_tool"].(map[string]any)
		get, _ := byTool["get_object"].(map[string]any)
		return toolCount(st, "put_object") == 2 && toolCount(st, "list_objects") == 3 &&
			toolCount(st, "get_object") == 4 && get["failures"] == 4.0 && st["escalation_count"] == 1.0
	}
	waitStats(t, "node a to count every node's calls", statsA, addsUp)
	waitStats(t, "node b to count every node's calls", statsB, addsUp)
	waitStats(t, "node c to count every node's calls", statsOf(c), addsUp)
	events := doJSON(t, "POST", b+"/v1/tools/list_events", map[string]any{"tool": "put_object"}, 200)["events"].([]any)
	if len(events) != 2 || events[0].(map[string]any)["source"] != "mcp" {
		t.Errorf("list_events of put_object on node b: %v", events)
	}
	h := health(t, b, func(h map[string]any) bool { return h["status"] == "ok" })
	feed, _ := h["feeds"].(map[string]any)["observer"].(map[string]any)
	if check(h, "observer") != "ok" || feed == nil || feed["applied"].(float64) < 2 || feed["behind"] != 0.0 {
		t.Errorf("/health with both nodes up: %v", h)
	}

	pg.Stop()
	started := time.Now()
	for range 2 {
		doJSON(t, "POST", b+"/v1/tools/list_objects", map[string]any{}, 200)
	}
	if took := time.Since(started); took > 2*time.Second {
		t.Errorf("two calls with the database down took %v", took)
	}
	waitStats(t, "node b to flag its statistics stale", statsB, func(st map[string]any) bool {
		return st["stale"] == true && toolCount(st, "list_objects") == 5 && strings.Contains(fmt.Sprint(st["stale_reason"]), pg.Addr)
	})
	if ev := doJSON(t, "POST", b+"/v1/tools/list_events", map[string]any{"tool": "list_objects"}, 200); ev["stale"] != true || len(ev["events"].([]any)) != 5 {
		t.Errorf("list_events on node b with the database down: %v", ev)
	}
	h = health(t, b, func(h map[string]any) bool { return strings.Contains(check(h, "observer"), pg.Addr) })
	if h["status"] != "degraded" || !strings.Contains(check(h, "observer"), pg.Addr) {
		t.Errorf("/health with the database down: %v", h)
	}
	waitFor503 := time.Now().Add(15 * time.Second)
	for {
		code, hdr, body := do(t, "POST", b+"/v1/tools/record_event", bytes.NewReader([]byte(`{"endpoint": "checkout"}`)), "Content-Type", "application/json")
		if code == 503 && hdr.Get("Retry-After") != "" && bytes.Contains(body, []byte(pg.Addr)) {
			break
		}
		if time.Now().After(waitFor503) {
			t.Fatalf("record_event with the database down: %d %s", code, body)
		}
	}

	pg.Start()
	health(t, b, func(h map[string]any) bool { return h["status"] == "ok" })
	st := waitStats(t, "node a to count the calls node b made while the database was down", statsA, func(st map[string]any) bool {
		return toolCount(st, "list_objects") == 5 && st["stale"] == nil
	})
	if n := toolCount(st, "put_object"); n != 2 {
		t.Errorf("node a counts %v put_object calls after the outage, want 2", n)
	}
	waitStats(t, "node b to be fresh again", statsB, func(st map[string]any) bool { return st["stale"] == nil })
}

// TestShared_ObserverKill9: a node killed with SIGKILL while agents report
// events loses none it acknowledged: another node over the same database
// lists each of them, once.
func TestShared_ObserverKill9(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	cmd, a := startNode(t, t.TempDir(), dsn)

	acked := ackUntilKilled(t, cmd, func(client *http.Client, id string) (bool, error) {
		body := fmt.Sprintf(`{"id": %q, "endpoint": "checkout", "source": "scenario", "success": true}`, id)
		resp, err := client.Post(a+"/v1/tools/record_event", "application/json", strings.NewReader(body))
		if err != nil {
			return false, err // the node is gone
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})

	b := gatewayBase(t, func(cfg *Config) { cfg.Catalog = CatalogConfig{Backend: catalogPostgres, DSN: dsn} })
	events := doJSON(t, "POST", b+"/v1/tools/list_events", map[string]any{"tool": "checkout", "limit": 1000}, 200)["events"].([]any)
	seen := map[string]int{}
	for _, e := range events {
		seen[e.(map[string]any)["id"].(string)]++
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged event %s is listed %d times on the other node, want once", id, seen[id])
		}
	}
	t.Logf("%d events acknowledged before the kill, %d listed after it", len(acked), len(events))
}
