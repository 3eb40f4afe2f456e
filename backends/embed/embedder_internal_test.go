package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"lakehouse/backends/errs"
)

// fastEmbedder is New with test retry timings.
func fastEmbedder(t *testing.T, cfg Config) *Embedder {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	switch p := e.p.(type) {
	case *ollama:
		shrinkRetries(p.client)
	case *openai:
		shrinkRetries(p.client)
	}
	return e
}

// pulledOllama is a fake Ollama serving nomic-embed-text with 3-d vectors,
// and an Embedder of cfg in front of it.
func pulledOllama(t *testing.T, cfg Config) (*fakeOllama, *Embedder) {
	t.Helper()
	f := &fakeOllama{models: map[string]bool{"nomic-embed-text": true}, dim: 3}
	srv := newWireServer(t, f)
	cfg.Provider, cfg.URL, cfg.Model = "ollama", srv.URL, "nomic-embed-text"
	return f, fastEmbedder(t, cfg)
}

func TestEmbedder_Batching(t *testing.T) {
	t.Parallel()
	f, e := pulledOllama(t, Config{})
	texts := make([]string, 150)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	var sizes []int
	for _, b := range f.batches() {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[64 64 22]" {
		t.Fatalf("batch sizes %v, want [64 64 22]", sizes)
	}
	for i, s := range texts {
		want := wireVec(s, 3)
		unitLength(want)
		if !sameVec(vecs[i], want) {
			t.Fatalf("vector %d is not the one of %q", i, s)
		}
	}
}

func TestEmbedder_BatchSize(t *testing.T) {
	t.Parallel()
	f, e := pulledOllama(t, Config{BatchSize: 2, CacheSize: 100})
	if _, err := e.Embed(context.Background(), []string{"a", "b", "c", "d", "e"}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.batches()); got != "[[a b] [c d] [e]]" {
		t.Fatalf("batches %s", got)
	}
}

