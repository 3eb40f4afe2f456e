package vector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
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

// eventually waits for cond (pgtest.Eventually).
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	pgtest.Eventually(t, what, cond)
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
	var seq int64
	pgtest.Scan(t, dsn, "SELECT coalesce((SELECT seq FROM pgfeed_clock WHERE feed = '"+feedName+"'), 0)", &seq)
	return seq
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
	var n int
	pgtest.Scan(t, dsn, "SELECT count(*) FROM "+table, &n)
	return n
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
