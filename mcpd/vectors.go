package main

import (
	"context"
	"path/filepath"

	"lakehouse/backends/vector"
)

// vectorsShared reports whether the vector indexes keep their truth in
// PostgreSQL, shared by the nodes (vector.backend; see backend.go).
func (c Config) vectorsShared() bool { return c.sharedIn(c.Vector.Backend) }

// openVectors opens the vector indexes that cfg's [vector] configures:
// in the data directory, or in the catalog's database with the data
// directory as this node's copy of them.
func openVectors(ctx context.Context, cfg Config, vcfg vector.Config) (*vector.Manager, error) {
	dir := filepath.Join(cfg.DataDir, "vectors")
	if cfg.vectorsShared() {
		return vector.OpenShared(ctx, dir, vcfg, vector.PostgresConfig{DSN: cfg.Catalog.DSN})
	}
	return vector.Open(dir, vcfg)
}
