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
	"fmt"
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
	pcfg, err := pgxpool.ParseConfig(pc.DSN)
	if err != nil { // not err, whose text may quote the DSN
		return nil, errors.New("the vector indexes' PostgreSQL DSN cannot be parsed; write it as postgres://user:password@host:5432/database or as key=value pairs")
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
		Query: "SELECT seq, index_name, kind, body FROM vector_log WHERE seq > $1 ORDER BY seq LIMIT $2",
		Scan:  scanChange, Apply: sh.applyBatch,
	})
	if err != nil {
		return sh.fault("follow the vector indexes' changes", err)
	}
	slog.Info("vector indexes follow PostgreSQL", "database", sh.where, "indexes", len(sh.m.List()), "from", from, "node", sh.node)
	return nil
}

// row is an index as vector_indexes describes it.
type row struct {
	spec      Spec
	created   time.Time
	createSeq int64
}

// reconcile brings the local indexes in line with the database: it keeps
// those that match an index there (the same creation) and whose feed
// number the log still reaches, removes the others, and loads the rest
// from vector_items. It returns the number to follow the feed from: at or
// below that of every index kept. sh.mu is held.
func (sh *shared) reconcile(ctx context.Context) (int64, error) {
	var head, oldest int64
	rows := map[string]row{}
	err := pgx.BeginTxFunc(ctx, sh.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if head, err = pgfeed.Head(ctx, tx, feedName); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(min(seq), $1 + 1) FROM vector_log", head).Scan(&oldest); err != nil {
			return err
		}
		rs, _ := tx.Query(ctx, "SELECT name, dims, metric, model, quantization, created, create_seq FROM vector_indexes")
		_, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (struct{}, error) {
			var name string
			var w row
			err := r.Scan(&name, &w.spec.Dim, &w.spec.Metric, &w.spec.Model, &w.spec.Quantization, &w.created, &w.createSeq)
			rows[name] = w
			return struct{}{}, err
		})
		return err
	})
	if err != nil {
		return 0, sh.fault("read the vector indexes", err)
	}
	m := sh.m
	from := head
	m.mu.Lock()
	for name := range m.broken {
		m.dropLocked(name)
	}
	// An index of local mode (no feed number, and not a copy of the index
	// of its name) is not this mode's to serve, nor to delete: its folder
	// is set aside, beneath a name that no Manager opens.
	for name, ix := range m.indexes {
		if w, ok := rows[name]; ix.feedSeq() == 0 && (!ok || !sameIndex(ix, w)) {
			if err := m.setAsideLocal(name); err != nil {
				m.mu.Unlock()
				return 0, err
			}
		}
	}
	var missing []string
	for name, w := range rows {
		ix := m.indexes[name]
		if ix == nil {
			missing = append(missing, name)
			continue
		}
		// While following, every change up to floor is applied here.
		seq := max(ix.feedSeq(), sh.floor())
		if !sameIndex(ix, w) || seq < w.createSeq || seq < oldest-1 {
			slog.Info("vector index: this node's copy is out of date; reloading it from PostgreSQL", "index", name, "covers", seq, "log_from", oldest)
			m.dropLocked(name)
			missing = append(missing, name)
			continue
		}
		ix.setFloor(sh.floor)
		from = min(from, seq)
	}
	for name := range m.indexes {
		if _, ok := rows[name]; !ok {
			slog.Info("vector index was dropped while this node did not follow; removing its copy", "index", name)
			m.dropLocked(name)
		}
	}
	m.mu.Unlock()
	for _, name := range missing {
		if err := sh.loadFull(ctx, name); err != nil {
			return 0, err
		}
	}
	return from, nil
}

// setAsideLocal closes the local-mode index name and renames its folder
// to .local-<name>-<time>, which no Manager opens or removes; m.mu is held.
func (m *Manager) setAsideLocal(name string) error {
	ix := m.indexes[name]
	delete(m.indexes, name)
	m.cfg.Budget.leave(ix)
	if err := ix.close(false); err != nil {
		slog.Warn("vector index: closing a local-mode index", "index", name, "err", err)
	}
	aside := fmt.Sprintf(".local-%s-%d", name, time.Now().Unix())
	if err := m.dir.Rename(name, aside); err != nil {
		return fmt.Errorf("set aside the local-mode vector index %q: %w", name, err)
	}
	slog.Warn("vector index of local mode set aside: shared mode serves the indexes in PostgreSQL; its files are kept", "index", name, "folder", m.dir.Path(aside))
	return m.dir.SyncDir(".")
}

