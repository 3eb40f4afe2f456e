package main

import (
	"context"
	"fmt"
	"path/filepath"

	"lakehouse/backends/catalog"
	"lakehouse/backends/observer"
	"lakehouse/tools"
)

// The values of observer.backend.
const (
	observerAuto     = "auto"     // postgres when the catalog is, else local
	observerLocal    = "local"    // a log in the data directory
	observerPostgres = "postgres" // the PostgreSQL of catalog.dsn
)

// observerShared reports whether the observer keeps its ops in PostgreSQL.
func (c Config) observerShared() bool {
	switch c.Observer.Backend {
	case observerPostgres:
		return true
	case observerAuto:
		return c.Catalog.Backend == catalogPostgres
	}
	return false
}

// validateObserver checks observer.backend, and that a shared observer
// has a database to go to. Its errors never quote the DSN.
func (c Config) validateObserver() error {
	switch c.Observer.Backend {
	case observerAuto, observerLocal:
		return nil
	case observerPostgres:
		if c.Catalog.DSN == "" {
			return fmt.Errorf("observer.backend = %q keeps the operations in the PostgreSQL of catalog.dsn, which is empty; set it (or LAKEHOUSE_CATALOG_DSN)", observerPostgres)
		}
		if _, _, err := catalog.ParsePostgres(c.Catalog.DSN); err != nil {
			return fmt.Errorf("catalog.dsn, which observer.backend = %q uses: %w", observerPostgres, err)
		}
		return nil
	}
	return fmt.Errorf("observer.backend = %q: use %q (PostgreSQL when the catalog is there), %q (the data directory) or %q (the PostgreSQL of catalog.dsn)", c.Observer.Backend, observerAuto, observerLocal, observerPostgres)
}

// openObserver opens the observer that cfg's [observer] configures: its
// log in the data directory, or its table in the catalog's database.
func openObserver(ctx context.Context, cfg Config) (*observer.Observer, error) {
	oc := observer.Config{
		RingSize: cfg.Observer.RingSize, EscalateAt: cfg.Observer.EscalateAt, OnEscalate: tools.Escalate,
		Retain: cfg.Observer.Retain, CompactBytes: cfg.Observer.CompactBytes,
	}
	if cfg.observerShared() {
		return observer.OpenShared(ctx, oc, observer.PostgresConfig{DSN: cfg.Catalog.DSN})
	}
	return observer.Open(filepath.Join(cfg.DataDir, "observer"), oc)
}
