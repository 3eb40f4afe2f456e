package pgfeed_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/internal/pgfeed"
	"lakehouse/internal/pgtest"
)

// waitTimeout bounds every wait for a condition.
const waitTimeout = 20 * time.Second

const feed = "items"

// openDB makes a database with the feeds' schema and a table of items.
func openDB(t *testing.T, pg *pgtest.Server) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.CreateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgfeed.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE items (seq bigint PRIMARY KEY, v text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return pool
}

// insert inserts vs as items numbered from first in tx.
func insert(t *testing.T, tx pgx.Tx, first int64, vs ...string) {
	t.Helper()
	for i, v := range vs {
		if _, err := tx.Exec(context.Background(), "INSERT INTO items VALUES ($1, $2)", first+int64(i), v); err != nil {
			t.Fatal(err)
		}
	}
}

// write appends vs to the feed in one transaction, as a writer does.
func write(t *testing.T, pool *pgxpool.Pool, vs ...string) error {
	t.Helper()
	return pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		first, err := pgfeed.Reserve(context.Background(), tx, feed, len(vs))
		if err != nil {
			return err
		}
		insert(t, tx, first, vs...)
		return nil
	})
}

// collector is what a follower applied, with a way to wait for it.
type collector struct {
	mu      sync.Mutex
	got     []string
	batches []int
	changed chan struct{} // closed and replaced at each batch
}

func (c *collector) apply(batch []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, batch...)
	c.batches = append(c.batches, len(batch))
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor waits until ok holds of what was applied, or fails t.
func (c *collector) waitFor(t *testing.T, what string, ok func(got []string) bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		got, changed := slices.Clone(c.got), c.changed
		c.mu.Unlock()
		if ok(got) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("waiting for %s: applied %v", what, got)
		}
	}
}

// has reports whether got is exactly want.
func has(want ...string) func([]string) bool {
	return func(got []string) bool { return slices.Equal(got, want) }
}

