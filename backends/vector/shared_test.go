package vector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgtest"
)

// sharedWait bounds every wait for a node to see something.
const sharedWait = 20 * time.Second

// openSharedAt opens a shared Manager on dir and dsn, closed when t ends
// unless the test closes it first.
func openSharedAt(t testing.TB, dir, dsn string, pc PostgresConfig) *Manager {
	t.Helper()
	pc.DSN = dsn
	m, err := OpenShared(context.Background(), dir, Config{}, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// eventually waits for cond, for at most sharedWait (pgtest.Eventually).
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	pgtest.Eventually(t, sharedWait, what, cond)
}

// found is a condition: a search of index name on m for q finds id first.
func found(m *Manager, name, id string, q []float32) func() (bool, string) {
	return func() (bool, string) {
		hits, err := m.Search(context.Background(), name, q, SearchOptions{K: 1})
		if err != nil {
			return false, err.Error()
		}
		return len(hits) == 1 && hits[0].ID == id, fmt.Sprintf("hits %v", hitIDs(hits))
	}
}

// caughtUp is a condition: m has applied every change of the feed.
func caughtUp(t testing.TB, m *Manager, dsn string) func() (bool, string) {
	return func() (bool, string) {
		head := feedHead(t, dsn)
		return m.pg.floor() >= head, fmt.Sprintf("applied %d of %d", m.pg.floor(), head)
	}
}

// feedHead returns the last number of the vector feed.
func feedHead(t testing.TB, dsn string) int64 {
	return pgtest.Scalar(t, dsn, "SELECT coalesce((SELECT seq FROM pgfeed_clock WHERE feed = $1), 0)", feedName)
}

// unit returns a vector of dim dimensions with a one at i.
func unit(dim, i int) []float32 {
	v := make([]float32, dim)
	v[i%dim] = 1
	return v
}

// dump returns every item of index name on m, sorted by id, as text.
func dump(t testing.TB, m *Manager, name string, ids []string) string {
	t.Helper()
	items, err := m.Get(name, ids)
	if err != nil {
		t.Fatal(err)
	}
	return format(items)
}

// format writes items as text, one a line.
func format(items []Item) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s %q %v %v\n", it.ID, it.Text, it.Metadata, it.Vector)
	}
	return b.String()
}

// An upsert is visible on the node that made it when the call returns,
// and on the other node soon after; so are a create, a delete and a drop.
func TestShared_OtherNodeSees(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	b := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	ctx := context.Background()
	mustCreate(t, a, "docs", 4, Cosine)
	if _, err := a.Create(ctx, "docs", Spec{Dim: 4}); !errors.Is(err, errs.Conflict) {
		t.Errorf("creating it again: %v, want a conflict", err)
	}
	if _, err := b.Create(ctx, "docs", Spec{Dim: 4}); !errors.Is(err, errs.Conflict) {
		t.Errorf("creating it again on the other node: %v, want a conflict", err)
	}
	mustUpsert(t, a, "docs", []Item{{ID: "x", Vector: unit(4, 0), Text: "the x"}, {ID: "y", Vector: unit(4, 1)}})
	if ok, said := found(a, "docs", "x", unit(4, 0))(); !ok {
		t.Errorf("node a's own upsert is not visible at once: %s", said)
	}
	eventually(t, "node b to find x", found(b, "docs", "x", unit(4, 0)))

	n, err := b.Delete(ctx, "docs", []string{"x", "nothing"})
	if err != nil || n != 1 {
		t.Errorf("delete on node b: %d, %v; want 1", n, err)
	}
	if n, err := b.Delete(ctx, "docs", []string{"x"}); err != nil || n != 0 {
		t.Errorf("deleting it again: %d, %v; want 0", n, err)
	}
	eventually(t, "node a to lose x", found(a, "docs", "y", unit(4, 0)))

	if err := a.Drop(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Upsert(ctx, "docs", []Item{{ID: "z", Vector: unit(4, 2)}}); !errors.Is(err, errs.NotFound) {
		t.Errorf("upsert into the dropped index: %v", err)
	}
	// Made again with other dimensions, on the other node.
	if _, err := b.Create(ctx, "docs", Spec{Dim: 3, Metric: L2}); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, b, "docs", []Item{{ID: "w", Vector: unit(3, 2)}})
	eventually(t, "node a to have the new index", func() (bool, string) {
		in, err := a.Info("docs")
		return err == nil && in.Dim == 3 && in.Count == 1, fmt.Sprintf("%+v %v", in, err)
	})
	if got := dump(t, a, "docs", []string{"x", "y", "w"}); got != dump(t, b, "docs", []string{"x", "y", "w"}) || !strings.HasPrefix(got, "w ") {
		t.Errorf("the nodes differ, or hold the old index's items: %q", got)
	}
	if lag, ok := b.Lag(); !ok || lag.Err != "" {
		t.Errorf("lag: %+v %v", lag, ok)
	}
	if err := a.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}
}

