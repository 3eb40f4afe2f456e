package pathway

// The pathway in shared mode: several nodes keep one trace memory in
// PostgreSQL.
//
// Each node keeps the same state in memory as in local mode, changed only
// by apply, and its own search index of it; only where the records go
// differs. Instead of a local log, the records are rows of
// pathway_changes, numbered 1, 2, 3, ... on the change feed "pathway"
// (package pgfeed) in commit order, and every node applies every row in
// that order: its own as it commits them, the others' as its follower
// reads them. Since every node applies the same records in the same order
// to the same start, every node's memory is the same at the same number.
//
// A write (shared_write.go) takes this node's writer lock, opens a
// transaction and reserves its number first: the feed's clock-row lock
// then makes the writers of every node wait for each other, so that while
// this one decides, no other commits. It reads and applies the rows this
// node has not applied yet (numbered below its own), decides against the
// memory as it is then, exactly as a single node would, inserts its row
// and commits. So concurrent writers on several nodes get the outcome of
// one node taking their calls in the feed's order: two Adds of one uid give
// one trace and one replay; two revisions of one tip give one successor
// and a conflict.
//
// A write is acknowledged once its transaction has committed, and applied
// on its node before it returns (read-your-writes, search included: it
// marks the indexer before returning). On the other nodes it appears when
// their followers read it: on the notification of its commit, or within
// PostgresConfig.Poll if that is lost. A node killed with kill -9 loses
// nothing acknowledged, which is in PostgreSQL; a transaction that did not
// commit leaves nothing, its number included. A commit whose answer was
// lost may have landed: the writer asks for its row by the write's id on a
// new connection, and reports success or failure once it knows; a row that
// landed is applied once whichever way, since apply is by number.
//
// While the database does not answer, writes fail with errs.Unavailable,
// naming it, and reads and searches answer from memory; the follower
// reconnects by itself.
//
// At start a node loads the latest base (every trace as of a number, see
// shared_base.go, which also says how bases bound the table) and replays
// the records after it through its follower, then compares the index's
// fingerprint with the traces' sum as a local Open does (the index, in
// <dir>/index/, is this node's cache: a node that stopped cleanly
// reconciles nothing). It keeps no local snapshot: the base is one, shared.
//
// Writes of one node queue behind the one in flight, and are written
// together in the next transaction (group commit, shared_write.go); a
// writer waits for its batch whatever its context says, for at most
// PostgresConfig.Timeout.

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
const DefaultPostgresTimeout = 10 * time.Second

// feedName is the change feed the records are numbered on.
const feedName = "pathway"

// PostgresConfig says where a shared pathway keeps its records.
type PostgresConfig struct {
	// DSN is a PostgreSQL connection string, as a URL or key=value pairs.
	DSN string
	// Timeout bounds each write and the start-up; 0 means
	// DefaultPostgresTimeout.
	Timeout time.Duration
	// Poll is the longest a node goes without looking for the other nodes'
	// records when no notification comes; 0 means pgfeed.DefaultPoll.
	Poll time.Duration
	// CompactRecords is how many records after the latest base call for
	// a new one (see shared_base.go); 0 means DefaultCompactRecords.
	CompactRecords int
}

// migrationComponent names the pathway's migrations in schema_migrations.
const migrationComponent = "pathway"

// migrations are the pathway's schema changes (see pgmigrate).
var migrations = []string{
	// 1: the records, numbered on the feed, each with the id of the write
	// that made it, by which a writer whose commit went unanswered finds
	// whether it landed. The record is the local log's JSON line, kept as
	// bytes: jsonb would respace a trace's content.
	`CREATE TABLE pathway_changes (
		seq bigint PRIMARY KEY,
		write_id uuid NOT NULL,
		record bytea NOT NULL
	);`,
	// 2: the bases, each every trace as of a feed number, in parts (see
	// shared_base.go).
	`CREATE TABLE pathway_bases (
		seq bigint NOT NULL,
		part integer NOT NULL,
		data bytea NOT NULL,
		PRIMARY KEY (seq, part)
	);`,
}

// pgStore is the shared mode of a Pathway: the pool its writes use and the
// follower of every node's records.
type pgStore struct {
	p     *Pathway
	cfg   PostgresConfig
	pool  *pgxpool.Pool
	where string // host:port/database, for messages
	feed  *pgfeed.Follower[numbered]

	// wmu makes this node's writes one transaction at a time: each holds
	// the feed's lock in PostgreSQL while it decides, so concurrent ones
	// would only queue there, each on a connection of its own. The changes
	// that queue meanwhile (queue, guarded by qmu) are written together by
	// the next (see shared_write.go).
	wmu   sync.Mutex
	qmu   sync.Mutex
	queue []*pending

	// applied is the number of the last record applied; base, of the
	// latest base this node knows of; gap, that the records after applied
	// were deleted before this node read them, so that it must rebuild
	// (see shared_base.go). p.mu guards them.
	applied int64
	base    int64
	gap     bool

	compacting atomic.Bool
	bg         sync.WaitGroup // compactions

	// commit, when set (by tests), commits a write's transaction in place
	// of tx.Commit: a commit that landed can be made to look lost, or one
	// can fail.
	commit func(context.Context, pgx.Tx) error
}

