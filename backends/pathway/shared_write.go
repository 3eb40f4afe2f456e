package pathway

// How a shared pathway writes (see shared.go).

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/errs"
	"lakehouse/backends/eventlog"
	"lakehouse/internal/pgfeed"
)

// change is Pathway.change in shared mode: one transaction a write.
//
//  1. Reserve the write's number: from here until the commit, no writer
//     of any node commits a record (see shared.go).
//  2. Read the records numbered between the last this node applied and
//     the write's own, and apply them: the memory is now the state every
//     node will have just before this write.
//  3. Decide, under p.mu, as a single node does; an error or nothing to
//     change rolls back, which gives the number back.
//  4. Insert the record and commit.
//  5. Apply the record as the other nodes will, decoded from the row's
//     bytes, unless this node's follower did already; mark its traces.
func (s *pgStore) change(ctx context.Context, decide func() (*record, []string, error), done func()) error {
	p := s.p
	s.wmu.Lock()
	defer s.wmu.Unlock()
	p.mu.RLock()
	err := p.unusable()
	p.mu.RUnlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after a commit, does nothing
	seq, err := pgfeed.Reserve(ctx, tx, feedName, 1)
	if err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}
	behind, err := s.readBefore(ctx, tx, seq)
	if err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}

	p.mu.Lock()
	caught := s.applyLocked(behind)
	if s.applied != seq-1 {
		p.mu.Unlock()
		p.idx.mark(caught...)
		return &errs.Error{Kind: errs.Unavailable, Msg: fmt.Sprintf("write the trace (nothing was stored): this node has applied the pathway's records up to %d, and the write would be %d; send it again", s.applied, seq)}
	}
	r, uids, err := decide()
	var body []byte
	if err == nil && r != nil {
		body, err = eventlog.Marshal(r)
	}
	if err != nil || r == nil {
		if err == nil {
			done()
		}
		p.mu.Unlock()
		p.idx.mark(caught...)
		return err
	}
	p.mu.Unlock()
	p.idx.mark(caught...)

	id := newWriteID()
	if _, err := tx.Exec(ctx, "INSERT INTO pathway_changes (seq, write_id, record) VALUES ($1, $2, $3)", seq, id, body); err != nil {
		return s.fault("write the trace (nothing was stored)", err)
	}
	err = tx.Commit(ctx)
	if s.afterCommit != nil {
		err = s.afterCommit(err)
	}
	if err != nil {
		if err = s.landed(seq, id, err); err != nil {
			return err
		}
	}
	own, err := decodeRecord(body)
	if err != nil { // cannot happen: body was encoded above
		return fmt.Errorf("decode the pathway record just written: %w", err)
	}
	p.mu.Lock()
	s.applyLocked([]numbered{{seq, own}})
	done()
	p.mu.Unlock()
	p.idx.mark(uids...)
	return nil
}

// readBefore reads, in tx, the records after the last this node applied
// and before number seq.
func (s *pgStore) readBefore(ctx context.Context, tx pgx.Tx, seq int64) ([]numbered, error) {
	s.p.mu.RLock()
	after := s.applied
	s.p.mu.RUnlock()
	if after >= seq-1 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, "SELECT seq, record FROM pathway_changes WHERE seq > $1 AND seq < $2 ORDER BY seq", after, seq)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (numbered, error) {
		_, n, err := scanChange(row)
		return n, err
	})
}

// landed finds out whether the write of record seq, whose commit failed
// with err, landed anyway (the connection was cut after COMMIT was sent,
// say): nil if it did, or else an error that says whether it was stored.
func (s *pgStore) landed(seq int64, id string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	var n int
	qerr := s.pool.QueryRow(ctx, "SELECT count(*) FROM pathway_changes WHERE seq = $1 AND write_id = $2", seq, id).Scan(&n)
	switch {
	case qerr != nil:
		return s.fault("write the trace (its commit went unanswered, so it may have been stored: get_trace or search_traces shows whether)", errors.Join(err, qerr))
	case n == 0:
		return s.fault("write the trace (nothing was stored)", err)
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
