package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/embed"
	"lakehouse/backends/ingest"
	"lakehouse/backends/matrix"
	"lakehouse/backends/pathway"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
	"lakehouse/internal/disk"
	"lakehouse/internal/pgfeed"
	"lakehouse/prompts"
	"lakehouse/tools"
)

// version is the release of mcpd; set at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// engines are the backends of one data directory, opened by the process that
// owns it.
type engines struct {
	backends *tools.Backends
	vectors  *vector.Manager // the vector engine itself, beyond what the tools see of it
	closers  []func() error
	checks   map[string]func(context.Context) error // of the services the engines use beyond the machine, for /health
	cache    *store.Cache                           // of the datasets' files in the bucket; nil when they are local
	feeds    map[string]func() pgfeed.Lag           // how far behind the other nodes' writes each engine that follows them is
}

// openEngines opens every backend under cfg.DataDir:
//
//	objects/  the object store (_catalog/, _datasets/, and the objects of
//	          the object tools unless [storage] puts them in a bucket)
//	vectors/  one folder per vector index (with [vector] in PostgreSQL,
//	          this node's copies of them)
//	pathway/  the trace log and its search index
//	observer/ the log of observed operations (unless [observer] keeps
//	          them in PostgreSQL)
//	tmp/      scratch space, emptied at start (ingest's is objects/tmp/ingest,
//	          beneath the store, which adopts its Parquet files; uploads to
//	          a bucket are spooled in tmp/s3)
//	cache/    with [storage] in a bucket, where the datasets' files then
//	          are: this node's copies of them, which its DuckDB reads
//	          (cache/datasets, bounded by storage.cache_bytes)
func openEngines(ctx context.Context, cfg Config) (_ *engines, err error) {
	e := &engines{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	// The data directory may be a link; no folder in it may.
	if err := disk.Confine(cfg.DataDir); err != nil {
		return nil, err
	}
	st, err := store.OpenFS(filepath.Join(cfg.DataDir, "objects"))
	if err != nil {
		return nil, fmt.Errorf("open object store: %w", err)
	}
	e.closers = append(e.closers, st.Close)
	// The objects of the object tools are in st, or in a bucket ([storage]),
	// where ingest then fetches its object_key sources.
	objects := tools.ObjectStore(st)
	var elsewhere ingest.Objects
	bucket, err := openBucket(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.checks = map[string]func(context.Context) error{}
	e.feeds = map[string]func() pgfeed.Lag{}
	// The datasets' files are in st, or in the bucket too, read through
	// this node's cache of them.
	var files datasetFiles = st
	if bucket != nil {
		objects, elsewhere = bucket, bucket
		e.closers = append(e.closers, bucket.Close)
		e.checks["bucket"] = bucket.Check
		if e.cache, err = store.OpenCache(filepath.Join(cfg.DataDir, "cache", "datasets"), bucket, cfg.Storage.CacheBytes); err != nil {
			return nil, fmt.Errorf("open dataset cache: %w", err)
		}
		e.closers = append(e.closers, e.cache.Close)
		files = store.NewCached(bucket, e.cache)
	}
	cat, err := openCatalog(ctx, cfg, st, files)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	e.closers = append(e.closers, cat.Close)
	if cfg.Catalog.Backend == catalogPostgres {
		e.checks["catalog"] = cat.Health
	}
	// The query DuckDB spills to tmp/duckdb-sql; ingest gives its own a
	// folder beside its scratch space.
	duck := sqlengine.Config{
		TempDir: filepath.Join(cfg.DataDir, "tmp", "duckdb-sql"),
		Threads: cfg.SQL.Threads, MemoryLimit: cfg.SQL.MemoryLimit, MaxConns: cfg.SQL.MaxConns,
	}
	datasetDir := st.Path(catalog.DataPrefix[:len(catalog.DataPrefix)-1])
	if e.cache != nil {
		datasetDir = e.cache.Dir()
	}
	dsDir, err := disk.Open(datasetDir) // made now: DuckDB may read only below it
	if err != nil {
		return nil, fmt.Errorf("open dataset folder: %w", err)
	}
	dsDir.Close()
	views := ingest.Views(cat, files)
	sql, err := sqlengine.New(duck, datasetDir, views)
	if err != nil {
		return nil, fmt.Errorf("open SQL engine: %w", err)
	}
	e.closers = append(e.closers, sql.Close)
	in, err := ingest.New(ingest.Config{
		TempDir:      filepath.Join(st.TempDir(), "ingest"),
		ObjectsDir:   st.DataDir(),
		FilesDir:     datasetDir,
		AllowedPaths: cfg.Ingest.AllowedPaths,
		Objects:      elsewhere,
		DuckDB:       duck,
	}, cat, files)
	if err != nil {
		return nil, fmt.Errorf("open ingest: %w", err)
	}
	e.closers = append(e.closers, in.Close)
	emb, err := embed.New(embed.Config{
		Provider: cfg.Embed.Provider, URL: cfg.Embed.URL, Model: cfg.Embed.Model, APIKeyEnv: cfg.Embed.APIKeyEnv,
		Dims: cfg.Embed.Dims, BatchSize: cfg.Embed.BatchSize, Timeout: time.Duration(cfg.Embed.TimeoutMS) * time.Millisecond,
		Retries: cmp.Or(cfg.Embed.Retries, -1), CacheSize: cfg.Embed.CacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("embedder: %w", err)
	}
	// One budget for the vector indexes and the pathway's trace index:
	// vector.max_memory bounds them together.
	vcfg := vector.Config{
		FlatThreshold: cfg.Vector.FlatThreshold, M: cfg.Vector.M, EfConstruction: cfg.Vector.EfConstruction, SnapshotBytes: cfg.Vector.SnapshotBytes,
		Budget: vector.NewBudget(cfg.Vector.MaxMemory),
	}
	vec, err := openVectors(ctx, cfg, vcfg)
	if err != nil {
		return nil, fmt.Errorf("open vector indexes: %w", err)
	}
	if cfg.vectorsShared() {
		e.checks["vectors"] = vec.Health
		e.follow("vectors", func() pgfeed.Lag { l, _ := vec.Lag(); return l })
	}
	e.vectors = vec
	e.closers = append(e.closers, vec.Close)
	for name, why := range vec.Unavailable() {
		slog.Error("vector index unavailable", "index", name, "reason", why)
	}
	pw, err := openPathway(ctx, cfg, emb, pathway.Config{
		MaxContentBytes: cfg.Pathway.MaxContentBytes, MaxTags: cfg.Pathway.MaxTags, MaxTagLen: cfg.Pathway.MaxTagLength,
		CompactBytes: cfg.Pathway.CompactBytes, Vector: vcfg,
	})
	if err != nil {
		return nil, fmt.Errorf("open pathway memory: %w", err)
	}
	e.closers = append(e.closers, pw.Close)
	if cfg.pathwayShared() {
		e.checks["pathway"] = pw.Health
		e.follow("pathway", func() pgfeed.Lag { l, _ := pw.Lag(); return l })
	}
	obs, err := openObserver(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open observer: %w", err)
	}
	e.closers = append(e.closers, obs.Close)
	if cfg.observerShared() {
		e.checks["observer"] = obs.Health
		e.follow("observer", func() pgfeed.Lag { l, _ := obs.Lag(); return l })
	}
	gate, err := matrix.NewGate(cfg.Matrix.Gate.rules())
	if err != nil {
		return nil, fmt.Errorf("matrix.gate.%w", err)
	}
	e.backends = &tools.Backends{Store: objects, Catalog: cat, Views: views, Ingest: in, SQL: sql, Vectors: vec, Embed: emb, Observer: obs, Pathway: pw, Gate: gate, Playbook: cfg.Matrix.Playbook.settings(), MaxObjectBytes: cfg.Objects.MaxBytes}
	return e, nil
}

// follow adds the change feed that engine name follows to /health's
// report.
func (e *engines) follow(name string, lag func() pgfeed.Lag) { e.feeds[name] = lag }

// datasetFiles is where the engines keep the datasets' files: the local
// store, or the bucket read through this node's cache.
type datasetFiles interface {
	ingest.Store
	ingest.Files
	catalog.Files
}

// healthReport is what /health says of the engines: each service they use
// beyond the machine, "ok" or what is wrong; in shared mode this node's
// cache of the datasets' files, and the lag of each change feed it follows.
type healthReport struct {
	Checks map[string]string
	Cache  *store.CacheStats
	Feeds  map[string]pgfeed.Lag
}

// health reports the services the engines use beyond the machine (see
// checkAll), the dataset cache and the feeds followed.
func (e *engines) health(ctx context.Context) healthReport {
	r := healthReport{Checks: e.checkAll(ctx)}
	if e.cache != nil {
		s := e.cache.Stats()
		r.Cache = &s
	}
	if len(e.feeds) > 0 {
		r.Feeds = make(map[string]pgfeed.Lag, len(e.feeds))
		for name, lag := range e.feeds {
			r.Feeds[name] = lag()
		}
	}
	return r
}

// checkAll checks the services the engines use beyond the machine (the
// bucket of the object store, the catalog's database, the observer's), at
// once and each for at most healthTimeout, and says of each "ok" or what
// is wrong.
func (e *engines) checkAll(ctx context.Context) map[string]string {
	out := make(map[string]string, len(e.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range e.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, healthTimeout)
			defer cancel()
			status := "ok"
			if err := check(ctx); err != nil {
				status = err.Error()
			}
			mu.Lock()
			out[name] = status
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// healthTimeout bounds each check of /health.
const healthTimeout = 2 * time.Second

// Close closes the backends in the reverse order of their opening, as
// defers run: the object store last, since the others use it.
func (e *engines) Close() error {
	var errs []error
	for _, c := range slices.Backward(e.closers) {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// newServer returns an MCP server with every tool of b, of which a
// session that may only read sees and calls the read-only ones (see
// scopeFilter), and b's resources, prompts and completions. With fence,
// results that carry stored data are fenced (see tools.Fenced).
func newServer(b *tools.Backends, fence bool) *mcp.Server {
	res := tools.NewResources(b)
	instructions, all := tools.Instructions, tools.All(b)
	if fence {
		instructions, all = instructions+"\n\n"+tools.FenceNote, tools.Fenced(all)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpd", Title: "Lakehouse MCP", Version: version},
		&mcp.ServerOptions{Instructions: instructions, PageSize: tools.ResourcePageSize,
			CompletionHandler: prompts.Complete(b, res.Complete),
			SubscribeHandler:  res.Subscribe, UnsubscribeHandler: res.Unsubscribe})
	tools.Register(s, all)
	res.Register(s)
	prompts.Register(s, b)
	s.AddReceivingMiddleware(scopeFilter(readOnlyNames(all))) // inside Observe: refused calls are recorded
	if b != nil && b.Observer != nil {
		tools.Observe(s, b.Observer)
	}
	return s
}
