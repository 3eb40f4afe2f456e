package observer

// How a shared observer writes its ops (see shared.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgfeed"
)

// errDropped is the error of an op the queue had no room for.
var errDropped = errors.New("the queue of ops waiting for the database is full")

// pgOps is the shared mode of an Observer: its queue of ops to write, the
// writer, and the follower of the other nodes' ops.
type pgOps struct {
	o     *Observer
	cfg   PostgresConfig
	pool  *pgxpool.Pool
	where string // host:port/database, for messages
	node  string // this node's name in observer_ops, new at each start
	feed  *pgfeed.Follower[remoteOp]
	live  bool // loaded: remote ops may escalate; guarded by o.mu

	mu            sync.Mutex
	pending       []queued      // in order of n
	queued        uint64        // ops ever queued; the n of the last
	written       uint64        // every op up to this n is written or given up
	failedThrough uint64        // the last n of the last write that failed
	recheck       bool          // a write failed, and its commit may have landed
	failing       error         // the last write's error; nil once one succeeds
	dropped       int64         // ops the queue had no room for
	outageDrops   int64         // of those, since the database stopped answering
	progress      chan struct{} // closed and replaced when written or failedThrough moves

	trimmedTo int64 // the feed number up to which this node deleted the ops; the writer's

	// afterWrite, when set (by tests), replaces the error of each write:
	// a commit that landed can be made to look lost.
	afterWrite func(error) error

	kick chan struct{} // asks the writer to write now
	stop context.CancelFunc
	done chan struct{} // closed when the writer has ended
}

// queued is an op waiting to be written, numbered on this node (n);
// withdrawn when its RecordDurable gave up on it.
type queued struct {
	n         uint64
	op        Op
	withdrawn bool
}

// add queues op and returns its number, or errDropped; o.mu is held.
func (p *pgOps) add(op Op) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) >= p.cfg.MaxPending {
		p.dropped++
		if p.outageDrops++; p.outageDrops == 1 {
			slog.Warn("observer ops dropped: the queue for the database is full; they count in persist_failures", "database", p.where, "queue", p.cfg.MaxPending)
		}
		return 0, errDropped
	}
	p.queued++
	p.pending = append(p.pending, queued{n: p.queued, op: op})
	if len(p.pending) >= maxFlushBatch {
		p.nudge()
	}
	return p.queued, nil
}

// nudge asks the writer to write now.
func (p *pgOps) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// refuse returns an error when the database is not answering, so that
// RecordDurable records nothing rather than an op it cannot make durable.
func (p *pgOps) refuse() error {
	p.mu.Lock()
	failing := p.failing
	p.mu.Unlock()
	if failing == nil {
		return nil
	}
	p.nudge() // the next write, of the ops the failed one left, tells whether it is back
	return p.fault("record the event (it was not recorded; send it again once the database answers)", failing)
}

// sync waits until op n is written, and fails if the write that held it
// failed or took longer than Timeout; then the op is withdrawn, not to be
// written later behind the caller's back.
func (p *pgOps) sync(ctx context.Context, n uint64) error {
	p.nudge()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	for {
		p.mu.Lock()
		written, failed, progress, why := p.written >= n, p.failedThrough >= n, p.progress, p.failing
		if !written && (failed || ctx.Err() != nil) {
			p.withdraw(n)
		}
		p.mu.Unlock()
		switch {
		case written:
			return nil
		case failed:
			return p.fault("persist the event (it was not recorded, unless the connection was lost as it committed: list_events shows it if it was)", why)
		case ctx.Err() != nil:
			return p.fault("persist the event (it was not recorded, unless its write commits late)", ctx.Err())
		}
		select {
		case <-progress:
		case <-ctx.Done():
		}
	}
}

// withdraw marks op n, if it still waits, not to be written; p.mu is held.
func (p *pgOps) withdraw(n uint64) {
	for i := range p.pending {
		if p.pending[i].n == n {
			p.pending[i].withdrawn = true
			p.o.persistFailures.Add(1)
			return
		}
	}
}

// writeLoop writes the queue every FlushEvery, or when nudged, until ctx
// ends; then it writes what is left. A write is never cut short by ctx
// (Timeout bounds each), so that closing does not fail one in flight.
func (p *pgOps) writeLoop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// A last write, and one more if it failed: a connection the
			// pool kept may have died with a restart of the database,
			// and the next is a new one.
			p.flush(context.Background())
			if p.waiting() {
				p.flush(context.Background())
			}
			return
		case <-t.C:
		case <-p.kick:
		}
		p.flush(context.Background())
	}
}

