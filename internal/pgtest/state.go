package pgtest

// Helpers for tests that look at what nodes and tables hold.

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wait bounds every wait of Eventually.
const Wait = 20 * time.Second

// Eventually polls cond, a state that a node reaches by itself through
// the database (another node's write followed, a reconnect) and that
// nothing signals, until it holds or Wait passes, and then fails t with
// what cond last said.
func Eventually(t testing.TB, what string, cond func() (ok bool, said string)) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		ok, said := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, said)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Scan runs sql, a query of one row, on a connection of its own to dsn
// and scans the row into dest, failing t if it cannot: for a test that
// looks at a table.
func Scan(t testing.TB, dsn, sql string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
