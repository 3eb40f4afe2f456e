package pathway

// How a shared pathway writes (see shared.go): group commit, one
// transaction for the writes that queued while the last one ran.
//
// A writer queues its change and takes the node's writer lock; if its
// change was written meanwhile it is done, else it writes the whole queue:
//
//  1. Reserve one number: from here until the commit, no writer of any
//     node commits a record (the feed's clock-row lock, see shared.go).
//  2. Read the records numbered after the last this node applied, and
//     apply them: the memory is now the state every node will have just
//     before this batch.
//  3. Decide each change in turn, under p.mu, as a single node does, and
//     apply its record (decoded from the bytes that will be stored, as the
//     other nodes will decode them), so that the next decides on top of it.
//  4. Reserve the numbers of the records after the first, insert them all
//     and commit; then mark their traces for the indexer and answer the
//     writers.
//
// As in local mode, where a record is applied before it is durable, a
// reader of this node may see a change of the batch while its commit is on
// its way. If the transaction fails, the batch's records are taken back
// out of memory (see undo) and every writer of the batch gets the error,
// those that changed nothing or were refused included, since they decided
// on top of the records taken back. Taking a record back whose commit
// landed after all (its answer lost, see landed) loses nothing: its number
// is not applied any more, so the follower applies it when it reads it.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/errs"
	"lakehouse/backends/eventlog"
	"lakehouse/internal/pgfeed"
)

// maxGroup bounds the changes of one transaction.
const maxGroup = 256

// A pending is a change queued for the writer (see Pathway.change).
type pending struct {
	decide func() (*record, []string, error)
	done   func()
	err    error
	uids   []string      // to mark once committed
	ended  chan struct{} // closed once err is set, or the change is written
}

// change is Pathway.change in shared mode.
func (s *pgStore) change(ctx context.Context, decide func() (*record, []string, error), done func()) error {
	c := &pending{decide: decide, done: done, ended: make(chan struct{})}
	s.qmu.Lock()
	s.queue = append(s.queue, c)
	s.qmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for {
		select {
		case <-c.ended: // in a batch written before, or this one
			return c.err
		default:
		}
		s.qmu.Lock()
		batch := s.queue[:min(len(s.queue), maxGroup)]
		s.queue = s.queue[len(batch):]
		s.qmu.Unlock()
		err := s.write(ctx, batch)
		if err == nil {
			s.maybeCompact()
		}
		for _, b := range batch {
			if err != nil {
				b.err = err
			}
			if b.err == nil {
				s.p.idx.mark(b.uids...)
			}
			close(b.ended)
		}
	}
}

// write writes batch in one transaction (steps 1 to 4 above) and returns
// the error every change of it gets, or nil, each change's own error (a
// refusal) being in its err.
func (s *pgStore) write(ctx context.Context, batch []*pending) error {
	p := s.p
	p.mu.RLock()
	err := p.unusable()
	p.mu.RUnlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after a commit, does nothing
	first, err := pgfeed.Reserve(ctx, tx, feedName, 1)
	if err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}
	behind, err := s.readBefore(ctx, tx, first)
	if err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}

	p.mu.Lock()
	caught := s.applyLocked(behind)
	if s.gap {
		p.mu.Unlock()
		p.idx.mark(caught...)
		if err := s.rebuild(ctx, tx); err != nil {
			return s.fault("write the trace (nothing was stored): rebuild this node's memory from the base", err)
		}
		p.mu.Lock()
		caught = nil
	}
	if s.applied != first-1 {
		p.mu.Unlock()
		p.idx.mark(caught...)
		return &errs.Error{Kind: errs.Unavailable, Msg: fmt.Sprintf("write the trace (nothing was stored): this node has applied the pathway's records up to %d, and the write would be %d; send it again", s.applied, first)}
	}
	u := undo{last: p.last, applied: s.applied}
	var bodies [][]byte
	for _, c := range batch {
		body, err := s.decide(c, &u)
		if err != nil {
			c.err = err // refused: the others go on
			continue
		}
		if body != nil {
			bodies = append(bodies, body)
		}
	}
	p.mu.Unlock()
	p.idx.mark(caught...)
	if len(bodies) == 0 {
		return nil // nothing to write: the rollback gives the number back
	}

	id := newWriteID()
	err = s.insert(ctx, tx, first, id, bodies)
	if err == nil {
		if s.commit != nil {
			err = s.commit(ctx, tx)
		} else {
			err = tx.Commit(ctx)
		}
		if err != nil {
			err = s.landed(first, id, err)
		}
	} else {
		err = s.fault("write the trace (nothing was stored)", err)
	}
	if err != nil {
		p.mu.Lock()
		changed := u.back(p, s)
		p.mu.Unlock()
		p.idx.mark(changed...) // the indexer may have read a state taken back
		return err
	}
	return nil
}

