package vector

// Vector indexes in shared mode: several nodes serve the same indexes,
// whose truth is in PostgreSQL, and each keeps every index in memory, as
// in local mode, following the others' writes.
//
// # Tables
//
//	vector_indexes  one row an index: its spec, when it was created, and
//	                the feed number of its creation
//	vector_items    the items as they are now: (index, id) -> the item,
//	                encoded as in a log record (record.go)
//	vector_log      the changes, numbered on the change feed "vector_log"
//	                (package pgfeed): create, drop, and write, whose body
//	                is an upsert or delete record as the local log holds
//
// One feed numbers the changes of every index, so that a node follows
// them all with one connection and applies creates and drops in their
// order with the writes; writers of different indexes take turns at
// commit, which a vector write (one round trip for up to 1000 items)
// affords.
//
// # Writing
//
// A write is one transaction: lock the index's row (FOR SHARE; a drop
// takes it FOR UPDATE), Reserve the next feed number, change
// vector_items, insert the change, commit. The row lock is always taken
// before the feed's clock row (a create, whose row does not exist yet,
// reserves first and inserts it), so writers never wait for each other
// in a circle; and as Reserve serialises the transactions that hold a number,
// the items table and the log agree on one order. Two nodes upserting the
// same item at once get consecutive numbers, and every node applies them
// in that order: the outcome is that of one node given the calls in that
// order. A delete that finds nothing to delete rolls back and writes no
// change. An uncommitted transaction leaves nothing; a commit whose
// acknowledgement is lost is found by the followers like any other.
//
// # Applying, and reading one's own writes
//
// Every change, this node's own included, is applied through one path
// (shared_apply.go) in the feed's order, and applied tells how far it
// has got. After its commit, a writer applies its own change at once if
// it is the next one (applied+1), so that it is visible here when the
// call returns; otherwise it waits for the follower to reach it, which
// the commit's notification wakes. The follower then finds the change
// applied and skips it; and a copy whose feed number is already past a
// change (loaded whole from the tables) skips it too. Applying a change
// is what replay does: the write record goes into the index's local log,
// wrapped with its feed number, and into memory. So every node applies
// the same records, decoded from the same bytes, in the same order.
//
// # The local folder is a cache
//
// Each index's folder holds a snapshot and logs, as in local mode, whose
// shared records say which feed number the index covers (segment.feedSeq;
// snapshot and close mark it, and so does every Retain/2-th change, so
// that an idle index's number stays within the log's reach even after a
// crash). At start a node opens them, keeps
// those that match an index of vector_indexes (same creation) and whose
// number the log still reaches, removes the others, loads from
// vector_items the indexes it lacks (as of the feed's head then, read in
// the same snapshot), and follows the feed from the lowest number it
// kept. An index of local mode found there (no feed number) is set aside,
// its folder renamed, neither served nor deleted. A node never needs the
// bucket; snapshots in the bucket are not written in this step. A local log whose fsync is lost to a power cut
// only means catching up from an earlier number.
//
// # Retention
//
// After a write, the writer deletes the changes older than the last
// Retain, once they pass it by an eighth. A node whose indexes are
// further behind (it was down long, or missed rows a retention deleted
// while it was cut off: a gap in the numbers, which holds up its follower
// until the reload succeeds) reloads those indexes from vector_items,
// which always holds the whole state. So the log is bounded by Retain,
// and vector_items by the live items.
//
// # Faults
//
// While the database does not answer, writes fail with errs.Unavailable
// naming it; searches answer from memory, Stale (search_vectors' stale)
// and Health say how old that view may be, and Lag how far behind it is.
// The follower reconnects by itself.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgfeed"
	"lakehouse/internal/pgmigrate"
	"lakehouse/internal/pgpool"
)

// Defaults of PostgresConfig.
const (
	DefaultPostgresTimeout = 10 * time.Second
	DefaultRetain          = 100_000
)

// feedName is the change feed the indexes' changes are numbered on.
const feedName = "vector_log"

// followBatch is the most changes a catch-up reads at once: a change can
// hold 1000 items.
const followBatch = 64

// PostgresConfig says where shared indexes keep their truth.
type PostgresConfig struct {
	// DSN is a PostgreSQL connection string, as a URL or key=value pairs.
	DSN string
	// Timeout bounds each write and the start-up; 0 means
	// DefaultPostgresTimeout.
	Timeout time.Duration
	// Poll is the longest a node goes without looking for the other nodes'
	// changes when no notification comes; 0 means pgfeed.DefaultPoll.
	Poll time.Duration
	// Retain is how many of the latest changes the log keeps (an eighth
	// more at most); 0 means DefaultRetain. A node further behind reloads.
	Retain int64
}

// migrationComponent names the shared indexes' migrations in
// schema_migrations.
const migrationComponent = "vector"

