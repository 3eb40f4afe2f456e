package pathway

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/internal/pgtest"
)

func openSharedInternal(t *testing.T, dir, dsn string) *Pathway {
	t.Helper()
	p, err := OpenShared(context.Background(), dir, testEmbedder{embed.NewHash(), "m1"}, Config{}, PostgresConfig{DSN: dsn, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// A commit that landed though its answer was lost is found by its write
// id: the write succeeds, and its record is applied once, here and on
// another node.
func TestShared_CommitAnswerLost(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedInternal(t, t.TempDir(), dsn)
	b := openSharedInternal(t, t.TempDir(), dsn)
	a.pg.afterCommit = func(err error) error {
		if err != nil {
			return err
		}
		return errors.New("connection lost after COMMIT was sent")
	}
	ctx := context.Background()
	tr, replayed, err := a.Add(ctx, json.RawMessage(`{"k":1}`), "landed", nil, "lost-answer")
	if err != nil || replayed {
		t.Fatalf("add whose commit landed: %v (replayed %v); want success", err, replayed)
	}
	a.pg.afterCommit = nil
	if _, _, err := b.Add(ctx, json.RawMessage(`{"k":2}`), "again", nil, "lost-answer"); err != nil {
		t.Fatal(err)
	}
	// a's next write catches up with b's replay first.
	if _, _, err := a.Add(ctx, json.RawMessage(`{"k":3}`), "other", nil, ""); err != nil {
		t.Fatal(err)
	}
	got, err := a.Get(ctx, tr.UID)
	if err != nil || got.ReplayCount != 1 || len(a.order) != 2 {
		t.Fatalf("node a: %+v, %v, %d traces; want one replay of 2 traces", got, err, len(a.order))
	}
}

// A node closed cleanly and opened again over the feed finds its index in
// step with the traces, and reconciles nothing, however many records came
// meanwhile from another node, once it has indexed them.
func TestShared_CleanReopenReindexesNothing(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	dir := t.TempDir()
	a := openSharedInternal(t, dir, dsn)
	b := openSharedInternal(t, t.TempDir(), dsn)
	uids := addN(t, b, 30)
	if _, err := b.Retire(context.Background(), uids[3], "gone"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.mu.RLock()
		n := a.pg.applied
		a.mu.RUnlock()
		if n == 31 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node a applied %d of 31 records", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openSharedInternal(t, dir, dsn)
	if n := reconciled(t, a); n != 0 || !a.idx.inStep {
		t.Fatalf("a clean reopen re-indexed %d traces (in step %v); want 0", n, a.idx.inStep)
	}
}
