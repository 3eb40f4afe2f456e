package main

import (
	"fmt"

	"lakehouse/backends/catalog"
)

// The values of observer.backend and pathway.backend: where an engine
// that can share its state with other nodes keeps it.
const (
	backendAuto     = "auto"     // postgres when the catalog is, else local
	backendLocal    = "local"    // in the data directory
	backendPostgres = "postgres" // in the PostgreSQL of catalog.dsn
)

// sharedIn reports whether an engine configured with backend keeps its
// state in PostgreSQL.
func (c Config) sharedIn(backend string) bool {
	switch backend {
	case backendPostgres:
		return true
	case backendAuto:
		return c.Catalog.Backend == catalogPostgres
	}
	return false
}

// validateBackend checks section.backend, and that an engine shared by it
// has a database to go to; keeps says what it keeps there ("the
// operations"). Its errors never quote the DSN.
func (c Config) validateBackend(section, backend, keeps string) error {
	switch backend {
	case backendAuto, backendLocal:
		return nil
	case backendPostgres:
		if c.Catalog.DSN == "" {
			return fmt.Errorf("%s.backend = %q keeps %s in the PostgreSQL of catalog.dsn, which is empty; set it (or LAKEHOUSE_CATALOG_DSN)", section, backendPostgres, keeps)
		}
		if _, _, err := catalog.ParsePostgres(c.Catalog.DSN); err != nil {
			return fmt.Errorf("catalog.dsn, which %s.backend = %q uses: %w", section, backendPostgres, err)
		}
		return nil
	}
	return fmt.Errorf("%s.backend = %q: use %q (PostgreSQL when the catalog is there), %q (the data directory) or %q (the PostgreSQL of catalog.dsn)", section, backend, backendAuto, backendLocal, backendPostgres)
}