// migrations are the shared indexes' schema changes (see pgmigrate).
var migrations = []string{
	// 1: the indexes, their items, and the log of their changes.
	`CREATE TABLE vector_indexes (
		name text PRIMARY KEY,
		dims integer NOT NULL,
		metric text NOT NULL,
		model text NOT NULL,
		quantization text NOT NULL,
		created timestamptz NOT NULL,
		create_seq bigint NOT NULL
	);
	CREATE TABLE vector_items (
		index_name text NOT NULL,
		id text NOT NULL,
		item bytea NOT NULL,
		PRIMARY KEY (index_name, id)
	);
	CREATE TABLE vector_log (
		seq bigint PRIMARY KEY,
		index_name text NOT NULL,
		node text NOT NULL,
		kind text NOT NULL,
		body bytea NOT NULL
	);`,
}

// shared is the shared mode of a Manager.
type shared struct {
	m     *Manager
	cfg   PostgresConfig
	pool  *pgxpool.Pool
	where string // host:port/database, for messages
	node  string // this node's name in vector_log, new at each start
	feed  *pgfeed.Follower[change]

	// mu is held while a change is applied; applied is the number of the
	// last change applied (or known not to concern this node), written
	// under mu and read without it (floor).
	mu       sync.Mutex
	applied  atomic.Int64
	progress chan struct{} // closed and replaced when applied moves; guarded by mu
	marked   int64         // the number last marked in every index (advanceLocked); guarded by mu
	closing  chan struct{} // closed by stop
	stopOnce sync.Once

	trimmedTo atomic.Int64 // the number up to which this node deleted the log
	reloads   atomic.Int64 // indexes loaded whole from vector_items

	// failAt, when set (by tests), may fail each write at the points
	// beforeCommit and afterCommit (shared_write.go).
	failAt func(point string) error
}

// OpenShared opens the Manager of dir in shared mode: the indexes' truth
// is in the PostgreSQL of pc, shared with the other nodes that use it, and
// dir is this node's cache of them (see the notes above). It fails if the
// database does not answer.
func OpenShared(ctx context.Context, dir string, cfg Config, pc PostgresConfig) (*Manager, error) {
	pcfg, err := pgpool.Parse(pc.DSN, "the vector indexes'")
	if err != nil {
		return nil, err
	}
	if pc.Timeout <= 0 {
		pc.Timeout = DefaultPostgresTimeout
	}
	if pc.Poll <= 0 {
		pc.Poll = pgfeed.DefaultPoll
	}
	if pc.Retain <= 0 {
		pc.Retain = DefaultRetain
	}
	m, err := Open(dir, cfg)
	if err != nil {
		return nil, err
	}
	sh := &shared{m: m, cfg: pc, where: pgpool.Where(pcfg), node: uuid.NewString(), progress: make(chan struct{}), closing: make(chan struct{})}
	if sh.pool, err = pgpool.Open(ctx, pcfg, 4, pc.Timeout); err != nil {
		m.Close()
		return nil, sh.fault("connect", err)
	}
	m.pg = sh
	if err := sh.start(ctx, pcfg.ConnConfig); err != nil {
		m.pg = nil
		m.Close()
		sh.pool.Close()
		return nil, err
	}
	return m, nil
}

// start migrates the schema, brings the local indexes in line with the
// database, and follows the feed.
func (sh *shared) start(ctx context.Context, conn *pgx.ConnConfig) error {
	ctx, cancel := context.WithTimeout(ctx, sh.cfg.Timeout)
	defer cancel()
	if err := pgfeed.Migrate(ctx, sh.pool); err != nil {
		return sh.fault("migrate the change feeds' schema", err)
	}
	if _, err := pgmigrate.Apply(ctx, sh.pool, migrationComponent, migrations); err != nil {
		return sh.fault("migrate the vector indexes' schema", err)
	}
	sh.mu.Lock()
	from, err := sh.reconcile(ctx)
	if err == nil {
		sh.applied.Store(from)
	}
	sh.mu.Unlock()
	if err != nil {
		return err
	}
	sh.feed, err = pgfeed.Start(ctx, pgfeed.Config[change]{
		Conn: conn, Feed: feedName, Poll: sh.cfg.Poll, From: from, Batch: followBatch,
		// This node's own changes come without their bodies: it applied
		// them as it wrote them, but for one whose commit looked lost
		// (fetchBody).
		Query: "SELECT seq, index_name, kind, node = '" + sh.node + "', CASE WHEN node = '" + sh.node + "' THEN NULL ELSE body END FROM vector_log WHERE seq > $1 ORDER BY seq LIMIT $2",
		Scan:  scanChange, Apply: sh.applyBatch,
	})
	if err != nil {
		return sh.fault("follow the vector indexes' changes", err)
	}
	slog.Info("vector indexes follow PostgreSQL", "database", sh.where, "indexes", len(sh.m.List()), "from", from, "node", sh.node)
	return nil
}

// floor is the number up to which every change of the feed is applied
// here (see index.floor).
func (sh *shared) floor() int64 { return sh.applied.Load() }

// stop stops following the feed, first of a Manager's Close.
func (sh *shared) stop() {
	sh.stopOnce.Do(func() {
		close(sh.closing)
		if sh.feed != nil {
			sh.feed.Close()
		}
	})
}

// fault wraps err, a failure of the database, in an error of kind
// errs.Unavailable that names it; an error that already has a kind (a
// missing index, a bad item) passes as it is.
func (sh *shared) fault(op string, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return pgpool.Fault(op, "the vector indexes'", sh.where, err)
}
