package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Eventually polls cond, a state of a node that nothing signals (another
// node's write reaching it, say), every few milliseconds until it holds
// or within passes, and then fails t with what cond last said.
func Eventually(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
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

// Scalar returns the integer that query, of one row and one column, gives
// on the database of dsn, over a connection of its own; it fails t if it
// cannot.
func Scalar(t testing.TB, dsn, query string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