// Two nodes upserting and deleting the same items at once end in the same
// state, the one that applying the changes in their feed order gives,
// which is what vector_items holds.
func TestShared_ConcurrentSameItems(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	b := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	mustCreate(t, a, "same", 8, Dot)
	eventually(t, "node b to have the index", func() (bool, string) { _, err := b.Info("same"); return err == nil, fmt.Sprint(err) })
	ids := []string{"p", "q", "r", "s", "t", "u", "v", "w"}
	var wg sync.WaitGroup
	// Several writers a node, so that a node's own changes also commit in
	// an order other than their calls'.
	for w := range 6 {
		node, m := w%2, []*Manager{a, b}[w%2]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 30 {
				var err error
				// A few ids each call, so that a change lost or applied out of
				// order is seldom hidden by a later one.
				some := slices.Clone(ids)
				rng.Shuffle(len(some), func(i, j int) { some[i], some[j] = some[j], some[i] })
				some = some[:1+rng.IntN(3)]
				// And an id of this writer's own each call: an upsert of a new
				// one, or a delete of the last one, which no later change
				// hides.
				if i%5 == 3 {
					_, err = m.Delete(context.Background(), "same", append(some, fmt.Sprintf("w%d-%02d", w, i-1)))
				} else {
					batch := make([]Item, 0, len(some))
					for _, id := range append(some, fmt.Sprintf("w%d-%02d", w, i)) {
						v := make([]float32, 8)
						for j := range v {
							v[j] = rng.Float32()
						}
						batch = append(batch, Item{ID: id, Vector: v, Text: fmt.Sprintf("node %d writer %d round %d", node, w, i)})
					}
					rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
					_, err = m.Upsert(context.Background(), "same", batch)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for w := range 6 {
		for i := range 30 {
			ids = append(ids, fmt.Sprintf("w%d-%02d", w, i))
		}
	}
	slices.Sort(ids)
	eventually(t, "node a to catch up", caughtUp(t, a, dsn))
	eventually(t, "node b to catch up", caughtUp(t, b, dsn))
	da, db := dump(t, a, "same", ids), dump(t, b, "same", ids)
	if da != db {
		t.Fatalf("the nodes differ:\n%s\nand\n%s", da, db)
	}
	// A third node, loaded from the tables, agrees too.
	c := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	if dc := dump(t, c, "same", ids); dc != da {
		t.Errorf("a node loaded from vector_items differs:\n%s\nand\n%s", dc, da)
	}
	if dt := dumpTable(t, dsn, "same", 8); dt != da {
		t.Errorf("the nodes differ from vector_items:\n%s\nand\n%s", da, dt)
	}
}

// idleAndBusy opens two nodes, a and b (on dirB), and makes on a the
// index idle, of one item, "still", and then the index busy, of 4
// dimensions, with n upserts of an item each ("early0", ...); it returns
// once b has them.
func idleAndBusy(t *testing.T, dsn string, pc PostgresConfig, busy string, n int) (a, b *Manager, dirB string) {
	t.Helper()
	a = openSharedAt(t, t.TempDir(), dsn, pc)
	dirB = t.TempDir()
	b = openSharedAt(t, dirB, dsn, pc)
	mustCreate(t, a, "idle", 2, Cosine)
	mustUpsert(t, a, "idle", []Item{{ID: "still", Vector: []float32{1, 0}}})
	mustCreate(t, a, busy, 4, Cosine)
	for i := range n {
		mustUpsert(t, a, busy, []Item{{ID: fmt.Sprint("early", i), Vector: unit(4, i)}})
	}
	eventually(t, "node b to catch up", caughtUp(t, b, dsn))
	return a, b, dirB
}

// A node restarted keeps its copies and catches up from the feed number
// they cover, marked at close: an index idle meanwhile too, though the
// changes since its last write are gone from the log.
func TestShared_RestartCatchesUp(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	// The log keeps the changes made while b is down, not those since the
	// idle index's last.
	pc := PostgresConfig{Retain: 14}
	a, b, dirB := idleAndBusy(t, dsn, pc, "r", 10)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustUpsert(t, a, "r", []Item{{ID: fmt.Sprint("later", i), Vector: unit(4, i)}})
	}
	// An index made meanwhile is loaded whole; the changes that made it,
	// which b follows again from its older copies' number, leave it be.
	mustCreate(t, a, "fresh", 2, Cosine)
	mustUpsert(t, a, "fresh", []Item{{ID: "new", Vector: []float32{0, 1}}})
	b = openSharedAt(t, dirB, dsn, pc)
	if got, err := b.Get("r", []string{"later9"}); err != nil || len(got) != 1 {
		t.Errorf("the restarted node lacks the upsert made while it was down: %v %v", got, err)
	}
	if n := b.pg.reloads.Load(); n != 1 {
		t.Errorf("the restarted node loaded %d indexes from the tables; want its copies caught up, and the new index loaded", n)
	}
	if got, err := b.Get("fresh", []string{"new"}); err != nil || len(got) != 1 {
		t.Errorf("the index made while the node was down: %v %v", got, err)
	}
	if got := dump(t, b, "idle", []string{"still"}); !strings.HasPrefix(got, "still ") {
		t.Errorf("the idle index: %q", got)
	}
}

// A node that stops without closing (its folder copied as it runs stands
// for a kill -9) catches up from the number its copy covers: after a
// snapshot, from the mark that starts the new log; else from the numbers
// of the changes in the log.
func TestShared_CrashCatchesUp(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	dirB := t.TempDir()
	b := openSharedAt(t, dirB, dsn, PostgresConfig{})
	mustCreate(t, a, "r", 4, Cosine)
	mustUpsert(t, a, "r", []Item{{ID: "one", Vector: unit(4, 0)}})
	eventually(t, "node b to find one", found(b, "r", "one", unit(4, 0)))
	for round, snapshot := range []bool{true, false} {
		if snapshot {
			if err := b.Snapshot(context.Background(), "r"); err != nil {
				t.Fatal(err)
			}
		}
		crashed := copyDir(t, dirB)
		id := fmt.Sprintf("later-%d", round)
		mustUpsert(t, a, "r", []Item{{ID: id, Vector: unit(4, 1+round)}})
		c := openSharedAt(t, crashed, dsn, PostgresConfig{})
		if ok, said := found(c, "r", id, unit(4, 1+round))(); !ok {
			t.Errorf("round %d: the restarted node lacks the upsert made while it was down: %s", round, said)
		}
		if n := c.pg.reloads.Load(); n != 0 {
			t.Errorf("round %d: the restarted node reloaded %d indexes from the tables; want its copy caught up", round, n)
		}
		c.Close()
		eventually(t, "node b to catch up", caughtUp(t, b, dsn))
	}
}

// A node behind the changes the log keeps reloads its copy from the
// tables, and ends as the others.
func TestShared_RetentionReloads(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	pc := PostgresConfig{Retain: 8}
	a := openSharedAt(t, t.TempDir(), dsn, pc)
	dirB := t.TempDir()
	b := openSharedAt(t, dirB, dsn, pc)
	mustCreate(t, a, "k", 4, L2)
	eventually(t, "node b to have the index", caughtUp(t, b, dsn))
	b.Close()
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprint("id", i)
		mustUpsert(t, a, "k", []Item{{ID: ids[i], Vector: unit(4, i), Text: ids[i]}})
	}
	if _, err := a.Delete(context.Background(), "k", ids[:5]); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, dsn, "vector_log"); n > 9 {
		t.Errorf("%d changes kept, want at most 9", n)
	}
	b = openSharedAt(t, dirB, dsn, pc)
	if n := b.pg.reloads.Load(); n != 1 {
		t.Errorf("%d reloads, want 1", n)
	}
	if da, db := dump(t, a, "k", ids), dump(t, b, "k", ids); da != db {
		t.Errorf("the reloaded node differs:\n%s\nand\n%s", db, da)
	}
}

