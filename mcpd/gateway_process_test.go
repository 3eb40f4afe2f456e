package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGateway_SIGTERM: writes over /v1 while mcpd gets SIGTERM; mcpd
// finishes the calls in flight and exits 0, no call gets a server error,
// and every write it acknowledged is there when it starts again.
func TestGateway_SIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd := command(t, dir, "--http", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := listenAddress(t, stderr)

	var mu sync.Mutex
	objects := map[string]string{} // acknowledged: key -> body
	traces := map[string]string{}  // acknowledged: uid -> text
	var failures []string
	// enough closes once some writes of each kind are acknowledged: the
	// signal then falls among writes in flight.
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				key, body := fmt.Sprintf("w%d/%d.txt", w, n), fmt.Sprintf("writer %d, write %d", w, n)
				req, _ := http.NewRequest("PUT", base+"/v1/storage/put/"+key, bytes.NewReader([]byte(body)))
				if n%2 == 1 {
					args, _ := json.Marshal(map[string]any{"content": map[string]any{"w": w, "n": n}, "text": body})
					req, _ = http.NewRequest("POST", base+"/v1/tools/add_trace", bytes.NewReader(args))
				}
				resp, err := client.Do(req)
				if err != nil {
					return // the server is going or gone
				}
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				mu.Lock()
				switch {
				case resp.StatusCode != 200:
					failures = append(failures, fmt.Sprintf("%s %s: %d %v", req.Method, req.URL.Path, resp.StatusCode, out))
				case n%2 == 1:
					traces[out["uid"].(string)] = body
				default:
					objects[key] = body
				}
				if len(objects) >= 50 && len(traces) >= 50 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("mcpd acknowledged too few writes in a minute")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Errorf("mcpd after SIGTERM: %v", err)
	}
	for _, f := range failures {
		t.Errorf("during the shutdown: %s", f)
	}
	if len(objects) == 0 || len(traces) == 0 {
		t.Fatalf("acknowledged %d objects and %d traces before the signal; want some of each", len(objects), len(traces))
	}

	base = startHTTP(t, dir)
	for key, body := range objects {
		if code, _, got := do(t, "GET", base+"/v1/storage/get/"+key, nil); code != 200 || string(got) != body {
			t.Errorf("acknowledged object %s: %d %q, want %q", key, code, got, body)
		}
	}
	for uid, text := range traces {
		if got := doJSON(t, "GET", base+"/v1/pathway/traces/"+uid, nil, 200); got["text"] != text {
			t.Errorf("acknowledged trace %s: text %v, want %q", uid, got["text"], text)
		}
	}
	t.Logf("%d objects and %d traces acknowledged before SIGTERM, all there after", len(objects), len(traces))
}