// decide runs c's decide and applies its record as the next of the batch,
// noting in u what to take back if the batch fails; it returns the
// record's bytes, or nil when c changes nothing. p.mu is held.
func (s *pgStore) decide(c *pending, u *undo) ([]byte, error) {
	r, uids, err := c.decide()
	if err != nil {
		return nil, err
	}
	if r == nil {
		c.done()
		return nil, nil
	}
	body, err := eventlog.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode the pathway record: %w", err)
	}
	own, err := decodeRecord(body)
	if err != nil { // cannot happen: body was just encoded
		return nil, fmt.Errorf("decode the pathway record: %w", err)
	}
	u.save(s.p, own)
	s.applyLocked([]numbered{{s.applied + 1, own}})
	c.done()
	c.uids = uids
	return body, nil
}

// insert reserves the numbers after first for the records after the
// first, and inserts them all, numbered from first, under one write id.
func (s *pgStore) insert(ctx context.Context, tx pgx.Tx, first int64, id string, bodies [][]byte) error {
	if n := len(bodies) - 1; n > 0 {
		next, err := pgfeed.Reserve(ctx, tx, feedName, n)
		if err != nil {
			return err
		}
		if next != first+1 { // cannot happen: tx holds the feed's lock since first
			return fmt.Errorf("the pathway's feed gave %d after %d", next, first)
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO pathway_changes (seq, write_id, record)
		SELECT $1 + t.i - 1, $2, t.record
		FROM unnest($3::bytea[]) WITH ORDINALITY AS t(record, i)`, first, id, bodies)
	return err
}

// readBefore reads, by q, the records after the last this node applied
// and before number seq.
func (s *pgStore) readBefore(ctx context.Context, q querier, seq int64) ([]numbered, error) {
	s.p.mu.RLock()
	after := s.applied
	s.p.mu.RUnlock()
	if after >= seq-1 {
		return nil, nil
	}
	rows, err := q.Query(ctx, "SELECT seq, record FROM pathway_changes WHERE seq > $1 AND seq < $2 ORDER BY seq", after, seq)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (numbered, error) {
		_, n, err := scanChange(row)
		return n, err
	})
}

// landed finds out whether the batch whose first record is seq, and whose
// commit failed with err, landed anyway (the connection was cut after
// COMMIT was sent, say): nil if it did, or else an error that says
// whether it was stored.
func (s *pgStore) landed(seq int64, id string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	var n int
	qerr := s.pool.QueryRow(ctx, "SELECT count(*) FROM pathway_changes WHERE seq = $1 AND write_id = $2", seq, id).Scan(&n)
	switch {
	case qerr != nil:
		s.background(s.settle)
		return s.fault("write the trace (its commit went unanswered, so it may have been stored: get_trace or search_traces shows whether)", errors.Join(err, qerr))
	case n == 0:
		return s.fault("write the trace (nothing was stored)", err)
	}
	return nil
}

// settle applies the records this node has not, once the database
// answers, after a commit whose fate it could not learn: the batch was
// taken back, and if it landed, this node's follower may have read its
// rows while they were applied, and skipped them. It tries every second
// until it succeeds or the Pathway closes.
func (s *pgStore) settle() {
	for {
		s.p.mu.RLock()
		closed := s.p.closed
		s.p.mu.RUnlock()
		if closed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		err := s.catchUp(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Second)
	}
}

// catchUp applies every record this node has not applied, rebuilding from
// the base after a gap.
func (s *pgStore) catchUp(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	behind, err := s.readBefore(ctx, s.pool, math.MaxInt64)
	if err != nil {
		return err
	}
	p := s.p
	p.mu.Lock()
	uids := s.applyLocked(behind)
	gap := s.gap
	p.mu.Unlock()
	p.idx.mark(uids...)
	if gap {
		return s.rebuild(ctx, s.pool)
	}
	return nil
}

// closeShared is Close in shared mode: every write is in PostgreSQL
// already; the indexer has a moment to catch up, so that the next start
// finds the index in step.
func (p *Pathway) closeShared() error {
	p.pg.close()
	ctx, cancel := context.WithTimeout(context.Background(), closeDrain)
	p.idx.wait(ctx)
	cancel()
	p.idx.stop()
	return p.vec.Close()
}
