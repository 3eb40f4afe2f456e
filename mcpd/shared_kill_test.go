package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse/internal/pgtest"
)

// startNode starts an mcpd --http process on dataDir with the catalog in
// the PostgreSQL of dsn, killed when t ends, and returns it and its base
// URL.
func startNode(t *testing.T, dataDir, dsn string) (*exec.Cmd, string) {
	t.Helper()
	cmd := command(t, dataDir, "--http", "127.0.0.1:0")
	cmd.Env = append(cmd.Env, "LAKEHOUSE_CATALOG_BACKEND=postgres", "LAKEHOUSE_CATALOG_DSN="+dsn)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, listenAddress(t, stderr)
}

// ackUntilKilled has four agents send calls to the node of cmd, each with
// a new id, through send, which reports whether the node acknowledged the
// call, or an error once the node is gone; at the 20th acknowledgement it
// kills the node with SIGKILL, and returns the ids acknowledged.
func ackUntilKilled(t *testing.T, cmd *exec.Cmd, send func(client *http.Client, id string) (bool, error)) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]bool{}
	enough := make(chan struct{}) // closed at the 20th acknowledgement
	var once sync.Once
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				ok, err := send(client, id)
				if err != nil {
					return
				}
				if !ok {
					continue
				}
				mu.Lock()
				acked[id] = true
				if len(acked) == 20 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("20 calls were not acknowledged in a minute")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return acked
}

// TestShared_VectorsKill9: a node killed with SIGKILL while agents upsert
// vectors loses none it acknowledged: another node over the same database
// finds each, and so does the killed node restarted on its data directory
// (its copy, caught up), both holding the same items.
func TestShared_VectorsKill9(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	dir := t.TempDir()
	cmd, a := startNode(t, dir, dsn)
	doJSON(t, "POST", a+"/v1/tools/create_index", map[string]any{"name": "k", "dims": 2}, 200)
	acked := ackUntilKilled(t, cmd, func(client *http.Client, id string) (bool, error) {
		body := fmt.Sprintf(`{"index": "k", "items": [{"id": %q, "vector": [1, 0]}]}`, id)
		resp, err := client.Post(a+"/v1/tools/upsert_vectors", "application/json", strings.NewReader(body))
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})
	cmd.Wait()

	held := func(base string) map[string]bool {
		out := doJSON(t, "POST", base+"/v1/tools/search_vectors", map[string]any{"index": "k", "query_vector": []float32{1, 0}, "k": 1000, "mode": "dense"}, 200)
		ids := map[string]bool{}
		for _, id := range hitIDs(out) {
			ids[id] = true
		}
		return ids
	}
	b := gatewayBase(t, func(cfg *Config) { cfg.Catalog = CatalogConfig{Backend: catalogPostgres, DSN: dsn} })
	onB := held(b)
	_, again := startNode(t, dir, dsn)
	onA := held(again)
	for id := range acked {
		if !onB[id] || !onA[id] {
			t.Errorf("acknowledged upsert %s: on the other node %v, on the killed node restarted %v", id, onB[id], onA[id])
		}
	}
	if len(onA) != len(onB) {
		t.Errorf("the restarted node holds %d items, the other %d", len(onA), len(onB))
	}
	t.Logf("%d upserts acknowledged before the kill, %d items after it", len(acked), len(onB))
}
