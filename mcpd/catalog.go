package main

import (
	"context"
	"fmt"

	"lakehouse/backends/catalog"
	"lakehouse/backends/store"
)

// CatalogConfig chooses where the catalog keeps the datasets' manifests:
// as a log in the data directory, or in PostgreSQL, which several mcpd
// nodes can share. lakehouse.toml gives each key's default.
type CatalogConfig struct {
	Backend string `toml:"backend"` // "local" or "postgres"
	DSN     string `toml:"dsn"`     // postgres: the connection string, password and all
}

// The values of catalog.backend.
const (
	catalogLocal    = "local"
	catalogPostgres = "postgres"
)

// validate checks the [catalog] keys. Its errors name the key, never the
// DSN's text, which may hold a password.
func (c CatalogConfig) validate() error {
	switch c.Backend {
	case catalogLocal:
		return nil
	case catalogPostgres:
		if c.DSN == "" {
			return fmt.Errorf("catalog.dsn is empty: catalog.backend = %q needs a PostgreSQL connection string, e.g. postgres://lakehouse@127.0.0.1:5432/lakehouse (or set LAKEHOUSE_CATALOG_DSN)", catalogPostgres)
		}
		if _, _, err := catalog.ParsePostgres(c.DSN); err != nil {
			return fmt.Errorf("catalog.dsn: %w", err)
		}
		return nil
	}
	return fmt.Errorf("catalog.backend = %q: use %q (manifests in the data directory) or %q (manifests in the PostgreSQL of catalog.dsn)", c.Backend, catalogLocal, catalogPostgres)
}

// openCatalog opens the catalog that cfg's [catalog] configures, its log
// (when it is local) in st, over the datasets' files in files.
func openCatalog(ctx context.Context, cfg Config, st store.Store, files catalog.Files) (*catalog.Catalog, error) {
	if cfg.Catalog.Backend == catalogPostgres {
		return catalog.OpenPostgres(ctx, files, catalog.PostgresConfig{DSN: cfg.Catalog.DSN})
	}
	c, err := catalog.Open(ctx, st)
	if err == nil {
		c.SetFiles(files)
	}
	return c, err
}