// numbered is a record read from the feed with its number; r is nil for a
// row that would not decode.
type numbered struct {
	seq int64
	r   *record
}

// OpenShared opens the trace memory kept in the PostgreSQL of pc, shared
// with the other nodes that do, with this node's search index in
// dir/index/. It replays every record there, and fails if the database
// does not answer.
func OpenShared(ctx context.Context, dir string, emb Embedder, cfg Config, pc PostgresConfig) (*Pathway, error) {
	if emb == nil {
		return nil, errors.New("open pathway: no embedder")
	}
	pcfg, err := pgxpool.ParseConfig(pc.DSN)
	if err != nil { // not err, whose text may quote the DSN
		return nil, errors.New("the pathway's PostgreSQL DSN cannot be parsed; write it as postgres://user:password@host:5432/database or as key=value pairs")
	}
	if pc.Timeout <= 0 {
		pc.Timeout = DefaultPostgresTimeout
	}
	if pc.Poll <= 0 {
		pc.Poll = pgfeed.DefaultPoll
	}
	if pc.CompactRecords <= 0 {
		pc.CompactRecords = DefaultCompactRecords
	}
	p := newPathway(dir, emb, cfg, 0)
	s := &pgStore{p: p, cfg: pc, where: pgpool.Where(pcfg)}
	p.pg = s
	// The writer's connection, one for a commit's check, one for a base
	// being written and one for /health.
	if s.pool, err = pgpool.Open(ctx, pcfg, 4, pc.Timeout); err != nil {
		return nil, s.fault("connect", err)
	}
	index := openIndex(dir, p.cfg.Vector)
	start := time.Now()
	err = s.start(ctx, pcfg.ConnConfig)
	ix := <-index
	if err != nil || ix.err != nil {
		if s.feed != nil {
			s.feed.Close()
		}
		if ix.vm != nil {
			ix.vm.Close()
		}
		s.pool.Close()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("open pathway index: %w", ix.err)
	}
	p.vec = ix.vm
	p.mu.Lock()
	inStep := ix.fpErr == nil && ix.fp == p.want
	p.idx = newIndexer(p, inStep)
	loaded, applied := len(p.order), s.applied
	p.mu.Unlock()
	go p.idx.run()
	slog.Debug("pathway memory loaded from PostgreSQL", "database", s.where, "traces", loaded, "records", applied,
		"took", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// start migrates the schema, loads the latest base and follows the feed
// from there, which applies every record after it before it returns.
func (s *pgStore) start(ctx context.Context, conn *pgx.ConnConfig) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := pgfeed.Migrate(ctx, s.pool); err != nil {
		return s.fault("migrate the change feeds' schema", err)
	}
	if _, err := pgmigrate.Apply(ctx, s.pool, migrationComponent, migrations); err != nil {
		return s.fault("migrate the pathway's schema", err)
	}
	base, err := loadBase(ctx, s.pool, s.p)
	if err != nil {
		return s.fault("load the pathway's base", err)
	}
	s.applied, s.base = base, base
	s.feed, err = pgfeed.Start(ctx, pgfeed.Config[numbered]{
		Conn: conn, Feed: feedName, Poll: s.cfg.Poll, From: base,
		Query: "SELECT seq, record FROM pathway_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
		Scan:  scanChange, Apply: s.applyFeed,
	})
	if err != nil {
		return s.fault("load the pathway's records", err)
	}
	return nil
}

// fault wraps err, a failure of the database, in an error of kind
// errs.Unavailable that names it.
func (s *pgStore) fault(op string, err error) error {
	var msg string
	if pgpool.Unreachable(err) {
		msg = fmt.Sprintf("%s: the pathway's PostgreSQL at %s is unreachable (%v)", op, s.where, err)
	} else {
		msg = fmt.Sprintf("%s: the pathway's PostgreSQL at %s: %v", op, s.where, err)
	}
	return &errs.Error{Kind: errs.Unavailable, Msg: msg, Err: err}
}

// close stops following and closes the pool; the index is the caller's.
func (s *pgStore) close() {
	s.bg.Wait()  // a compaction ends first
	s.wmu.Lock() // and a write in flight
	defer s.wmu.Unlock()
	s.feed.Close()
	s.pool.Close()
}

// Lag returns how far this node is behind the records of the others, in
// shared mode; ok is false in local mode.
func (p *Pathway) Lag() (lag pgfeed.Lag, ok bool) {
	if p.pg == nil {
		return lag, false
	}
	return p.pg.feed.Lag(), true
}

// Health returns nil in local mode, and in shared mode nil when this node
// reaches its database and follows the records, or else an error that
// says what is wrong.
func (p *Pathway) Health(ctx context.Context) error {
	if p.pg == nil {
		return nil
	}
	s := p.pg
	if lag := s.feed.Lag(); lag.Err != "" {
		return &errs.Error{Kind: errs.Unavailable, Msg: fmt.Sprintf("the pathway's PostgreSQL at %s does not answer its follower (%s); this node's traces are as of %dms ago",
			s.where, lag.Err, lag.SinceCaughtUpMS)}
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.fault("ping", err)
	}
	return nil
}

// newWriteID returns the id of a write, new each time.
func newWriteID() string { return uuid.NewString() }
