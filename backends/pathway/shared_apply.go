package pathway

// How a shared pathway applies the records of the table (see shared.go):
// in order of their numbers, each once, whoever read it.

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// scanChange reads a row of pathway_changes; a record that does not decode
// is kept as a nil one, skipped with a warning where it is applied.
func scanChange(row pgx.CollectableRow) (int64, numbered, error) {
	var n numbered
	var body []byte
	if err := row.Scan(&n.seq, &body); err != nil {
		return 0, n, err
	}
	r, err := decodeRecord(body)
	if err != nil {
		slog.Warn("pathway record in PostgreSQL skipped: it does not decode", "seq", n.seq, "err", err)
		return n.seq, n, nil
	}
	n.r = r
	return n.seq, n, nil
}

// applyFeed applies the records the follower read, and marks their traces
// for the indexer.
func (s *pgStore) applyFeed(batch []numbered) {
	p := s.p
	p.mu.Lock()
	uids := s.applyLocked(batch)
	idx, gap := p.idx, s.gap
	p.mu.Unlock()
	if idx != nil && len(uids) > 0 {
		idx.mark(uids...) // before the indexer exists, its reconcile covers them
	}
	if gap {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		s.wmu.Lock() // no batch is applied and not yet committed meanwhile
		err := s.rebuild(ctx, s.pool)
		s.wmu.Unlock()
		if err != nil {
			// The next batch, or this node's next write, tries again.
			slog.Error("the pathway's records after this node's last were deleted, and its memory could not be rebuilt from the base", "database", s.where, "err", err)
		}
	}
}

// applyLocked applies the records of batch numbered after the last
// applied, in order, and returns the uids of the traces whose index items
// they change; p.mu is held. A record applied already (by its writer, or by
// a writer's catch-up) is skipped, so each is applied once. A record after
// a gap is not applied, nor any after it, until a rebuild (s.gap).
func (s *pgStore) applyLocked(batch []numbered) []string {
	p := s.p
	var uids []string
	for _, n := range batch {
		if n.seq <= s.applied {
			continue
		}
		if s.gap = s.gap || n.seq > s.applied+1; s.gap {
			break // deleted before they were read: rebuild
		}
		s.applied = n.seq
		if n.r == nil {
			continue
		}
		uids = append(uids, n.r.marks()...)
		for _, t := range n.r.Traces {
			if t != nil && t.CreatedAt.After(p.last) {
				p.last = t.CreatedAt // p.now stays after every node's traces
			}
		}
		if err := p.apply(n.r); err != nil {
			slog.Warn("pathway record in PostgreSQL skipped", "seq", n.seq, "err", err)
		}
	}
	return uids
}

// marks returns the uids whose index items r changes.
func (r *record) marks() []string {
	switch r.Op {
	case "put":
		uids := make([]string, 0, len(r.Traces))
		for _, t := range r.Traces {
			if t != nil {
				uids = append(uids, t.UID)
			}
		}
		return uids
	case "retire":
		return []string{r.UID}
	}
	return nil
}
