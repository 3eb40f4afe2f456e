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

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// getUntilUp GETs url until the server answers, for up to 10 s.
func getUntilUp(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// While the data opens, /health says so at once and a tool call waits;
// once it is open, the call is answered and /health is ok.
func TestServeHTTP_HealthWhileLoading(t *testing.T) {
	cfg := httpConfig(t)
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- serveHTTP(ctx, cfg, addr, func() (*node, error) {
			<-release
			return attach(ctx, cfg)
		})
	}()

	code, body := getUntilUp(t, base+"/health")
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
	if code, body := getUntilUp(t, base+"/health"); code != http.StatusOK || body["status"] != "ok" {
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
	addr := freeAddr(t)
	boom := errors.New("vector index is damaged")
	release := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- serveHTTP(context.Background(), cfg, addr, func() (*node, error) { <-release; return nil, boom })
	}()
	if code, _ := getUntilUp(t, "http://"+addr+"/health"); code != http.StatusServiceUnavailable {
		t.Errorf("/health while loading: %d", code)
	}
	close(release)
	if err := <-served; !errors.Is(err, boom) {
		t.Errorf("serveHTTP = %v, want %v", err, boom)
	}
	if _, err := http.Get("http://" + addr + "/health"); err == nil {
		t.Error("still serving after the data failed to open")
	}
}
