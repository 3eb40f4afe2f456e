package main

import (
	"fmt"
	"strings"
	"testing"

	"lakehouse/internal/pgtest"
)

// TestShared_VectorsAcrossNodes: three nodes with the catalog in
// PostgreSQL (and so, by vector.backend = "auto", the vector indexes): an
// index made and written over MCP on one is found by search_vectors over
// the gateways of the others, a delete on the second is gone on the
// first, and /health
// reports the vector feed. With the database down, an upsert is refused
// with 503 naming it while searches answer from memory.
func TestShared_VectorsAcrossNodes(t *testing.T) {
	pg, shared, cs := sharedSession(t)
	b, c := gatewayBase(t, shared), gatewayBase(t, shared)

	call(t, cs, "create_index", map[string]any{"name": "raw", "dims": 3, "metric": "l2"})
	call(t, cs, "upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{
		{"id": "near", "vector": []float32{1, 0, 0}, "text": "on node a"}, {"id": "far", "vector": []float32{9, 9, 9}},
	}})
	search := func(base string) string {
		out := doJSON(t, "POST", base+"/v1/tools/search_vectors", map[string]any{"index": "raw", "query_vector": []float32{1, 0, 0}, "k": 2}, 200)
		return strings.Join(hitIDs(out), ",")
	}
	for _, base := range []string{b, c} {
		pgtest.Eventually(t, "the other nodes to find node a's upsert", func() (bool, string) {
			code, _, body := do(t, "POST", base+"/v1/tools/search_vectors", strings.NewReader(`{"index": "raw", "query_vector": [1, 0, 0], "k": 2}`), "Content-Type", "application/json")
			return code == 200 && strings.Contains(string(body), `"near"`), fmt.Sprintf("%d %s", code, body)
		})
		if got := search(base); got != "near,far" {
			t.Errorf("search on %s: %s", base, got)
		}
	}
	del := doJSON(t, "POST", b+"/v1/tools/delete_vectors", map[string]any{"index": "raw", "ids": []string{"near"}}, 200)
	if del["deleted"] != 1.0 {
		t.Errorf("delete on node b: %v", del)
	}
	pgtest.Eventually(t, "node a to lose the item node b deleted", func() (bool, string) {
		out := call(t, cs, "search_vectors", map[string]any{"index": "raw", "query_vector": []float32{1, 0, 0}, "k": 2})
		ids := strings.Join(hitIDs(out), ",")
		return ids == "far", ids
	})
	h := health(t, b, func(h map[string]any) bool { return h["status"] == "ok" })
	feed, _ := h["feeds"].(map[string]any)["vectors"].(map[string]any)
	if check(h, "vectors") != "ok" || feed == nil || feed["applied"].(float64) < 3 {
		t.Errorf("/health with the database up: %v", h)
	}

	pg.Stop()
	code, hdr, body := do(t, "POST", b+"/v1/tools/upsert_vectors", strings.NewReader(`{"index": "raw", "items": [{"id": "x", "vector": [0, 1, 0]}]}`), "Content-Type", "application/json")
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), pg.Addr) {
		t.Errorf("upsert_vectors with the database down: %d %s", code, body)
	}
	if got := search(b); got != "far" {
		t.Errorf("search on node b with the database down: %s", got)
	}
	stale := func(want bool) func() (bool, string) {
		return func() (bool, string) {
			out := doJSON(t, "POST", b+"/v1/tools/search_vectors", map[string]any{"index": "raw", "query_vector": []float32{1, 0, 0}}, 200)
			return (out["stale"] == true) == want, fmt.Sprint(out["stale"], " ", out["stale_reason"])
		}
	}
	pgtest.Eventually(t, "search_vectors on node b to say it may be stale", stale(true))
	pg.Start()
	health(t, b, func(h map[string]any) bool { return h["status"] == "ok" })
	pgtest.Eventually(t, "search_vectors on node b to be fresh again", stale(false))
}
