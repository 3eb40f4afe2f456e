package pathway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/embed"
	"lakehouse/internal/pgtest"
)

func openSharedInternal(t *testing.T, dir, dsn string) *Pathway {
	t.Helper()
	return openSharedWith(t, dir, PostgresConfig{DSN: dsn})
}

// openSharedWith opens a node of pc (Timeout 3 s unless set), closed when
// t ends.
func openSharedWith(t *testing.T, dir string, pc PostgresConfig) *Pathway {
	t.Helper()
	if pc.Timeout == 0 {
		pc.Timeout = 3 * time.Second
	}
	p, err := OpenShared(context.Background(), dir, testEmbedder{embed.NewHash(), "m1"}, Config{}, pc)
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
	a.pg.commit = func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		return errors.New("connection lost after COMMIT was sent")
	}
	ctx := context.Background()
	tr, replayed, err := a.Add(ctx, json.RawMessage(`{"k":1}`), "landed", nil, "lost-answer")
	if err != nil || replayed {
		t.Fatalf("add whose commit landed: %v (replayed %v); want success", err, replayed)
	}
	a.pg.commit = nil
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
	waitApplied(t, a, 31)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openSharedInternal(t, dir, dsn)
	if n := reconciled(t, a); n != 0 || !a.idx.inStep {
		t.Fatalf("a clean reopen re-indexed %d traces (in step %v); want 0", n, a.idx.inStep)
	}
}

// A batch whose transaction fails is taken back out of memory whole: its
// writers all get the error, those refused on top of it included, and the
// node's traces, sums and counts are what they were, as the other node's
// are; the next writes go on from there.
func TestShared_FailedBatchTakenBack(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedInternal(t, t.TempDir(), dsn)
	b := openSharedInternal(t, t.TempDir(), dsn)
	ctx := context.Background()
	kept := addN(t, a, 3)
	if _, err := a.Revise(ctx, kept[0], json.RawMessage(`{"v":2}`), nil, nil); err != nil {
		t.Fatal(err)
	}
	before := stateOf(a)

	// Hold the writer lock so that the changes below queue into one batch.
	a.pg.wmu.Lock()
	a.pg.commit = func(ctx context.Context, tx pgx.Tx) error {
		tx.Rollback(ctx)
		return errors.New("connection lost before COMMIT")
	}
	calls := []func() error{
		func() error {
			_, _, err := a.Add(ctx, json.RawMessage(`{"new":1}`), "new", []string{"x"}, "new-uid")
			return err
		},
		func() error {
			_, _, err := a.Add(ctx, json.RawMessage(`{"new":2}`), "again", nil, "new-uid")
			return err
		}, // a replay of the first
		func() error { _, _, err := a.Add(ctx, json.RawMessage(`{"k":1}`), "", nil, kept[1]); return err }, // a replay of a stored one
		func() error { _, err := a.Retire(ctx, kept[2], "gone"); return err },
		func() error { _, err := a.Retire(ctx, kept[2], "twice"); return err },                      // nothing to change, on top of the first
		func() error { text := "t"; _, err := a.Update(ctx, kept[2], nil, &text, nil); return err }, // refused as retired, on top of it
		func() error { text := "t"; _, err := a.Update(ctx, kept[1], nil, &text, []string{"y"}); return err },
	}
	errsOf := make(chan error, len(calls))
	for _, call := range calls {
		go func() { errsOf <- call() }()
	}
	pgtest.Eventually(t, "every call to queue", func() (bool, string) {
		a.pg.qmu.Lock()
		defer a.pg.qmu.Unlock()
		return len(a.pg.queue) == len(calls), fmt.Sprintf("%d of %d queued", len(a.pg.queue), len(calls))
	})
	a.pg.wmu.Unlock()
	for range calls {
		if err := <-errsOf; err == nil || !strings.Contains(err.Error(), "nothing was stored") {
			t.Fatalf("a write of the failed batch: %v; want nothing stored", err)
		}
	}
	if after := stateOf(a); after != before {
		t.Fatalf("after the failed batch:\n%s\nbefore:\n%s", after, before)
	}
	a.pg.commit = nil
	if _, err := a.Retire(ctx, kept[2], "now"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Add(ctx, json.RawMessage(`{"k":2}`), "", nil, kept[1]); err != nil { // b's catch-up sees a's retire
		t.Fatal(err)
	}
	if _, _, err := a.Add(ctx, json.RawMessage(`{"k":3}`), "x", nil, ""); err != nil { // a's sees b's replay
		t.Fatal(err)
	}
	waitApplied(t, b, 7)
	if sa, sb := stateOf(a), stateOf(b); sa != sb || !strings.Contains(sa, "retired=1") {
		t.Fatalf("the nodes disagree after the failed batch:\n%s\n%s", sa, sb)
	}
}

// stateOf renders what p holds: every trace in order, the sum of their
// index items and the counts.
func stateOf(p *Pathway) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var b strings.Builder
	for i, t := range p.order {
		j, _ := json.Marshal(t)
		fmt.Fprintf(&b, "%d %d %s\n", i, t.seq, j)
		if p.traces[t.UID] != t {
			fmt.Fprintf(&b, "map differs for %s\n", t.UID)
		}
	}
	fmt.Fprintf(&b, "traces=%d want=%d active=%d retired=%d superseded=%d tags=%v applied=%d",
		len(p.traces), p.want, p.counts.active, p.counts.retired, p.counts.superseded, p.counts.tags, p.pg.applied)
	return b.String()
}

// waitApplied waits until p has applied n records (see pgtest.Eventually).
func waitApplied(t *testing.T, p *Pathway, n int64) {
	t.Helper()
	pgtest.Eventually(t, "the node to apply every record", func() (bool, string) {
		p.mu.RLock()
		defer p.mu.RUnlock()
		return p.pg.applied == n, fmt.Sprintf("%d of %d applied", p.pg.applied, n)
	})
}

// A commit whose answer is lost while the database goes down cannot be
// told landed or not: the write fails saying it may have been stored, its
// records are taken back, and once the database answers the node applies
// them from the table if they landed, with no follower to bring them
// (this one's is stopped).
func TestShared_UnknownCommitSettles(t *testing.T) {
	srv := pgtest.Start(t)
	a := openSharedInternal(t, t.TempDir(), srv.CreateDatabase())
	a.pg.feed.Close()
	a.pg.commit = func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		srv.Stop()
		return errors.New("connection lost after COMMIT was sent")
	}
	ctx := context.Background()
	_, _, err := a.Add(ctx, json.RawMessage(`{"k":1}`), "fate unknown", nil, "unknown")
	if err == nil || !strings.Contains(err.Error(), "may have been stored") {
		t.Fatalf("add whose commit cannot be told: %v; want may have been stored", err)
	}
	if _, err := a.Get(ctx, "unknown"); err == nil {
		t.Fatal("a write whose fate is unknown stays in memory")
	}
	a.pg.commit = nil
	srv.Start()
	pgtest.Eventually(t, "the node to apply the write that landed", func() (bool, string) {
		_, err := a.Get(ctx, "unknown")
		return err == nil, fmt.Sprint(err)
	})
}