// waiting reports whether ops wait to be written.
func (p *pgOps) waiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) > 0
}

// flush writes the queue, a batch at a time, until it is empty or a write
// fails.
func (p *pgOps) flush(ctx context.Context) {
	for p.flushBatch(ctx) {
	}
}

// flushBatch writes the first maxFlushBatch ops of the queue and reports
// whether more wait and this write succeeded.
func (p *pgOps) flushBatch(ctx context.Context) bool {
	p.mu.Lock()
	var batch []queued
	var through uint64
	for _, q := range p.pending {
		if len(batch) == maxFlushBatch {
			break
		}
		through = q.n
		if !q.withdrawn {
			batch = append(batch, q)
		}
	}
	recheck := p.recheck
	p.mu.Unlock()
	if through == 0 {
		return false // nothing waits; a failed write's ops wait until one succeeds
	}
	last, err := p.write(ctx, batch, recheck)
	if p.afterWrite != nil {
		err = p.afterWrite(err)
	}
	if err == nil && last > 0 {
		p.trim(ctx, last)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.moved()
	if err != nil {
		p.failedThrough, p.recheck = through, true
		if p.failing == nil {
			slog.Warn("observer cannot write its ops; they wait in a queue, and statistics answer from this node's view", "database", p.where, "err", err)
		}
		p.failing = err
		return false
	}
	if p.failing != nil {
		slog.Info("observer writes its ops again", "database", p.where, "dropped", p.outageDrops)
		p.failing, p.outageDrops = nil, 0
	}
	done := 0
	for done < len(p.pending) && p.pending[done].n <= through {
		done++
	}
	p.pending = p.pending[done:]
	p.written, p.recheck = through, false
	return len(p.pending) > 0
}

// moved wakes the waiters of sync; p.mu is held.
func (p *pgOps) moved() {
	close(p.progress)
	p.progress = make(chan struct{})
}

// write inserts batch in one transaction, numbered on the feed, and
// returns the feed number of the last (0 when none was written). After a
// failed write (recheck) it first leaves out the ops that write landed.
func (p *pgOps) write(ctx context.Context, batch []queued, recheck bool) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var last int64
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if recheck {
			var landed uint64
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(node_seq), 0) FROM observer_ops WHERE node = $1", p.node).Scan(&landed); err != nil {
				return err
			}
			for len(batch) > 0 && batch[0].n <= landed {
				batch = batch[1:]
			}
		}
		if len(batch) == 0 {
			return nil
		}
		ns, bodies := make([]int64, len(batch)), make([]string, len(batch))
		for i, q := range batch {
			b, err := json.Marshal(q.op)
			if err != nil {
				return fmt.Errorf("encode op: %w", err)
			}
			ns[i], bodies[i] = int64(q.n), string(b)
		}
		// Last in the transaction: other writers wait from here to commit.
		first, err := pgfeed.Reserve(ctx, tx, feedName, len(batch))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO observer_ops (seq, node, node_seq, op)
			SELECT $1 + t.i - 1, $2, t.n, t.op::jsonb
			FROM unnest($3::bigint[], $4::text[]) WITH ORDINALITY AS t(n, op, i)`, first, p.node, ns, bodies)
		last = first + int64(len(batch)) - 1
		return err
	})
	return last, err
}

// trim deletes the ops older than the last Retain once they pass it by an
// eighth; a failure is left to the next. Only the writer calls it.
func (p *pgOps) trim(ctx context.Context, last int64) {
	retain := int64(p.o.cfg.Retain)
	below := last - retain
	if below-p.trimmedTo <= retain/8 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if _, err := p.pool.Exec(ctx, "DELETE FROM observer_ops WHERE seq <= $1", below); err != nil {
		slog.Warn("observer could not delete its oldest ops", "database", p.where, "err", err)
		return
	}
	p.trimmedTo = below
}

// close writes what is queued, for at most Timeout, and stops following.
func (p *pgOps) close() error {
	p.stop()
	<-p.done
	p.feed.Close()
	p.pool.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.pending); n > 0 {
		return &errs.Error{Kind: errs.Unavailable, Msg: fmt.Sprintf("observer: %d ops were not written to the PostgreSQL at %s: %v", n, p.where, p.failing)}
	}
	return nil
}
