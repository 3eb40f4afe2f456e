package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// loopback listens on a free loopback port and returns the listener and
// its base URL.
func loopback(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// getJSON GETs url and returns the status and the JSON object answered.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// While the data opens, /health says so at once and a tool call waits;
// once it is open, the call is answered and /health is ok.
func TestServeHTTP_HealthWhileLoading(t *testing.T) {
	cfg := httpConfig(t)
	ln, base := loopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- serveHTTP(ctx, cfg, ln, func() (*node, error) {
			<-release
			return attach(ctx, cfg)
		})
	}()

	code, body := getJSON(t, base+"/health")
	if code != http.StatusServiceUnavailable || body["status"] != "loading" {
		t.Errorf("/health while loading: %d %v, want 503 and status loading", code, body)
	}
	answered := make(chan string, 1)
	go func() {
		resp, err := http.Post(base+"/v1/tools/list_datasets", "application/json", strings.NewReader(`{}`))
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- resp.Status + " " + string(b)
	}()
	select {
	case got := <-answered:
		t.Fatalf("a call was answered before the data was open: %s", got)
	case <-time.After(200 * time.Millisecond): // it waits: nothing could answer it yet
	}
	close(release)
	if got := <-answered; !strings.HasPrefix(got, "200") || !strings.Contains(got, `"datasets"`) {
		t.Errorf("the waiting call got %s, want 200 with datasets", got)
	}
	if code, body := getJSON(t, base+"/health"); code != http.StatusOK || body["status"] != "ok" {
		t.Errorf("/health once open: %d %v", code, body)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("serveHTTP after its context ended: %v", err)
	}
}

// When the data cannot be opened, serveHTTP stops serving and says why.
func TestServeHTTP_OpenFails(t *testing.T) {
	cfg := httpConfig(t)
	ln, base := loopback(t)
	boom := errors.New("vector index is damaged")
	release := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- serveHTTP(context.Background(), cfg, ln, func() (*node, error) { <-release; return nil, boom })
	}()
	if code, _ := getJSON(t, base+"/health"); code != http.StatusServiceUnavailable {
		t.Errorf("/health while loading: %d", code)
	}
	close(release)
	if err := <-served; !errors.Is(err, boom) {
		t.Errorf("serveHTTP = %v, want %v", err, boom)
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("still serving after the data failed to open")
	}
}
