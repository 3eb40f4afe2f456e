package vector

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgtest"
)

// Shared mode's recovery: restarts, crashes, retention, a database that
// goes away, lost notifications and commits.

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
