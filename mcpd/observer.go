package main

import (
	"context"
	"path/filepath"

	"lakehouse/backends/observer"
	"lakehouse/tools"
)

// The values of observer.backend (see backend.go).
const (
	observerAuto     = backendAuto
	observerLocal    = backendLocal
	observerPostgres = backendPostgres
)

// observerShared reports whether the observer keeps its ops in PostgreSQL.
func (c Config) observerShared() bool { return c.inPostgres(c.Observer.Backend) }

// validateObserver checks observer.backend.
func (c Config) validateObserver() error {
	return c.validateBackend("observer.backend", c.Observer.Backend, "the operations")
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
