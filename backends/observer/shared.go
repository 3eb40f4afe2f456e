package observer

// The observer in shared mode: several nodes record into one PostgreSQL,
// and each node's statistics and listings cover the ops of all of them.
//
// Each node keeps the same in-memory state as in local mode (rows, ring,
// clusters) and computes statistics from it; only where ops persist and
// where they come from differ. An op recorded here is applied at once, as
// in local mode, and queued; a writer goroutine writes the queue every
// FlushEvery in one transaction (group commit), numbering the ops on the
// observer's change feed (package pgfeed), which notifies the other nodes.
// Each node follows the feed and applies the ops of the others; its own
// it skips, having applied them already. At start a node loads the last
// Retain ops of the database through the same feed, as a local observer
// replays its log.
//
// What is acknowledged when: Record returns before its op is written, as
// in local mode (where the log is written within DefaultSyncEvery); a kill
// -9 loses the ops queued and not yet committed, at most about FlushEvery
// of them in normal running. RecordDurable returns once the op's
// transaction has committed. While the database does not answer, Record
// still never blocks or fails: ops wait in a queue of at most MaxPending
// and are written once it answers; past that they are dropped, counted in
// persist_failures, with one warning an outage. RecordDurable, once a write
// has failed, refuses at once (errs.Unavailable) and records nothing, so
// that the caller can send it again; one that was waiting when the write
// failed fails too, and its op, counted on this node as in local mode
// after a failed sync, is withdrawn from the queue. A write whose
// connection was lost as it committed may have landed: before writing
// again the writer asks which of its ops did, by each op's number on this
// node, so none is written twice.
//
// Retention: the writers delete the ops older than the last Retain, once
// they pass it by an eighth; each node drops its oldest rows likewise.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgfeed"
	"lakehouse/internal/pgmigrate"
	"lakehouse/internal/pgpool"
)

// Defaults of PostgresConfig.
const (
	DefaultPostgresTimeout = 10 * time.Second
	DefaultFlushEvery      = 100 * time.Millisecond
	DefaultMaxPending      = 10_000
)

// feedName is the change feed the ops are numbered on.
const feedName = "observer_ops"

// maxFlushBatch bounds the ops of one write.
const maxFlushBatch = 1000

// PostgresConfig says where a shared observer keeps its ops.
type PostgresConfig struct {
	// DSN is a PostgreSQL connection string, as a URL or key=value pairs.
	DSN string
	// Timeout bounds each write and the start-up; 0 means
	// DefaultPostgresTimeout.
	Timeout time.Duration
	// FlushEvery is the longest an op recorded waits to be written; 0 means
	// DefaultFlushEvery.
	FlushEvery time.Duration
	// MaxPending bounds the ops waiting to be written while the database
	// does not answer; 0 means DefaultMaxPending.
	MaxPending int
	// Poll is the longest a node goes without looking for the other nodes'
	// ops when no notification comes; 0 means pgfeed.DefaultPoll.
	Poll time.Duration
}

// migrationComponent names the observer's migrations in schema_migrations.
const migrationComponent = "observer"

// migrations are the observer's schema changes (see pgmigrate).
var migrations = []string{
	// 1: the ops, numbered on the feed, with the node that recorded each
	// and its number there.
	`CREATE TABLE observer_ops (
		seq bigint PRIMARY KEY,
		node text NOT NULL,
		node_seq bigint NOT NULL,
		op jsonb NOT NULL
	);
	CREATE INDEX observer_ops_node ON observer_ops (node, node_seq);`,
}

// OpenShared opens an observer that keeps its ops in the PostgreSQL of pc,
// shared with the other nodes that do, and loads the last cfg.Retain of
// them. It fails if the database does not answer.
func OpenShared(ctx context.Context, cfg Config, pc PostgresConfig) (*Observer, error) {
	pcfg, err := pgpool.Parse(pc.DSN, "the observer's")
	if err != nil {
		return nil, err
	}
	pc.Timeout = orDefault(pc.Timeout, DefaultPostgresTimeout)
	pc.FlushEvery = orDefault(pc.FlushEvery, DefaultFlushEvery)
	pc.MaxPending = orDefault(pc.MaxPending, DefaultMaxPending)
	pc.Poll = orDefault(pc.Poll, pgfeed.DefaultPoll)
	p := &pgOps{cfg: pc, where: pgpool.Where(pcfg), node: uuid.NewString(), progress: make(chan struct{}), kick: make(chan struct{}, 1), done: make(chan struct{})}
	// The writer's connection, and one to spare.
	if p.pool, err = pgpool.Open(ctx, pcfg, 2, pc.Timeout); err != nil {
		return nil, p.fault("connect", err)
	}
	o := newObserver(cfg)
	o.pg, p.o = p, o
	if err := p.start(ctx, pcfg.ConnConfig); err != nil {
		p.pool.Close()
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	go p.writeLoop(wctx)
	return o, nil
}

// start migrates the schema, loads the last Retain ops and follows the
// feed.
func (p *pgOps) start(ctx context.Context, conn *pgx.ConnConfig) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if err := pgfeed.Migrate(ctx, p.pool); err != nil {
		return p.fault("migrate the change feeds' schema", err)
	}
	if _, err := pgmigrate.Apply(ctx, p.pool, migrationComponent, migrations); err != nil {
		return p.fault("migrate the observer's schema", err)
	}
	head, err := pgfeed.Head(ctx, p.pool, feedName)
	if err != nil {
		return p.fault("read the observer's feed", err)
	}
	o := p.o
	p.feed, err = pgfeed.Start(ctx, pgfeed.Config[remoteOp]{
		Conn: conn, Feed: feedName, Poll: p.cfg.Poll,
		From:  max(0, head-int64(o.cfg.Retain)),
		Query: "SELECT seq, node, op FROM observer_ops WHERE seq > $1 ORDER BY seq LIMIT $2",
		Scan:  scanRemote, Apply: o.applyRemote,
	})
	if err != nil {
		return p.fault("load the observer's ops", err)
	}
	// The ops loaded are as a replay's: those that reached EscalateAt do
	// not escalate again.
	o.mu.Lock()
	o.settleEscalations()
	p.live = true
	loaded := len(o.rows)
	o.mu.Unlock()
	slog.Info("observer ops loaded from PostgreSQL", "database", p.where, "ops", loaded, "node", p.node)
	return nil
}

