package main

import (
	"fmt"

	"lakehouse/backends/catalog"
)

// The values of the backend key of an engine that can keep its state in
// the catalog's PostgreSQL, shared by the nodes (observer.backend,
// vector.backend).
const (
	backendAuto     = "auto"     // postgres when the catalog is, else local
	backendLocal    = "local"    // in the data directory
	backendPostgres = "postgres" // in the PostgreSQL of catalog.dsn
)

// inPostgres reports whether an engine whose backend key is set to
// backend keeps its state in PostgreSQL.
func (c Config) inPostgres(backend string) bool {
	switch backend {
	case backendPostgres:
		return true
	case backendAuto:
		return c.Catalog.Backend == catalogPostgres
	}
	return false
}

// validateBackend checks the backend key named key, set to backend, of an
// engine that keeps what in PostgreSQL, and that it has a database to go
// to. Its errors never quote the DSN.
func (c Config) validateBackend(key, backend, what string) error {
	switch backend {
	case backendAuto, backendLocal:
		return nil
	case backendPostgres:
		if c.Catalog.DSN == "" {
			return fmt.Errorf("%s = %q keeps %s in the PostgreSQL of catalog.dsn, which is empty; set it (or LAKEHOUSE_CATALOG_DSN)", key, backendPostgres, what)
		}
		if _, _, err := catalog.ParsePostgres(c.Catalog.DSN); err != nil {
			return fmt.Errorf("catalog.dsn, which %s = %q uses: %w", key, backendPostgres, err)
		}
		return nil
	}
	return fmt.Errorf("%s = %q: use %q (PostgreSQL when the catalog is there), %q (the data directory) or %q (the PostgreSQL of catalog.dsn)", key, backend, backendAuto, backendLocal, backendPostgres)
}
