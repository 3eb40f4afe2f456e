package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/tools"
)

// version is the release of mcpd; set at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// engines are the backends of one data directory, opened by the process that
// owns it.
type engines struct {
	backends *tools.Backends
	closers  []func() error
}

// openEngines opens every backend under cfg.DataDir:
//
//	objects/  the object store (user objects, _catalog/, _datasets/)
//	tmp/      scratch space for ingest, emptied at start
func openEngines(ctx context.Context, cfg Config) (_ *engines, err error) {
	e := &engines{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	st, err := store.OpenFS(filepath.Join(cfg.DataDir, "objects"))
	if err != nil {
		return nil, fmt.Errorf("open object store: %w", err)
	}
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	duck := sqlengine.Config{Threads: cfg.SQL.Threads, MemoryLimit: cfg.SQL.MemoryLimit, MaxConns: cfg.SQL.MaxConns}
	datasetDir := st.Path(catalog.DataPrefix[:len(catalog.DataPrefix)-1])
	if err := os.MkdirAll(datasetDir, 0o755); err != nil {
		return nil, err
	}
	sql, err := sqlengine.New(duck, datasetDir, datasetViews{cat, st})
	if err != nil {
		return nil, fmt.Errorf("open SQL engine: %w", err)
	}
	e.closers = append(e.closers, sql.Close)
	in, err := ingest.New(ingest.Config{
		TempDir:      filepath.Join(cfg.DataDir, "tmp", "ingest"),
		ObjectsDir:   st.DataDir(),
		AllowedPaths: cfg.Ingest.AllowedPaths,
		DuckDB:       duck,
	}, cat, st)
	if err != nil {
		return nil, fmt.Errorf("open ingest: %w", err)
	}
	e.closers = append(e.closers, in.Close)
	e.backends = &tools.Backends{Store: st, Catalog: cat, Ingest: in, SQL: sql, MaxObjectBytes: cfg.Objects.MaxBytes}
	return e, nil
}

// Close closes the backends.
func (e *engines) Close() error {
	var errs []error
	for _, c := range e.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// newServer returns an MCP server with every tool of b.
func newServer(b *tools.Backends) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpd", Title: "Lakehouse MCP", Version: version},
		&mcp.ServerOptions{Instructions: tools.Instructions})
	tools.Register(s, tools.All(b))
	return s
}

// datasetViews shows the catalog's tables to the SQL engine as views over
// local Parquet files.
type datasetViews struct {
	cat *catalog.Catalog
	st  *store.FS
}

func (d datasetViews) Views() (uint64, []sqlengine.View) {
	gen, tables := d.cat.Tables()
	views := make([]sqlengine.View, len(tables))
	for i, t := range tables {
		files := make([]string, len(t.Files))
		for j, k := range t.Files {
			files[j] = d.st.Path(k)
		}
		views[i] = sqlengine.View{Name: t.Name, Files: files}
	}
	return gen, views
}
