package embed

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"lakehouse/backends/errs"
)

// providerNames lists the names New accepts, the default first.
var providerNames = []string{"hybrid", "hash", "ollama", "openai"}

// An Embedder is what the rest of the server embeds with: a Provider behind
// batching and an LRU cache. It is itself a Provider and is safe for
// concurrent use.
type Embedder struct {
	p     Provider
	batch int
	cache *vecCache // nil when off
	size  int       // Config.CacheSize

	probe sync.Mutex   // one dimension probe at a time
	dim   atomic.Int64 // learned by Dims when the provider does not say
}

var _ Provider = (*Embedder)(nil)

// Stats describes an Embedder. Hits and Misses count cache look-ups and stay
// 0 while the cache is off.
type Stats struct {
	Model     string `json:"model"`
	Dim       int    `json:"dim"` // 0 while unknown
	CacheSize int    `json:"cache_size"`
	CacheLen  int    `json:"cache_len"`
	Hits      uint64 `json:"hits"`
	Misses    uint64 `json:"misses"`
}

// New returns an Embedder for the provider cfg.Provider names: "" or
// "hybrid" (the offline default), "hash", "ollama" or "openai".
func New(cfg Config) (*Embedder, error) {
	if cfg.BatchSize < 0 {
		return nil, errs.New(errs.Invalid, "embed batch_size %d is negative; use 0 for the default %d", cfg.BatchSize, DefaultBatchSize)
	}
	if cfg.CacheSize < 0 {
		return nil, errs.New(errs.Invalid, "embed cache_size %d is negative; use 0 to turn the cache off", cfg.CacheSize)
	}
	var (
		p   Provider
		err error
	)
	switch strings.ToLower(strings.TrimSpace(cfg.Provider)) {
	case "", "hybrid":
		p = NewHybrid()
	case "hash":
		p = NewHash()
	case "ollama":
		p, err = NewOllama(cfg)
	case "openai":
		p, err = NewOpenAI(cfg)
	default:
		return nil, errs.New(errs.Invalid, "unknown embed provider %q; choose one of %s (default %s)",
			cfg.Provider, strings.Join(providerNames, ", "), providerNames[0])
	}
	if err != nil {
		return nil, err
	}
	return wrap(p, cfg), nil
}

// wrap puts batching and the cache of cfg in front of p.
func wrap(p Provider, cfg Config) *Embedder {
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	return &Embedder{p: p, batch: batch, cache: newVecCache(cfg.CacheSize), size: max(cfg.CacheSize, 0)}
}

// Model names the provider's model.
func (e *Embedder) Model() string { return e.p.Model() }

// Dim is the length of the vectors, or 0 while unknown; see [Embedder.Dims].
func (e *Embedder) Dim() int {
	if d := e.p.Dim(); d > 0 {
		return d
	}
	return int(e.dim.Load())
}

// Dims returns the length of the vectors, embedding a probe text once to
// learn it when the provider does not know it yet.
func (e *Embedder) Dims(ctx context.Context) (int, error) {
	if d := e.Dim(); d > 0 {
		return d, nil
	}
	e.probe.Lock()
	defer e.probe.Unlock()
	if d := e.Dim(); d > 0 {
		return d, nil
	}
	vecs, err := e.p.Embed(ctx, []string{"dimension probe"})
	if err != nil {
		return 0, fmt.Errorf("learn the dimension of %s: %w", e.Model(), err)
	}
	if len(vecs) != 1 || len(vecs[0]) == 0 {
		return 0, fmt.Errorf("learn the dimension of %s: no vector for the probe text", e.Model())
	}
	e.dim.Store(int64(len(vecs[0])))
	return len(vecs[0]), nil
}

// Stats reports the model, dimension and cache counters.
func (e *Embedder) Stats() Stats {
	hits, misses := e.cache.counts()
	return Stats{
		Model:     e.Model(),
		Dim:       e.Dim(),
		CacheSize: e.size,
		CacheLen:  e.cache.len(),
		Hits:      hits,
		Misses:    misses,
	}
}

// Embed returns one vector per text, in order. Texts found in the cache are
// answered from it; only the others go to the provider, BatchSize at a
// time. The returned vectors belong to the caller.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	if e.cache == nil {
		out := make([][]float32, 0, len(texts))
		for start := 0; start < len(texts); start += e.batch {
			vecs, err := e.embedBatch(ctx, texts[start:min(start+e.batch, len(texts))])
			if err != nil {
				return nil, err
			}
			out = append(out, vecs...)
		}
		return out, nil
	}

	// Look every text up; the misses, each distinct text once, form the
	// work list, and slots remembers which outputs each one fills.
	model := e.Model()
	out := make([][]float32, len(texts))
	var (
		keys    [][32]byte
		pending []string
		slots   [][]int
		seen    map[[32]byte]int // key -> index into pending
	)
	for i, text := range texts {
		k := cacheKey(model, text)
		if j, ok := seen[k]; ok {
			// A repeat of a text already on its way: served without
			// the provider, so it counts as a hit.
			slots[j] = append(slots[j], i)
			e.cache.hits.Add(1)
			continue
		}
		if v, ok := e.cache.get(k); ok {
			out[i] = v
			continue
		}
		if seen == nil {
			seen = make(map[[32]byte]int)
		}
		seen[k] = len(pending)
		pending = append(pending, text)
		slots = append(slots, []int{i})
		keys = append(keys, k)
	}

	// Embed the misses a batch at a time, caching each batch as it comes
	// so that work done before a failure is not lost.
	for start := 0; start < len(pending); start += e.batch {
		end := min(start+e.batch, len(pending))
		vecs, err := e.embedBatch(ctx, pending[start:end])
		if err != nil {
			return nil, err
		}
		for n, v := range vecs {
			j := start + n
			e.cache.put(keys[j], v)
			out[slots[j][0]] = v
			for _, i := range slots[j][1:] {
				out[i] = append([]float32(nil), v...)
			}
		}
	}
	return out, nil
}

// embedBatch asks the provider for one batch and checks the count.
func (e *Embedder) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, err := e.p.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	if len(vecs) != len(texts) {
		return nil, fmt.Errorf("%s returned %d vectors for %d texts", e.Model(), len(vecs), len(texts))
	}
	return vecs, nil
}
