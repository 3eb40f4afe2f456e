package embed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"lakehouse/backends/errs"
)

// fakeOllama speaks Ollama's wire format: POST /api/embed (unless legacy)
// and POST /api/embeddings, with Ollama's 404s for a missing route (plain
// text) and a missing model (JSON error).
type fakeOllama struct {
	legacy bool            // an Ollama older than 0.3.4: no /api/embed
	models map[string]bool // pulled models
	dim    int

	embed, embeddings atomic.Int32 // requests per route

	mu     sync.Mutex
	inputs [][]string // the input of every /api/embed request
}

// batches returns the inputs of the /api/embed requests so far.
func (f *fakeOllama) batches() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.inputs...)
}

func (f *fakeOllama) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	var req struct {
		Model  string   `json:"model"`
		Input  []string `json:"input"`
		Prompt *string  `json:"prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case r.URL.Path == "/api/embed" && !f.legacy:
		f.embed.Add(1)
	case r.URL.Path == "/api/embeddings":
		f.embeddings.Add(1)
	default:
		if r.URL.Path == "/api/embed" {
			f.embed.Add(1)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("404 page not found"))
		return
	}
	if !f.models[req.Model] {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "model \"" + req.Model + "\" not found, try pulling it first"})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.URL.Path == "/api/embeddings" {
		if req.Prompt == nil {
			http.Error(w, `{"error":"prompt is required"}`, http.StatusBadRequest)
			return
		}
		// The legacy route returns raw, unnormalised vectors.
		json.NewEncoder(w).Encode(map[string]any{"embedding": wireVec(*req.Prompt, f.dim)})
		return
	}
	f.mu.Lock()
	f.inputs = append(f.inputs, req.Input)
	f.mu.Unlock()
	vecs := make([][]float32, len(req.Input))
	for i, s := range req.Input {
		vecs[i] = wireVec(s, f.dim)
		unitLength(vecs[i]) // /api/embed normalises
	}
	json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": vecs, "total_duration": 1234})
}

func TestOllama_Embed_Batch(t *testing.T) {
	t.Parallel()
	f := &fakeOllama{models: map[string]bool{"nomic-embed-text": true}, dim: 3}
	srv := newWireServer(t, f)
	p := fastOllama(t, Config{URL: srv.URL + "/"})
	if p.Model() != "ollama:nomic-embed-text" {
		t.Fatalf("Model = %q", p.Model())
	}
	texts := []string{"alpha", "beta", "gamma delta"}
	vecs, err := p.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	for i, s := range texts {
		want := wireVec(s, 3)
		unitLength(want)
		if !sameVec(vecs[i], want) {
			t.Fatalf("vector %d = %v, want %v", i, vecs[i], want)
		}
	}
	if f.embed.Load() != 1 || f.embeddings.Load() != 0 {
		t.Fatalf("requests: /api/embed %d, /api/embeddings %d; want one batch request", f.embed.Load(), f.embeddings.Load())
	}
	if p.Dim() != 3 {
		t.Fatalf("Dim = %d after an answer, want 3", p.Dim())
	}
}

func TestOllama_Embed_FallbackToLegacy(t *testing.T) {
	t.Parallel()
	f := &fakeOllama{legacy: true, models: map[string]bool{"nomic-embed-text": true}, dim: 4}
	srv := newWireServer(t, f)
	p := fastOllama(t, Config{URL: srv.URL})
	texts := []string{"one", "two", "three"}
	vecs, err := p.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	for i, s := range texts {
		want := wireVec(s, 4)
		unitLength(want) // the legacy answers are normalised like /api/embed's
		if !sameVec(vecs[i], want) {
			t.Fatalf("vector %d = %v, want %v", i, vecs[i], want)
		}
	}
	if f.embed.Load() != 1 || f.embeddings.Load() != 3 {
		t.Fatalf("requests: /api/embed %d, /api/embeddings %d; want 1 and 3", f.embed.Load(), f.embeddings.Load())
	}
	// The fallback is remembered: no second try of /api/embed.
	if _, err := p.Embed(context.Background(), []string{"four", "five"}); err != nil {
		t.Fatal(err)
	}
	if f.embed.Load() != 1 || f.embeddings.Load() != 5 {
		t.Fatalf("requests: /api/embed %d, /api/embeddings %d; want 1 and 5", f.embed.Load(), f.embeddings.Load())
	}
}

func TestOllama_Embed_ModelNotFound(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		f := &fakeOllama{legacy: legacy, models: map[string]bool{"nomic-embed-text": true}, dim: 3}
		srv := newWireServer(t, f)
		p := fastOllama(t, Config{URL: srv.URL, Model: "mxbai-embed-large"})
		_, err := p.Embed(context.Background(), []string{"a"})
		if !errors.Is(err, errs.NotFound) {
			t.Fatalf("legacy=%v: err = %v, want errs.NotFound", legacy, err)
		}
		for _, want := range []string{`"mxbai-embed-large"`, "ollama pull mxbai-embed-large"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("legacy=%v: error %q lacks %q", legacy, err, want)
			}
		}
		if !legacy && f.embeddings.Load() != 0 {
			t.Fatal("a missing model was mistaken for a missing /api/embed")
		}
		if f.embed.Load()+f.embeddings.Load() > 2 {
			t.Fatalf("a 404 was retried: %d requests", f.embed.Load()+f.embeddings.Load())
		}
	}
}

func TestOllama_Embed_Empty(t *testing.T) {
	t.Parallel()
	f := &fakeOllama{models: map[string]bool{"nomic-embed-text": true}, dim: 3}
	srv := newWireServer(t, f)
	p := fastOllama(t, Config{URL: srv.URL})
	vecs, err := p.Embed(context.Background(), nil)
	if err != nil || len(vecs) != 0 {
		t.Fatalf("Embed(nil) = %v, %v", vecs, err)
	}
	if f.embed.Load() != 0 {
		t.Fatal("an empty call made a request")
	}
}

func sameVec(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

func TestOllama_NotAnOllamaServer(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, http.NotFoundHandler())
	p := fastOllama(t, Config{URL: srv.URL})
	_, err := p.Embed(context.Background(), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "is it an Ollama server?") {
		t.Fatalf("err = %v, want a hint that the URL is wrong", err)
	}
	if errs.KindOf(err) != nil {
		t.Fatalf("a wrong URL was classed as a caller's mistake: %v", err)
	}
}
