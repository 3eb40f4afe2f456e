package pgtest

import (
	"testing"
	"time"
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