// follow starts a follower of the items table into a collector.
func follow(t *testing.T, pool *pgxpool.Pool, poll time.Duration, batch int) (*pgfeed.Follower[string], *collector) {
	t.Helper()
	c := &collector{changed: make(chan struct{})}
	cc := pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = "follower"
	f, err := pgfeed.Start(context.Background(), pgfeed.Config[string]{
		Conn: cc, Feed: feed, Poll: poll, Batch: batch,
		Query: "SELECT seq, v FROM items WHERE seq > $1 ORDER BY seq LIMIT $2",
		Scan: func(row pgx.CollectableRow) (seq int64, v string, err error) {
			err = row.Scan(&seq, &v)
			return seq, v, err
		},
		Apply: c.apply,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f, c
}

// waitUntil waits for cond, a condition of the database or a follower's
// state that nothing signals (see pgtest.Eventually).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	pgtest.Eventually(t, what, func() (bool, string) { return cond(), "it does not hold" })
}

// Two transactions reserve in one order and try to commit in the other:
// A takes its number first and commits last. The follower must apply both,
// in number order, whatever the order of the commits: a follower that had
// moved past B's number before A committed would never see A.
func TestFollower_InterleavedTransactions(t *testing.T) {
	pg := pgtest.Start(t)
	pool := openDB(t, pg)
	_, c := follow(t, pool, time.Minute, 0) // notifications only: no poll in the test's time
	ctx := context.Background()

	a, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Rollback(ctx)
	firstA, err := pgfeed.Reserve(ctx, a, feed, 1)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, a, firstA, "a")

	// B reserves after A and commits as soon as it can.
	bDone := make(chan error, 1)
	go func() {
		bDone <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			first, err := pgfeed.Reserve(ctx, tx, feed, 1)
			if err != nil {
				return err
			}
			if first <= firstA {
				return fmt.Errorf("B reserved %d, not after A's %d", first, firstA)
			}
			_, err = tx.Exec(ctx, "INSERT INTO items VALUES ($1, 'b')", first)
			return err
		})
	}()
	// Either B waits for A (the clock's row lock), or B committed first;
	// in that case the follower applies B before A commits.
	var bCommitted bool
	waitUntil(t, "B to wait on a lock or commit", func() bool {
		select {
		case err := <-bDone:
			if err != nil {
				t.Fatal(err)
			}
			bCommitted = true
			return true
		default:
		}
		var waiting bool
		pool.QueryRow(ctx, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&waiting)
		return waiting
	})
	if bCommitted {
		c.waitFor(t, "B applied before A commits", func(got []string) bool { return slices.Contains(got, "b") })
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !bCommitted {
		if err := <-bDone; err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor(t, "A then B", has("a", "b"))
}

// Rows whose notification never came (here: none was sent) are applied by
// the periodic catch-up, within about one Poll.
func TestFollower_MissedNotification(t *testing.T) {
	pg := pgtest.Start(t)
	pool := openDB(t, pg)
	const poll = 200 * time.Millisecond
	f, c := follow(t, pool, poll, 0)
	if err := write(t, pool, "one"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the notified row", has("one"))

	// A writer that takes its number but does not notify.
	ctx := context.Background()
	wrote := time.Now()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var seq int64
		if err := tx.QueryRow(ctx, "UPDATE pgfeed_clock SET seq = seq + 1 WHERE feed = $1 RETURNING seq", feed).Scan(&seq); err != nil {
			return err
		}
		insert(t, tx, seq, "two")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the row nobody notified", has("one", "two"))
	if took := time.Since(wrote); took > 5*poll {
		t.Errorf("the row nobody notified took %v to apply; poll is %v", took, poll)
	}
	waitUntil(t, "the lag to say so", func() bool { return f.Lag().Applied == 2 })
	if lag := f.Lag(); lag.Behind != 0 || lag.Err != "" || lag.CaughtUp.Before(wrote) {
		t.Errorf("lag once caught up: %+v", lag)
	}
}

// Rows committed while the follower's connection was cut, and so while it
// was not listening, are applied once it has connected again, without
// waiting for a poll.
func TestFollower_ConnectionCut(t *testing.T) {
	pg := pgtest.Start(t)
	pool := openDB(t, pg)
	f, c := follow(t, pool, time.Minute, 0)
	ctx := context.Background()
	// The writer keeps a connection of its own while the database takes no
	// new ones, so that the follower, cut off, cannot be back before the
	// row is written.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	// Only from another database can one close a database to connections.
	admin := pool.Config().ConnConfig.Copy()
	db := admin.Database
	admin.Database = "postgres"
	other, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	allow := func(yes bool) {
		t.Helper()
		if _, err := other.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", db, yes)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	exec("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = 'follower'")
	waitUntil(t, "the follower to notice the cut", func() bool { return f.Lag().Err != "" })
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		first, err := pgfeed.Reserve(ctx, tx, feed, 1)
		if err == nil {
			insert(t, tx, first, "while cut")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	allow(true)
	c.waitFor(t, "the row written while the connection was cut", has("while cut"))
}

// The database restarts while the follower follows: the follower reports
// the failure in its lag, connects again by itself, and applies what was
// written before and after.
func TestFollower_DatabaseRestart(t *testing.T) {
	pg := pgtest.Start(t)
	pool := openDB(t, pg)
	f, c := follow(t, pool, time.Minute, 0)
	if err := write(t, pool, "before"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the row before the restart", has("before"))

	pg.Stop()
	waitUntil(t, "the lag to report the database down", func() bool { return f.Lag().Err != "" })
	if err := write(t, pool, "refused"); err == nil {
		t.Fatal("a write with the database down succeeded")
	}
	pg.Start()
	waitUntil(t, "a write once the database is back", func() bool { return write(t, pool, "after") == nil })
	c.waitFor(t, "the row after the restart", has("before", "after"))
	waitUntil(t, "the lag to clear", func() bool { return f.Lag().Err == "" && f.Lag().Applied == 2 })
	if lag := f.Lag(); lag.Behind != 0 {
		t.Errorf("lag after the restart: %+v", lag)
	}
}

// A catch-up reads at most Batch rows at once, in order.
func TestFollower_Batches(t *testing.T) {
	pg := pgtest.Start(t)
	pool := openDB(t, pg)
	var want []string
	for i := range 250 {
		want = append(want, strconv.Itoa(i))
	}
	if err := write(t, pool, want...); err != nil {
		t.Fatal(err)
	}
	_, c := follow(t, pool, time.Minute, 100) // Start catches up
	c.waitFor(t, "every row", has(want...))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Equal(c.batches, []int{100, 100, 50}) {
		t.Errorf("batches %v, want [100 100 50]", c.batches)
	}
}

// Rows deleted before the follower read them are counted as skipped, and
// the follower goes on after them.
func TestFollower_SkipsDeleted(t *testing.T) {
	pg := pgtest.Start(t)
	pool := openDB(t, pg)
	if err := write(t, pool, "1", "2", "3", "4"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), "DELETE FROM items WHERE seq <= 2"); err != nil {
		t.Fatal(err)
	}
	f, c := follow(t, pool, time.Minute, 0)
	c.waitFor(t, "the rows kept", has("3", "4"))
	if lag := f.Lag(); lag.Skipped != 2 || lag.Applied != 4 {
		t.Errorf("lag: %+v, want 2 skipped and 4 applied", lag)
	}
}