// sameIndex says whether ix is this node's copy of the index that w
// describes, and not of an earlier one of the same name.
func sameIndex(ix *index, w row) bool {
	return ix.created.Equal(w.created.UTC()) && ix.dim == w.spec.Dim && ix.metric == w.spec.Metric && ix.quant == w.spec.Quantization
}

// loadFull makes this node's copy of index name from vector_items, as of
// the feed's head in the same snapshot, and marks that number in it once
// every item is in: a copy cut short by a crash has no mark, and is
// loaded again. An index dropped meanwhile is not loaded. sh.mu is held.
func (sh *shared) loadFull(ctx context.Context, name string) error {
	start := time.Now()
	var ix *index
	var head int64
	err := pgx.BeginTxFunc(ctx, sh.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if head, err = pgfeed.Head(ctx, tx, feedName); err != nil {
			return err
		}
		var w row
		err = tx.QueryRow(ctx, "SELECT dims, metric, model, quantization, created FROM vector_indexes WHERE name = $1", name).
			Scan(&w.spec.Dim, &w.spec.Metric, &w.spec.Model, &w.spec.Quantization, &w.created)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if ix, err = createIndex(sh.m.dir, name, w.spec, w.created, sh.m.cfg); err != nil {
			return fmt.Errorf("create this node's copy: %w", err)
		}
		rs, err := tx.Query(ctx, "SELECT item FROM vector_items WHERE index_name = $1", name)
		if err != nil {
			return err
		}
		defer rs.Close()
		batch := make([]prepared, 0, MaxBatch)
		for rs.Next() {
			p, err := decodeItem(rs.RawValues()[0], ix.dim)
			if err != nil {
				return fmt.Errorf("item of index %q in PostgreSQL: %w", name, err)
			}
			if batch = append(batch, p); len(batch) == MaxBatch {
				if _, err := ix.put(analysed(batch), 0); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := rs.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			if _, err := ix.put(analysed(batch), 0); err != nil {
				return err
			}
		}
		return ix.mark(head)
	})
	if err != nil {
		if ix != nil {
			ix.close(true)
			sh.m.dir.RemoveAll(name)
		}
		return sh.fault(fmt.Sprintf("load vector index %q", name), err)
	}
	if ix == nil {
		return nil
	}
	sh.m.adopt(name, ix, sh.floor)
	sh.reloads.Add(1)
	slog.Info("vector index loaded from PostgreSQL", "index", name, "items", ix.info().Count, "as_of", head, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// analysed fills in the lexical documents of ps, decoded from a record,
// for applying them live (replay links them all at once instead).
func analysed(ps []prepared) []prepared {
	for i := range ps {
		ps[i].doc = analyze(ps[i].ex.getText())
	}
	return ps
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

// Lag returns how far this node is behind the other nodes' writes, in
// shared mode; ok is false in local mode.
func (m *Manager) Lag() (lag pgfeed.Lag, ok bool) {
	if m.pg == nil || m.pg.feed == nil {
		return lag, false
	}
	return m.pg.feed.Lag(), true
}

// staleAfter is how many polls may pass without a catch-up before a node
// calls its view of the other nodes stale.
const staleAfter = 3

// Health returns nil in local mode, and in shared mode nil when the
// database answers and this node follows the other nodes' writes, or else
// an error of kind errs.Unavailable that says what is wrong.
func (m *Manager) Health(ctx context.Context) error {
	sh := m.pg
	if sh == nil {
		return nil
	}
	if err := sh.pool.Ping(ctx); err != nil {
		return sh.fault("write to the vector indexes", err)
	}
	if stale := m.Stale(); stale != "" {
		return &errs.Error{Kind: errs.Unavailable, Msg: stale}
	}
	return nil
}

// Stale says why this node's searches may lack the other nodes' most
// recent writes, or "" when they do not (always, in local mode): it
// cannot follow them, or has not caught up with them for three polls. It
// costs no query.
func (m *Manager) Stale() string {
	sh := m.pg
	if sh == nil || sh.feed == nil {
		return ""
	}
	lag := sh.feed.Lag()
	since := time.Duration(lag.SinceCaughtUpMS) * time.Millisecond
	switch {
	case lag.Err != "":
		return fmt.Sprintf("the vector indexes cannot follow the other nodes' writes (%s): searches answer as of %v ago", lag.Err, since.Round(time.Millisecond))
	case since > staleAfter*sh.cfg.Poll:
		return fmt.Sprintf("the vector indexes last caught up with the other nodes' writes %v ago (%d behind)", since.Round(time.Millisecond), lag.Behind)
	}
	return ""
}
