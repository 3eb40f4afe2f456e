package pathway

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"lakehouse/internal/pgtest"
)

// writeMix makes n writes on p of every kind: adds, replays, revisions,
// updates and retires.
func writeMix(t *testing.T, p *Pathway, n int) {
	t.Helper()
	ctx := context.Background()
	var tips []string
	for i := 0; i < n; i++ {
		var err error
		switch {
		case i%5 == 0 || len(tips) == 0:
			var tr Trace
			tr, _, err = p.Add(ctx, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), fmt.Sprintf("mixed write %d", i), []string{"mix"}, "")
			tips = append(tips, tr.UID)
		case i%5 == 1:
			_, _, err = p.Add(ctx, json.RawMessage(`{}`), "", nil, tips[0])
		case i%5 == 2:
			var tr Trace
			tr, err = p.Revise(ctx, tips[len(tips)-1], json.RawMessage(fmt.Sprintf(`{"rev":%d}`, i)), nil, []string{"rev"})
			tips[len(tips)-1] = tr.UID
		case i%5 == 3:
			text := fmt.Sprintf("updated %d", i)
			_, err = p.Update(ctx, tips[len(tips)-1], nil, &text, nil)
		default:
			_, err = p.Retire(ctx, tips[len(tips)-1], "done")
			tips = tips[:len(tips)-1]
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// countSeq returns the rows of table in the database of dsn, and their
// lowest and highest seq.
func countSeq(t *testing.T, dsn, table string) (n, lo, hi int64) {
	t.Helper()
	pgtest.Scan(t, dsn, "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM "+table, &n, &lo, &hi)
	return n, lo, hi
}

// Bases bound the table: after many writes it holds one base and the
// records since the base before; a node opened then loads the base and
// the records after it into the state of the node that wrote them, and so
// does a node that followed all along.
func TestShared_BaseBoundsTheTable(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	pc := PostgresConfig{DSN: dsn, CompactRecords: 10}
	a := openSharedWith(t, t.TempDir(), pc)
	b := openSharedWith(t, t.TempDir(), pc)
	writeMix(t, a, 57)
	a.pg.bg.Wait() // the last compaction started
	a.pg.maybeCompact()
	a.pg.bg.Wait()
	bases, _, at := countSeq(t, dsn, "pathway_bases")
	changes, _, _ := countSeq(t, dsn, "pathway_changes")
	// Twice CompactRecords, and the writes that came while a base was
	// written (the next waits for it) at most as many again.
	if bases != 1 || at < a.pg.applied-10 || changes > 30 {
		t.Fatalf("%d base rows (at %d) and %d records after 57 writes with CompactRecords 10", bases, at, changes)
	}
	c := openSharedWith(t, t.TempDir(), pc)
	if lag, _ := c.Lag(); lag.Skipped != 0 {
		t.Errorf("the new node's follower skipped %d records: it did not start from the base", lag.Skipped)
	}
	want := stateOf(a)
	if got := stateOf(c); got != want {
		t.Fatalf("a node opened on the base holds\n%s\nthe writer\n%s", got, want)
	}
	waitApplied(t, b, a.pg.applied)
	if got := stateOf(b); got != want {
		t.Fatalf("a node that followed holds\n%s\nthe writer\n%s", got, want)
	}
	if n := reconciled(t, c); n != len(c.order) {
		t.Fatalf("the new node indexed %d of %d traces", n, len(c.order))
	}
}

// A node whose next records were deleted before it read them (its
// follower stopped here; in life, a connection cut for long) rebuilds its
// memory from the base at its next write, which then succeeds, and its
// search finds what it missed.
func TestShared_GapRebuilds(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	pc := PostgresConfig{DSN: dsn, CompactRecords: 5}
	a := openSharedWith(t, t.TempDir(), pc)
	b := openSharedWith(t, t.TempDir(), pc)
	writeMix(t, a, 3)
	waitApplied(t, b, 3)
	b.pg.feed.Close()
	writeMix(t, a, 40)
	a.pg.bg.Wait()
	missed, _, err := a.Add(context.Background(), json.RawMessage(`{"k":1}`), "written while the other node was cut off", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	a.pg.bg.Wait()
	if _, first, _ := countSeq(t, dsn, "pathway_changes"); first <= 4 {
		t.Fatalf("the records after node b's last are still there (first %d)", first)
	}
	if _, _, err := b.Add(context.Background(), json.RawMessage(`{"k":2}`), "after the gap", nil, ""); err != nil {
		t.Fatalf("a write after the gap: %v", err)
	}
	waitApplied(t, a, b.pg.applied)
	if sa, sb := stateOf(a), stateOf(b); sa != sb {
		t.Fatalf("after the rebuild node b holds\n%s\nnode a\n%s", sb, sa)
	}
	res, err := b.Search(context.Background(), SearchOptions{Query: "cut off", Mode: Lexical})
	if err != nil || len(res.Traces) != 1 || res.Traces[0].UID != missed.UID {
		t.Fatalf("node b's search after the rebuild: %+v, %v", res.Traces, err)
	}
}