func TestEmbedder_Cache(t *testing.T) {
	t.Parallel()
	f, e := pulledOllama(t, Config{CacheSize: 10})
	ctx := context.Background()

	first, err := e.Embed(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	// The same texts again: answered from the cache, no request.
	again, err := e.Embed(ctx, []string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if f.embed.Load() != 1 {
		t.Fatalf("requests = %d, want 1: a cached call made a request", f.embed.Load())
	}
	if !sameVec(again[0], first[1]) || !sameVec(again[1], first[0]) {
		t.Fatal("cached vectors differ from the provider's")
	}
	// Only the misses of a batch go to the provider, each once.
	if _, err := e.Embed(ctx, []string{"a", "c", "c", "b", "d"}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.batches()); got != "[[a b] [c d]]" {
		t.Fatalf("requests %s, want [[a b] [c d]]", got)
	}
	st := e.Stats()
	// Look-ups: 2 misses, 2 hits, then a, b hits, c, d misses and the
	// repeated c served without the provider.
	if st.Hits != 5 || st.Misses != 4 || st.CacheLen != 4 || st.CacheSize != 10 {
		t.Fatalf("stats %+v, want 5 hits, 4 misses, 4 of 10 cached", st)
	}

	// A caller changing its vectors does not change the cache.
	again[0][0] = 1000
	first[0][0] = 1000
	v, err := e.Embed(ctx, []string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if v[0][0] == 1000 || v[1][0] == 1000 {
		t.Fatal("a caller's write reached the cached vector")
	}
}

func TestEmbedder_CacheOff(t *testing.T) {
	t.Parallel()
	f, e := pulledOllama(t, Config{})
	for range 2 {
		if _, err := e.Embed(context.Background(), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	if f.embed.Load() != 2 {
		t.Fatalf("requests = %d, want 2 with the cache off", f.embed.Load())
	}
	if st := e.Stats(); st.Hits != 0 || st.Misses != 0 || st.CacheLen != 0 || st.CacheSize != 0 {
		t.Fatalf("stats %+v with the cache off", st)
	}
}

func TestEmbedder_Concurrent(t *testing.T) {
	t.Parallel()
	_, e := pulledOllama(t, Config{CacheSize: 8, BatchSize: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				texts := []string{fmt.Sprint(i % 5), fmt.Sprint(g), fmt.Sprint(i)}
				vecs, err := e.Embed(context.Background(), texts)
				if err != nil {
					t.Error(err)
					return
				}
				for j, s := range texts {
					want := wireVec(s, 3)
					unitLength(want)
					if !sameVec(vecs[j], want) {
						t.Errorf("vector of %q is wrong", s)
					}
				}
			}
		})
	}
	wg.Wait()
	if st := e.Stats(); st.CacheLen > 8 {
		t.Fatalf("cache holds %d vectors, more than its size 8", st.CacheLen)
	}
}

func TestEmbedder_Dims(t *testing.T) {
	t.Parallel()
	f, e := pulledOllama(t, Config{CacheSize: 4})
	if e.Dim() != 0 {
		t.Fatalf("Dim = %d before any answer", e.Dim())
	}
	for range 2 {
		d, err := e.Dims(context.Background())
		if err != nil || d != 3 {
			t.Fatalf("Dims = %d, %v; want 3", d, err)
		}
	}
	if f.embed.Load() != 1 {
		t.Fatalf("requests = %d, want one probe", f.embed.Load())
	}
	if e.Dim() != 3 {
		t.Fatalf("Dim = %d after the probe", e.Dim())
	}
}

func TestEmbedder_StatsJSON(t *testing.T) {
	t.Parallel()
	_, e := pulledOllama(t, Config{CacheSize: 2})
	b, err := json.Marshal(e.Stats())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"ollama:nomic-embed-text","dim":0,"cache_size":2,"cache_len":0,"hits":0,"misses":0}`
	if string(b) != want {
		t.Fatalf("Stats JSON %s, want %s", b, want)
	}
}

func TestEmbedder_ErrorsPassThrough(t *testing.T) {
	t.Parallel()
	f := &fakeOllama{models: map[string]bool{}, dim: 3}
	srv := newWireServer(t, f)
	e := fastEmbedder(t, Config{Provider: "ollama", URL: srv.URL, Model: "nomic-embed-text", CacheSize: 4})
	_, err := e.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, errs.NotFound) {
		t.Fatalf("err = %v, want the provider's errs.NotFound", err)
	}
	if e.Stats().CacheLen != 0 {
		t.Fatal("a failure was cached")
	}
}

func TestNew_Providers(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "hybrid", "hash", " Hash "} {
		e, err := New(Config{Provider: name})
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if e.Model() == "" || e.Dim() <= 0 {
			t.Fatalf("New(%q): model %q, dim %d", name, e.Model(), e.Dim())
		}
		vecs, err := e.Embed(context.Background(), []string{"hello world"})
		if err != nil || len(vecs) != 1 || len(vecs[0]) != e.Dim() {
			t.Fatalf("New(%q).Embed = %d vectors, %v", name, len(vecs), err)
		}
	}
	if hy, h := mustNew(t, ""), mustNew(t, "hash"); hy.Model() == h.Model() {
		t.Fatalf("hybrid and hash share the model name %q", h.Model())
	}
}

func mustNew(t *testing.T, provider string) *Embedder {
	t.Helper()
	e, err := New(Config{Provider: provider})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNew_Unknown(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Provider: "cohere"})
	if !errors.Is(err, errs.Invalid) {
		t.Fatalf("err = %v, want errs.Invalid", err)
	}
	for _, want := range []string{`"cohere"`, "hybrid", "hash", "ollama", "openai"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not list %s", err, want)
		}
	}
	for _, cfg := range []Config{{BatchSize: -1}, {CacheSize: -1}} {
		if _, err := New(cfg); !errors.Is(err, errs.Invalid) {
			t.Fatalf("New(%+v): err = %v, want errs.Invalid", cfg, err)
		}
	}
}