// remoteOp is an op read from the feed, with the node that recorded it; ok
// is false for one that would not decode.
type remoteOp struct {
	node string
	op   Op
	ok   bool
}

// scanRemote reads a row of observer_ops.
func scanRemote(row pgx.CollectableRow) (int64, remoteOp, error) {
	var seq int64
	var r remoteOp
	var body []byte
	if err := row.Scan(&seq, &r.node, &body); err != nil {
		return 0, r, err
	}
	if err := json.Unmarshal(body, &r.op); err != nil {
		slog.Warn("observer op in PostgreSQL skipped: it does not decode", "seq", seq, "err", err)
		return seq, r, nil
	}
	r.ok = true
	return seq, r, nil
}

// applyRemote applies the ops of other nodes, in the feed's order, as
// record applies this node's (escalations included, reported to this
// node's subscribers), and skips this node's own.
func (o *Observer) applyRemote(batch []remoteOp) {
	type reach struct {
		c  *Cluster
		op Op
	}
	var reached []reach
	o.mu.Lock()
	for _, r := range batch {
		if !r.ok || r.node == o.pg.node {
			continue
		}
		o.apply(r.op)
		if !o.pg.live {
			continue // loading: settled once loaded
		}
		if c := o.reachedLocked(r.op); c != nil {
			reached = append(reached, reach{c, r.op})
		}
	}
	o.trimLocked()
	o.mu.Unlock()
	for _, r := range reached {
		o.escalate(context.Background(), r.c, r.op)
	}
}

// trimLocked drops the oldest rows beyond Retain once they pass it by an
// eighth, and rebuilds the clusters from the rows kept (each keeps its
// example), as a compaction of the local log does; o.mu is held.
func (o *Observer) trimLocked() {
	if len(o.rows) <= o.cfg.Retain+o.cfg.Retain/8 {
		return
	}
	drop := len(o.rows) - o.cfg.Retain
	o.rows = o.rows[drop:]
	clusters := map[string]*Cluster{}
	for _, r := range o.rows {
		op := r.op()
		if c := o.clusters[r.sig]; c != nil && !r.success {
			op.Error = c.Example
		}
		addToCluster(clusters, op)
	}
	o.clusters = clusters
	o.settleEscalations()
}

// fault wraps err, a failure of the database, in an error of kind
// errs.Unavailable that names it.
func (p *pgOps) fault(op string, err error) error {
	return pgpool.Fault(op, "the observer's", p.where, err)
}

// Lag returns how far this node is behind the ops of the others, in shared
// mode; ok is false in local mode.
func (o *Observer) Lag() (lag pgfeed.Lag, ok bool) {
	if o.pg == nil {
		return lag, false
	}
	return o.pg.feed.Lag(), true
}

// Health returns nil in local mode, and in shared mode nil when this node
// writes its ops and follows the others', or else an error that says
// which it cannot do and why.
func (o *Observer) Health(ctx context.Context) error {
	if o.pg == nil {
		return nil
	}
	p := o.pg
	p.mu.Lock()
	failing, pending, dropped := p.failing, len(p.pending), p.dropped
	p.mu.Unlock()
	if failing != nil {
		return p.fault(fmt.Sprintf("write this node's ops (%d wait to be written, %d dropped since start)", pending, dropped), failing)
	}
	if stale := p.stale(); stale != "" {
		return &errs.Error{Kind: errs.Unavailable, Msg: stale}
	}
	return nil
}

// Stale says why this node's statistics and listings may lack recent ops
// of other nodes, or "" when they do not (always, in local mode).
func (o *Observer) Stale() string {
	if o.pg == nil {
		return ""
	}
	return o.pg.stale()
}

// staleAfter is how many polls may pass without a catch-up before a node
// calls its view of the other nodes stale.
const staleAfter = 3

// stale says why this node's view of the other nodes' ops may be behind,
// or "" when it is not.
func (p *pgOps) stale() string {
	lag := p.feed.Lag()
	poll := p.cfg.Poll
	since := time.Duration(lag.SinceCaughtUpMS) * time.Millisecond
	switch {
	case lag.Err != "":
		return fmt.Sprintf("the observer's PostgreSQL at %s does not answer (%s): the other nodes' ops are counted up to %v ago", p.where, lag.Err, since.Round(time.Millisecond))
	case since > staleAfter*poll:
		return fmt.Sprintf("this node last caught up with the other nodes' ops %v ago (%d behind)", since.Round(time.Millisecond), lag.Behind)
	}
	return ""
}
