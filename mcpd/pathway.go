package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"lakehouse/backends/pathway"
)

// pathwayShared reports whether the trace memory is kept in PostgreSQL.
func (c Config) pathwayShared() bool { return c.sharedIn(c.Pathway.Backend) }

// validatePathway checks pathway.backend (see validateBackend).
func (c Config) validatePathway() error {
	return c.validateBackend("pathway", c.Pathway.Backend, "the traces")
}

// openPathway opens the trace memory that cfg's [pathway] configures: its
// log in the data directory, or its table in the catalog's database, with
// the search index in the data directory either way.
func openPathway(ctx context.Context, cfg Config, emb pathway.Embedder, pc pathway.Config) (*pathway.Pathway, error) {
	dir := filepath.Join(cfg.DataDir, "pathway")
	if cfg.pathwayShared() {
		if fi, err := os.Stat(filepath.Join(dir, "pathway.log")); err == nil && fi.Size() > 0 {
			slog.Warn("pathway.backend is postgres: the traces of this data directory's local log are not used (they stay in its files)", "dir", dir)
		}
		return pathway.OpenShared(ctx, dir, emb, pc, pathway.PostgresConfig{DSN: cfg.Catalog.DSN, CompactRecords: cfg.Pathway.CompactRecords})
	}
	return pathway.Open(dir, emb, pc)
}
