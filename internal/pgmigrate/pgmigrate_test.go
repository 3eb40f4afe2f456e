package pgmigrate_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/internal/pgmigrate"
	"lakehouse/internal/pgtest"
)

// Two components share schema_migrations: nodes applying both at once
// apply each migration once, a later start applies nothing, and a schema
// newer than the binary is refused with a *NewerError.
func TestApply(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	components := map[string][]string{
		// A slow first migration holds the others at the lock long enough
		// that, without it, they would apply it again and fail.
		"one": {"SELECT pg_sleep(0.3); CREATE TABLE one_a (x int)", "CREATE TABLE one_b (x int)"},
		"two": {"CREATE TABLE two_a (x int)"},
	}
	applied := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 { // three nodes starting at once
		for name, ms := range components {
			wg.Go(func() {
				n, err := pgmigrate.Apply(ctx, pool, name, ms)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				applied[name] += n
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if applied["one"] != 2 || applied["two"] != 1 {
		t.Errorf("applied %v, want one: 2, two: 1", applied)
	}
	if n, err := pgmigrate.Apply(ctx, pool, "one", components["one"]); n != 0 || err != nil {
		t.Errorf("a later start applied %d (%v), want none", n, err)
	}
	var newer *pgmigrate.NewerError
	if _, err := pgmigrate.Apply(ctx, pool, "one", components["one"][:1]); !errors.As(err, &newer) || newer.Have != 2 || newer.Know != 1 {
		t.Errorf("an older binary: %v, want a NewerError of 2 over 1", err)
	}
}
