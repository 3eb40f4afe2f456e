// Package pgfeed is a change feed over PostgreSQL: writers on any node
// append rows numbered 1, 2, 3, ... in commit order, and a [Follower] on
// each node applies them in that order, soon after they commit, without
// missing one.
//
// # Writing
//
// A feed is a name, a row of pgfeed_clock holding the feed's last number,
// and a table of the writer's own whose rows carry their number (seq). A
// writer, in its transaction, calls [Reserve] for the n numbers of the n
// rows it is about to insert, inserts them numbered first..first+n-1, and
// commits at once.
//
// Reserve increments the clock row, whose row lock the transaction then
// holds until it ends: a second writer of the feed waits at its Reserve
// until the first has committed (or rolled back, which rolls its numbers
// back too). So numbers are given in commit order and without gaps, and a
// reader whose snapshot holds number k holds every number below k. This is
// what a SEQUENCE does not give: nextval is not transactional, so a
// transaction holding 10 can commit after one holding 11, and a follower
// that has read up to 11 would never look at 10 again. The price is that
// writers of one feed commit one at a time; they are meant to write in
// batches (group commit), which keeps the lock's hold short and rare.
//
// Reserve also queues pg_notify on the feed's channel with the last number,
// which PostgreSQL delivers to listeners when (and only if) the transaction
// commits.
//
// # Following
//
// A Follower keeps one connection of its own, LISTENs on the channel, and
// catches up — reads the rows after the last number it applied, in order,
// in batches of Config.Batch — on each notification, after every
// (re)connection, and at least every Config.Poll, so that a notification
// lost (to a cut connection, say) costs at most one Poll of delay. After
// the database restarts it connects again by itself, with backoff. Its
// [Lag] says how far behind it is, for /health.
//
// Numbers are contiguous, so a follower that finds a gap knows rows were
// deleted (a writer's retention) before it read them; it counts them in
// Lag.Skipped rather than waiting for them.
package pgfeed

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/internal/pgmigrate"
)

// component names the feed's migrations in schema_migrations.
const component = "pgfeed"

// migrations are the feeds' schema changes, in order (see pgmigrate).
var migrations = []string{
	// 1: one clock row a feed, made by its first Reserve.
	`CREATE TABLE pgfeed_clock (
		feed text PRIMARY KEY,
		seq bigint NOT NULL CHECK (seq >= 0)
	);`,
}

// Migrate brings the feeds' schema up to date. Writers and followers need
// it done once per database, at start-up.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Apply(ctx, pool, component, migrations)
	return err
}

// validName is what a feed may be called: its channel's name is made from it.
var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// Channel is the name of the channel that feed's commits are notified on.
func Channel(feed string) string { return "pgfeed_" + feed }

// Reserve takes the next n numbers of feed in tx and returns the first;
// the rows inserted in tx must use all of first..first+n-1, and tx should
// commit soon, since other writers of feed wait for it (see the package
// doc). Listeners are notified when tx commits.
func Reserve(ctx context.Context, tx pgx.Tx, feed string, n int) (first int64, err error) {
	if !validName.MatchString(feed) {
		return 0, fmt.Errorf("feed name %q: use lower-case letters, digits and _", feed)
	}
	if n < 1 {
		return 0, fmt.Errorf("reserve %d numbers of feed %s: at least one", n, feed)
	}
	var last int64
	err = tx.QueryRow(ctx, `INSERT INTO pgfeed_clock AS c (feed, seq) VALUES ($1, $2)
		ON CONFLICT (feed) DO UPDATE SET seq = c.seq + excluded.seq
		RETURNING seq`, feed, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("reserve numbers of feed %s: %w", feed, err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel(feed), strconv.FormatInt(last, 10)); err != nil {
		return 0, fmt.Errorf("notify feed %s: %w", feed, err)
	}
	return last - int64(n) + 1, nil
}

// Querier is what a pool, a connection and a transaction have in common.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Head returns the last number feed has given (0 before its first).
func Head(ctx context.Context, q Querier, feed string) (int64, error) {
	var seq int64
	err := q.QueryRow(ctx, "SELECT coalesce((SELECT seq FROM pgfeed_clock WHERE feed = $1), 0)", feed).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read the head of feed %s: %w", feed, err)
	}
	return seq, nil
}
