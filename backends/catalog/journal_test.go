package catalog_test

import (
	"context"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/store"
	"lakehouse/internal/pgtest"
)

// A fixture is one journal for a test: the store of the datasets' files
// and a way to open a catalog over the journal, again or beside another.
type fixture struct {
	kind string // "store" or "postgres"
	st   store.Store
	open func(tb testing.TB) *catalog.Catalog
}

// eachJournal runs test once over each journal, so that the catalog's
// behaviour is held to one suite whatever keeps it.
func eachJournal(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Run("store", func(t *testing.T) {
		st := mustStore(t)
		test(t, &fixture{kind: "store", st: st, open: func(tb testing.TB) *catalog.Catalog { return mustOpen(tb, st) }})
	})
	t.Run("postgres", func(t *testing.T) { test(t, pgFixture(t, pgtest.Start(t))) })
}

// pgFixture makes a database on srv and returns the fixture of a catalog
// in it.
func pgFixture(tb testing.TB, srv *pgtest.Server) *fixture {
	dsn := srv.CreateDatabase()
	st := mustStore(tb)
	return &fixture{kind: "postgres", st: st, open: func(tb testing.TB) *catalog.Catalog { return mustOpenPG(tb, st, dsn) }}
}

// mustOpenPG opens the catalog in the database of dsn, with its files in
// st, closed when tb ends.
func mustOpenPG(tb testing.TB, st store.Store, dsn string) *catalog.Catalog {
	tb.Helper()
	c, err := catalog.OpenPostgres(context.Background(), st, catalog.PostgresConfig{DSN: dsn})
	if err != nil {
		tb.Fatalf("open catalog in PostgreSQL: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