// dumpTable returns the items of index name in vector_items, as dump.
func dumpTable(t testing.TB, dsn, name string, dim int) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT item FROM vector_items WHERE index_name = $1 ORDER BY id COLLATE "C"`, name)
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		p, err := decodeItem(r.RawValues()[0], dim)
		return Item{ID: p.id, Vector: p.vec, Text: p.ex.getText(), Metadata: p.ex.metadata()}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return format(items)
}

// countRows counts the rows of table.
func countRows(t testing.TB, dsn, table string) int {
	return int(pgtest.Scalar(t, dsn, "SELECT count(*) FROM "+table))
}

// A change whose notification never comes is found by the poll.
func TestShared_MissedNotification(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{Poll: 200 * time.Millisecond})
	mustCreate(t, a, "quiet", 2, Cosine)
	// A change written as a writer does, less the notification.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ps, err := prepareItems([]Item{{ID: "hush", Vector: []float32{0, 1}}}, 2, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var seq int64
		if err := tx.QueryRow(ctx, "UPDATE pgfeed_clock SET seq = seq + 1 WHERE feed = $1 RETURNING seq", feedName).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO vector_items VALUES ('quiet', 'hush', $1)", appendItem(nil, "hush", ps[0].vec, nil)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO vector_log VALUES ($1, 'quiet', 'elsewhere', 'write', $2)", seq, encodeUpsert(ps, 2))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the poll to find the change", found(a, "quiet", "hush", []float32{0, 1}))
}

// While the database is down, writes fail naming it and searches answer
// from memory; once it is back, both nodes carry on by themselves.
func TestShared_DatabaseRestart(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	pc := PostgresConfig{Poll: 200 * time.Millisecond, Timeout: 2 * time.Second}
	a := openSharedAt(t, t.TempDir(), dsn, pc)
	b := openSharedAt(t, t.TempDir(), dsn, pc)
	ctx := context.Background()
	mustCreate(t, a, "d", 2, Cosine)
	mustUpsert(t, a, "d", []Item{{ID: "before", Vector: []float32{1, 0}}})
	eventually(t, "node b to find before", found(b, "d", "before", []float32{1, 0}))

	pg.Stop()
	_, err := a.Upsert(ctx, "d", []Item{{ID: "during", Vector: []float32{0, 1}}})
	if !errors.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), pg.Addr) {
		t.Errorf("an upsert with the database down: %v; want unavailable, naming %s", err, pg.Addr)
	}
	if ok, said := found(b, "d", "before", []float32{1, 0})(); !ok {
		t.Errorf("a search with the database down: %s", said)
	}
	eventually(t, "node b's health to say the database is down", func() (bool, string) {
		err := b.Health(ctx)
		return errors.Is(err, errs.Unavailable), fmt.Sprint(err)
	})

	pg.Start()
	eventually(t, "an upsert once the database is back", func() (bool, string) {
		_, err := a.Upsert(ctx, "d", []Item{{ID: "after", Vector: []float32{0, 1}}})
		return err == nil, fmt.Sprint(err)
	})
	eventually(t, "node b to find after", found(b, "d", "after", []float32{0, 1}))
	eventually(t, "node b to be healthy", func() (bool, string) { err := b.Health(ctx); return err == nil, fmt.Sprint(err) })
	if ok, _ := found(b, "d", "during", []float32{0, 1})(); ok {
		t.Error("the upsert that failed is there")
	}
	if got, _ := b.Get("d", []string{"during"}); len(got) != 0 {
		t.Errorf("the upsert that failed is there: %v", got)
	}
}

// Local mode writes no shared record, and an index's state covers no
// feed number.
func TestShared_LocalModeUnchanged(t *testing.T) {
	m := mustOpen(t, t.TempDir(), Config{})
	mustCreate(t, m, "l", 2, Cosine)
	mustUpsert(t, m, "l", []Item{{ID: "a", Vector: []float32{1, 0}}})
	if err := m.Snapshot(context.Background(), "l"); err != nil {
		t.Fatal(err)
	}
	ix, _ := m.lookup("l")
	if seq := ix.feedSeq(); seq != 0 || ix.floor != nil {
		t.Errorf("a local index covers feed number %d", seq)
	}
}

// copyDir copies the folder dir as it is now, as a node killed at this
// moment would leave it, and returns the copy.
func copyDir(t testing.TB, dir string) string {
	t.Helper()
	to := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", to).CombinedOutput(); err != nil {
		t.Fatalf("copy the folder: %v %s", err, out)
	}
	return to
}

// An index idle while many changes pass is marked on the way, so that a
// node that crashes (no marks at close) keeps its copy of it although the
// log no longer holds the changes since its last write.
func TestShared_IdleIndexMarked(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	pc := PostgresConfig{Retain: 8}
	a, _, dirB := idleAndBusy(t, dsn, pc, "busy", 20)
	crashed := copyDir(t, dirB)
	mustUpsert(t, a, "busy", []Item{{ID: "after", Vector: unit(4, 1)}})
	c := openSharedAt(t, crashed, dsn, pc)
	if n := c.pg.reloads.Load(); n != 0 {
		t.Errorf("the node restarted after a crash reloaded %d indexes; want its copies caught up", n)
	}
	if got := dump(t, c, "idle", []string{"still"}) + dump(t, c, "busy", []string{"after"}); strings.Count(got, "\n") != 2 {
		t.Errorf("after the restart: %q", got)
	}
}

// A write whose transaction does not commit (the node died first) leaves
// nothing, and takes no number; one that committed but whose caller was
// told it failed (the connection cut at the commit) reaches every node,
// the writer's too, as any other.
func TestShared_UncommittedAndLostAcknowledgement(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	b := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	ctx := context.Background()
	mustCreate(t, a, "u", 2, Cosine)
	head := feedHead(t, dsn)
	var point string
	a.pg.failAt = func(p string) error {
		if p == point {
			return errors.New("connection lost at " + p)
		}
		return nil
	}
	point = beforeCommit
	if _, err := a.Upsert(ctx, "u", []Item{{ID: "never", Vector: []float32{1, 0}}}); !errors.Is(err, errs.Unavailable) {
		t.Errorf("a write that did not commit: %v", err)
	}
	if h := feedHead(t, dsn); h != head || countRows(t, dsn, "vector_items") != 0 {
		t.Errorf("a write that did not commit left the feed at %d (was %d) and %d items", h, head, countRows(t, dsn, "vector_items"))
	}
	point = afterCommit
	if _, err := a.Upsert(ctx, "u", []Item{{ID: "landed", Vector: []float32{0, 1}}}); err == nil {
		t.Error("the write whose acknowledgement was lost did not fail")
	}
	point = ""
	mustUpsert(t, a, "u", []Item{{ID: "next", Vector: []float32{1, 1}}})
	for _, m := range []*Manager{a, b} {
		eventually(t, "each node to have the write that landed", caughtUp(t, m, dsn))
		if got := dump(t, m, "u", []string{"never", "landed", "next"}); strings.Count(got, "\n") != 2 || strings.Contains(got, "never") {
			t.Errorf("items: %q; want landed and next", got)
		}
	}
	if h := feedHead(t, dsn); h != head+2 {
		t.Errorf("feed at %d, want %d", h, head+2)
	}
}

// Indexes made in local mode are neither served nor deleted by shared
// mode on the same folder: they are set aside, files and all.
func TestShared_LocalIndexSetAside(t *testing.T) {
	dir := t.TempDir()
	local, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, local, "old", 2, Cosine)
	mustUpsert(t, local, "old", []Item{{ID: "kept", Vector: []float32{1, 0}}})
	if err := local.Close(); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.Start(t).CreateDatabase()
	m := openSharedAt(t, dir, dsn, PostgresConfig{})
	if got := m.List(); len(got) != 0 {
		t.Errorf("shared mode serves %v", got)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, ".local-old-*"))
	if len(aside) != 1 {
		t.Fatalf("folders set aside: %v", aside)
	}
	mustCreate(t, m, "old", 3, L2) // the name is free in shared mode
	m.Close()
	if err := os.Rename(aside[0], filepath.Join(dir, "restored")); err != nil {
		t.Fatal(err)
	}
	again := mustOpen(t, dir, Config{})
	if got, err := again.Get("restored", []string{"kept"}); err != nil || len(got) != 1 {
		t.Errorf("the set-aside index, renamed back and opened in local mode: %v %v", got, err)
	}
}

// A node whose follower falls so far behind while it runs that the
// changes it has yet to read are deleted reloads the indexes from the
// tables, and ends as the others.
func TestShared_GapWhileFollowing(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	pc := PostgresConfig{Retain: 4}
	a := openSharedAt(t, t.TempDir(), dsn, pc)
	b := openSharedAt(t, t.TempDir(), dsn, pc)
	mustCreate(t, a, "g", 2, Cosine)
	eventually(t, "node b to have the index", caughtUp(t, b, dsn))
	b.pg.mu.Lock() // b's follower stops at its next batch
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = fmt.Sprint("g", i)
		mustUpsert(t, a, "g", []Item{{ID: ids[i], Vector: []float32{1, float32(i)}}})
	}
	if _, err := a.Delete(context.Background(), "g", ids[:3]); err != nil {
		t.Fatal(err)
	}
	b.pg.mu.Unlock()
	eventually(t, "node b to catch up", caughtUp(t, b, dsn))
	if n := b.pg.reloads.Load(); n < 1 {
		t.Errorf("node b reloaded %d indexes, want the one behind", n)
	}
	if da, db := dump(t, a, "g", ids), dump(t, b, "g", ids); da != db {
		t.Errorf("node b differs:\n%s\nand\n%s", db, da)
	}
}

// Writes racing a drop on another node, and two creates of one name at
// once, end as on one node: the writes before the drop are gone with it,
// those after it find no index, and one create wins, the other
// conflicting.
func TestShared_DropAndCreateRaces(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	b := openSharedAt(t, t.TempDir(), dsn, PostgresConfig{})
	ctx := context.Background()
	for round := range 3 {
		mustCreate(t, a, "x", 2, Cosine)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 40 {
				_, err := b.Upsert(ctx, "x", []Item{{ID: fmt.Sprint(i), Vector: []float32{1, 0}}})
				if err != nil && !errors.Is(err, errs.NotFound) {
					t.Errorf("round %d: an upsert racing the drop: %v", round, err)
				}
			}
		})
		if err := a.Drop(ctx, "x"); err != nil {
			t.Errorf("round %d: drop: %v", round, err)
		}
		wg.Wait()
		if n := countRows(t, dsn, "vector_items"); n != 0 {
			t.Errorf("round %d: %d items left of the dropped index", round, n)
		}
		for _, m := range []*Manager{a, b} {
			eventually(t, "the index to be gone on each node", caughtUp(t, m, dsn))
			if _, err := m.Info("x"); !errors.Is(err, errs.NotFound) {
				t.Errorf("round %d: the dropped index on a node: %v", round, err)
			}
		}
	}
	errsOf := make([]error, 2)
	var wg sync.WaitGroup
	for i, m := range []*Manager{a, b} {
		wg.Go(func() { _, errsOf[i] = m.Create(ctx, "y", Spec{Dim: 2 + i}) })
	}
	wg.Wait()
	if (errsOf[0] == nil) == (errsOf[1] == nil) || !errors.Is(errors.Join(errsOf...), errs.Conflict) {
		t.Errorf("two creates of one name: %v", errsOf)
	}
	for _, m := range []*Manager{a, b} {
		eventually(t, "each node to have the index that won", caughtUp(t, m, dsn))
	}
	ia, _ := a.Info("y")
	ib, _ := b.Info("y")
	if ia.Dim != ib.Dim || !ia.CreatedAt.Equal(ib.CreatedAt) {
		t.Errorf("the nodes hold different indexes y: %+v and %+v", ia, ib)
	}
}
