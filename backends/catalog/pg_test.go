package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/internal/pgtest"
)

// nodes opens n catalogs over one new database of srv, each with a store
// of its own, as n mcpd nodes would.
func nodes(t *testing.T, srv *pgtest.Server, n int) (dsn string, cs []*catalog.Catalog) {
	dsn = srv.CreateDatabase()
	for range n {
		cs = append(cs, mustOpenPG(t, mustStore(t), dsn))
	}
	return dsn, cs
}

// nodeAppend returns the version after prev that appends file, as an ingest
// in mode append does: the next number, prev's files and rows and one more.
func nodeAppend(prev *catalog.Version, file string) catalog.Version {
	v := *prev
	v.Version, v.Mode = prev.Version+1, "append"
	v.Files = append(slices.Clone(prev.Files), file)
	v.Rows, v.AddedRows, v.Bytes = prev.Rows+1, 1, prev.Bytes+10
	return v
}

// TestPostgres_ConcurrentAppends: two nodes append 50 times each to one
// dataset at once, each building its version on what it last read, often
// stale by then. Every append lands as its own version, numbered 2..101
// once each, and each version holds the files of the one before it plus
// exactly one more; both nodes see the same manifest.
func TestPostgres_ConcurrentAppends(t *testing.T) {
	const perNode = 50
	_, cs := nodes(t, pgtest.Start(t), 2)
	first := newVersion("events", 1, 1)
	mustCommit(t, cs[0], "events", first)

	var wg sync.WaitGroup
	errc := make(chan error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perNode {
				m, err := c.Get("events")
				if err != nil {
					errc <- err
					return
				}
				file := fmt.Sprintf("_datasets/events/node%d-%02d.parquet", i, k)
				if _, err := c.Commit(context.Background(), "events", nodeAppend(m.Current(), file)); err != nil {
					errc <- fmt.Errorf("node %d append %d: %w", i, k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	m := cs[0].Lookup("events")
	if got, want := len(m.Versions), 1+len(cs)*perNode; got != want {
		t.Fatalf("%d versions, want %d", got, want)
	}
	seen := map[string]int{}
	for i, v := range m.Versions {
		if v.Version != i+1 {
			t.Fatalf("version %d at position %d: versions are not 1..%d once each", v.Version, i, len(m.Versions))
		}
		if v.Rows != int64(i+1) || len(v.Files) != i+1 {
			t.Errorf("version %d: %d rows, %d files; want %d of each", v.Version, v.Rows, len(v.Files), i+1)
		}
		if i > 0 && !slices.Equal(v.Files[:i], m.Versions[i-1].Files) {
			t.Errorf("version %d does not keep the files of version %d", v.Version, i)
		}
		seen[v.Files[i]]++
	}
	for i := range cs {
		for k := range perNode {
			if f := fmt.Sprintf("_datasets/events/node%d-%02d.parquet", i, k); seen[f] != 1 {
				t.Errorf("%s was added by %d versions, want 1", f, seen[f])
			}
		}
	}
	wantSame(t, cs[0], cs[1])
}

// TestPostgres_SeesOtherNodes: a read on one node reflects what another
// committed before it, without waiting: new versions, layouts and drops.
func TestPostgres_SeesOtherNodes(t *testing.T) {
	ctx := context.Background()
	_, cs := nodes(t, pgtest.Start(t), 2)
	a, b := cs[0], cs[1]
	if b.Lookup("logs") != nil {
		t.Fatal("b sees a dataset nobody made")
	}
	m := commitAppends(t, a, "logs", 3)
	g := b.Generation()
	if got := b.Lookup("logs"); got == nil || asJSON(t, got) != asJSON(t, m) {
		t.Fatalf("b reads %s, want what a committed: %s", asJSON(t, got), asJSON(t, m))
	}
	merged := []string{catalog.MergedKey(catalog.DataPrefix+"logs/", 3)}
	if _, err := a.Relayout(ctx, "logs", 3, m.Current().Files, merged); err != nil {
		t.Fatal(err)
	}
	_, tables := b.Tables()
	if i := slices.IndexFunc(tables, func(t catalog.Table) bool { return t.Name == "logs@v3" }); i < 0 || !slices.Equal(tables[i].Files, merged) {
		t.Errorf("b's tables after a's relayout: %v", tables)
	}
	if b.Generation() == g {
		t.Error("b's generation did not change when a committed")
	}
	if _, err := a.Drop(ctx, "logs"); err != nil {
		t.Fatal(err)
	}
	if got := names(b.List()); len(got) != 0 {
		t.Errorf("b lists %v after a dropped logs", got)
	}

	// What a read costs when nothing changed: one round trip.
	const reads = 200
	start := time.Now()
	for range reads {
		b.List()
	}
	t.Logf("a read that checks for other nodes' changes takes %v", time.Since(start)/reads)
}

// TestPostgres_StaleCommits: commits built on what a node read before
// another node changed the dataset. An append is rebased; a version number
// chosen and taken, a create of a dataset made elsewhere, or an append to
// one dropped or made again elsewhere is refused, saying why.
func TestPostgres_StaleCommits(t *testing.T) {
	ctx := context.Background()
	_, cs := nodes(t, pgtest.Start(t), 2)
	a, b := cs[0], cs[1]
	commitAppends(t, a, "logs", 2)
	stale := b.Lookup("logs").Current()
	mustCommit(t, a, "logs", nodeAppend(a.Lookup("logs").Current(), "_datasets/logs/a3.parquet"))
	mustCommit(t, a, "logs", nodeAppend(a.Lookup("logs").Current(), "_datasets/logs/a4.parquet"))

	taken := nodeAppend(stale, "_datasets/logs/b.parquet")
	taken.Version = 4
	_, err := b.Commit(ctx, "logs", taken)
	wantErr(t, err, errs.Conflict, "version 4", "taken", "up to version 4")

	m := mustCommit(t, b, "logs", nodeAppend(stale, "_datasets/logs/b.parquet"))
	cur := m.Current()
	if cur.Version != 5 || cur.Rows != 5 || !slices.Equal(cur.Files[2:], []string{"_datasets/logs/a3.parquet", "_datasets/logs/a4.parquet", "_datasets/logs/b.parquet"}) {
		t.Errorf("the rebased append is %+v; want version 5 with 5 rows, a's files then b's", cur)
	}

	_, err = b.Commit(ctx, "fresh", newVersion("fresh", 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Commit(ctx, "fresh", newVersion("fresh", 1, 1))
	wantErr(t, err, errs.Conflict, `"fresh"`, "created meanwhile by another node")

	stale = b.Lookup("logs").Current()
	if _, err := a.Drop(ctx, "logs"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Commit(ctx, "logs", nodeAppend(stale, "_datasets/logs/late.parquet"))
	wantErr(t, err, errs.NotFound, "dropped by another node")
	stale = b.Lookup("fresh").Current()
	if _, err := a.Drop(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, a, "fresh", newVersion("fresh", 1, 9))
	_, err = b.Commit(ctx, "fresh", nodeAppend(stale, "_datasets/fresh/late.parquet"))
	wantErr(t, err, errs.Conflict, "dropped and created again")
	if got := b.Lookup("fresh"); got == nil || got.Current().Rows != 9 || len(got.Versions) != 1 {
		t.Errorf("b reads fresh as %s, want a's new one", asJSON(t, got))
	}
}

// TestPostgres_CreateDropRaces: nodes creating one dataset at once make it
// once, the others told it exists; nodes dropping it at once drop it once,
// the others told it is not there. Repeated, so the races land both ways.
func TestPostgres_CreateDropRaces(t *testing.T) {
	ctx := context.Background()
	_, cs := nodes(t, pgtest.Start(t), 3)
	for round := range 20 {
		results := race(cs, func(i int, c *catalog.Catalog) error {
			_, err := c.Commit(ctx, "raced", newVersion("raced", 1, int64(i)))
			return err
		})
		wantOneWinner(t, round, "create", results, errs.Conflict)
		m := cs[0].Lookup("raced")
		for _, c := range cs[1:] {
			if got := c.Lookup("raced"); asJSON(t, got) != asJSON(t, m) {
				t.Fatalf("round %d: nodes disagree after the create: %s and %s", round, asJSON(t, m), asJSON(t, got))
			}
		}
		results = race(cs, func(_ int, c *catalog.Catalog) error {
			_, err := c.Drop(ctx, "raced")
			return err
		})
		wantOneWinner(t, round, "drop", results, errs.NotFound)
		for _, c := range cs {
			if c.Lookup("raced") != nil {
				t.Fatalf("round %d: a node still sees the dropped dataset", round)
			}
		}
	}
}

// race runs f on every catalog at once and returns the errors.
func race(cs []*catalog.Catalog, f func(i int, c *catalog.Catalog) error) []error {
	out := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { out[i] = f(i, c) })
	}
	wg.Wait()
	return out
}

// wantOneWinner checks that exactly one of results is nil and that the
// others are of kind k.
func wantOneWinner(t *testing.T, round int, what string, results []error, k *errs.Kind) {
	t.Helper()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, k):
			t.Fatalf("round %d: a %s that lost the race failed with %v, want %v", round, what, err, k)
		}
	}
	if won != 1 {
		t.Fatalf("round %d: %d nodes' %s succeeded, want 1: %v", round, won, what, results)
	}
}

// TestPostgres_Migrations: nodes starting at once over a new database
// migrate it once, and a node opening it later migrates nothing.
func TestPostgres_Migrations(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase()
	const n = 4
	errsOpen := race(make([]*catalog.Catalog, n), func(int, *catalog.Catalog) error {
		c, err := catalog.OpenPostgres(context.Background(), mustStore(t), catalog.PostgresConfig{DSN: dsn})
		if err == nil {
			c.Close()
		}
		return err
	})
	for _, err := range errsOpen {
		if err != nil {
			t.Fatalf("a node starting with %d others: %v", n-1, err)
		}
	}
	mustOpenPG(t, mustStore(t), dsn)
	var rows, versions int
	queryRow(t, dsn, "SELECT count(*), count(DISTINCT version) FROM schema_migrations WHERE component = 'catalog'", &rows, &versions)
	if rows != versions || rows == 0 {
		t.Errorf("schema_migrations holds %d rows for %d versions: a migration ran twice or none ran", rows, versions)
	}
}

// queryRow runs sql on dsn and scans its one row into dest.
func queryRow(t *testing.T, dsn, sql string, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestPostgres_DatabaseDown: with the database stopped, commits fail naming
// it and saying it is unreachable, and no password; reads answer from memory
// at once; health says so. Once it is back the same catalog commits again
// and sees what another node committed meanwhile, with no reopen.
func TestPostgres_DatabaseDown(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	_, cs := nodes(t, srv, 2)
	a, b := cs[0], cs[1]
	m := commitAppends(t, a, "logs", 2)
	b.Lookup("logs")

	srv.Stop()
	_, err := a.Commit(ctx, "logs", nodeAppend(m.Current(), "_datasets/logs/down.parquet"))
	if err == nil || errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("commit with the database down: %v (kind %v), want one of kind unavailable", err, errs.KindOf(err))
	}
	for _, part := range []string{srv.Addr + "/db1", "unreachable"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %q", err, part)
		}
	}
	if strings.Contains(err.Error(), pgtest.Password) {
		t.Errorf("error %q holds the password", err)
	}
	if err := a.Health(ctx); err == nil || !strings.Contains(err.Error(), srv.Addr) {
		t.Errorf("Health with the database down = %v, want an error naming it", err)
	}
	start := time.Now()
	for range 50 {
		if got := b.Lookup("logs"); got == nil || len(got.Versions) != 2 {
			t.Fatalf("b's read from memory with the database down: %s", asJSON(t, got))
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 reads with the database down took %v: they should answer from memory", d)
	}

	srv.Start()
	if err := a.Health(ctx); err != nil {
		t.Errorf("Health after the database is back: %v", err)
	}
	m = mustCommit(t, a, "logs", nodeAppend(m.Current(), "_datasets/logs/back.parquet"))
	// b's reads retry at most once a second.
	pgtest.Eventually(t, "b to read the commit after the database came back", func() (bool, string) {
		got := asJSON(t, b.Lookup("logs"))
		return got == asJSON(t, m), fmt.Sprintf("b reads %s, want %s", got, asJSON(t, m))
	})
}

// TestPostgres_KilledMidCommit kills the database (SIGKILL) while a node
// commits appends as fast as it can: after a restart every acknowledged
// version is there, a commit that was not acknowledged is there whole or
// not at all, and the node carries on committing without a reopen.
func TestPostgres_KilledMidCommit(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	dsn, cs := nodes(t, srv, 1)
	c := cs[0]
	mustCommit(t, c, "logs", newVersion("logs", 1, 1))

	acked := make(chan int, 1000)
	stopped, twenty := make(chan struct{}), make(chan struct{})
	var failed error
	go func() {
		defer close(stopped)
		for k := 0; ; k++ {
			m := c.Lookup("logs")
			v := nodeAppend(m.Current(), fmt.Sprintf("_datasets/logs/k%04d.parquet", k))
			if _, failed = c.Commit(ctx, "logs", v); failed != nil {
				return
			}
			acked <- v.Version
			if k == 19 {
				close(twenty)
			}
		}
	}()
	<-twenty
	srv.Kill()
	<-stopped
	close(acked)
	// The commit the kill cut off may have landed, and says so: what it
	// refers to must stay. The database is down, not the call wrong.
	if !errors.Is(failed, catalog.ErrMaybeCommitted) || errs.KindOf(failed) != errs.Unavailable {
		t.Errorf("the commit cut off by the kill: %v (kind %v), want ErrMaybeCommitted of kind unavailable", failed, errs.KindOf(failed))
	}
	last := 1
	for v := range acked {
		last = v
	}
	srv.Start()

	m := mustOpenPG(t, mustStore(t), dsn).Lookup("logs")
	if n := len(m.Versions); n != last && n != last+1 {
		t.Fatalf("after the kill: %d versions, want the %d acknowledged (or one more, committed as it died)", n, last)
	}
	for i, v := range m.Versions {
		if v.Version != i+1 || len(v.Files) != i+1 || (i > 0 && !slices.Equal(v.Files[:i], m.Versions[i-1].Files)) {
			t.Fatalf("version %d after the kill: %+v", i+1, v)
		}
	}
	got := mustCommit(t, c, "logs", nodeAppend(c.Lookup("logs").Current(), "_datasets/logs/after.parquet"))
	if got.Current().Version != len(m.Versions)+1 {
		t.Errorf("the first commit after the restart is version %d, want %d", got.Current().Version, len(m.Versions)+1)
	}
}
