package pathway

// What bounds a shared pathway's table: bases (see shared.go).
//
// A base is every trace as of a feed number, in the binary form of a
// local snapshot (snapshot.go; its cover's Bytes is the number), kept in
// pathway_bases in parts of basePart bytes. Once the records after the
// latest base pass PostgresConfig.CompactRecords, the node whose write
// passed it writes a new base of its memory and deletes the older bases
// and the records up to the base before the new one: the table then holds
// one base and some twice CompactRecords records (more by the writes that
// come while a base is written, since the next waits for it), and a node
// starting loads the latest base and replays only the records after it.
//
// The records between the two bases stay so that a node whose follower is
// behind by less than CompactRecords when a base is written reads on
// without a gap. A node further behind (its database connection was cut
// for long) finds a gap before its next record, and rebuilds its memory
// from the latest base and the records after it (see rebuild), as a local
// memory reloads after a failed write.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// DefaultCompactRecords is PostgresConfig.CompactRecords' default.
const DefaultCompactRecords = 100_000

// basePart is the most bytes of a base's part, a row of pathway_bases.
const basePart = 16 << 20

// baseLock is the key of the advisory lock a node writes a base under,
// so that two nodes do not write one at once.
const baseLock int64 = 0x6c616b6570776231 // "lakepwb1"

// querier is what a pool and a transaction have in common for reading.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadBase applies the latest base to into, an empty memory, and returns
// the number it holds the state at (0 when there is none).
func loadBase(ctx context.Context, q querier, into *Pathway) (int64, error) {
	rows, err := q.Query(ctx, "SELECT seq, data FROM pathway_bases WHERE seq = (SELECT max(seq) FROM pathway_bases) ORDER BY part")
	if err != nil {
		return 0, err
	}
	var seq int64
	var b []byte
	var part []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &part}, func() error {
		b = append(b, part...)
		return nil
	})
	if err != nil || seq == 0 {
		return 0, err
	}
	s, err := parseSnapshot(fmt.Sprintf("the pathway base at %d", seq), b)
	if err != nil {
		return 0, err
	}
	if s.cover.Bytes != seq {
		return 0, fmt.Errorf("the pathway base at %d says it holds the state at %d", seq, s.cover.Bytes)
	}
	s.apply(into.applyNew)
	if n := len(into.order); n > 0 {
		into.last = into.order[n-1].CreatedAt
	}
	return seq, nil
}

// maybeCompact starts writing a base in the background when the records
// after the last base this node knows of pass CompactRecords and none is
// being written here.
func (s *pgStore) maybeCompact() {
	s.p.mu.RLock()
	due := s.applied-s.base >= int64(s.cfg.CompactRecords)
	s.p.mu.RUnlock()
	if due && s.compacting.CompareAndSwap(false, true) {
		s.background(func() {
			defer s.compacting.Store(false)
			if err := s.compact(context.Background()); err != nil {
				slog.Warn("the pathway could not write a base of its traces; its table keeps growing until the next try", "database", s.where, "err", err)
			}
		})
	}
}

// background runs f on a goroutine that Close waits for, unless the
// Pathway is closing.
func (s *pgStore) background(f func()) {
	// Under the read lock, bg.Add happens before Close's bg.Wait.
	s.p.mu.RLock()
	defer s.p.mu.RUnlock()
	if s.p.closed {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// compact writes a base of this node's memory, unless another node wrote
// one as recent meanwhile, and deletes what it makes unneeded.
func (s *pgStore) compact(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 4*s.cfg.Timeout)
	defer cancel()
	// The memory is as committed once no batch is on its way (wmu): a
	// batch applies its records before its commit.
	s.wmu.Lock()
	s.p.mu.RLock()
	at := s.applied
	var b bytes.Buffer
	err := writeSnapshot(&b, cover{Bytes: at}, s.p.order)
	s.p.mu.RUnlock()
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", baseLock).Scan(&mine); err != nil || !mine {
			return err // another node is writing one
		}
		var prev int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM pathway_bases").Scan(&prev); err != nil {
			return err
		}
		if at-prev < int64(s.cfg.CompactRecords) {
			s.noteBase(prev)
			return nil
		}
		data := b.Bytes()
		for part := 0; len(data) > 0; part++ {
			n := min(len(data), basePart)
			if _, err := tx.Exec(ctx, "INSERT INTO pathway_bases (seq, part, data) VALUES ($1, $2, $3)", at, part, data[:n]); err != nil {
				return err
			}
			data = data[n:]
		}
		if _, err := tx.Exec(ctx, "DELETE FROM pathway_bases WHERE seq < $1", at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM pathway_changes WHERE seq <= $1", prev); err != nil {
			return err
		}
		s.noteBase(at)
		slog.Debug("pathway base written", "database", s.where, "seq", at, "bytes", b.Len(), "deleted_through", prev)
		return nil
	})
}

// noteBase records that a base at seq exists.
func (s *pgStore) noteBase(seq int64) {
	s.p.mu.Lock()
	s.base = max(s.base, seq)
	s.p.mu.Unlock()
}

// rebuild replaces this node's memory by the latest base and the records
// after it, read by q, when that is ahead of it: for a node that finds the
// records after its last deleted (a gap). The traces whose index items
// change, or that are dropped, are marked for the indexer. The caller
// holds wmu, so that no batch is applied and not yet committed meanwhile.
func (s *pgStore) rebuild(ctx context.Context, q querier) error {
	p := s.p
	p.mu.RLock()
	size := len(p.order)
	p.mu.RUnlock()
	fresh := newPathway(p.dir, p.emb, p.cfg, size)
	seq, err := loadBase(ctx, q, fresh)
	if err != nil {
		return fmt.Errorf("read the pathway's base: %w", err)
	}
	rows, err := q.Query(ctx, "SELECT seq, record FROM pathway_changes WHERE seq > $1 ORDER BY seq", seq)
	if err != nil {
		return err
	}
	after, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (numbered, error) {
		_, n, err := scanChange(row)
		return n, err
	})
	if err != nil {
		return err
	}
	fs := &pgStore{p: fresh, applied: seq}
	if fs.applyLocked(after); fs.gap {
		return fmt.Errorf("the pathway's records after its base at %d have a gap", seq)
	}
	p.mu.Lock()
	if fs.applied <= s.applied {
		p.mu.Unlock()
		return nil
	}
	old := p.traces
	p.traces, p.order, p.counts, p.want = fresh.traces, fresh.order, fresh.counts, fresh.want
	if fresh.last.After(p.last) {
		p.last = fresh.last
	}
	s.applied, s.base, s.gap = fs.applied, max(s.base, seq), false
	changed := changedFrom(old, p.traces)
	idx := p.idx
	p.mu.Unlock()
	slog.Warn("pathway memory rebuilt from its base: the records it had not applied were deleted", "database", s.where, "base", seq, "applied", fs.applied)
	if idx != nil { // before the indexer exists, its reconcile covers them
		idx.mark(changed...)
	}
	return nil
}

// changedFrom returns the uids of the traces whose index items differ
// between old and now: changed, dropped or new.
func changedFrom(old, now map[string]*Trace) []string {
	var changed []string
	for uid, t := range old {
		if n, ok := now[uid]; !ok || n.ihash != t.ihash {
			changed = append(changed, uid)
		}
	}
	for uid := range now {
		if _, ok := old[uid]; !ok {
			changed = append(changed, uid)
		}
	}
	return changed
}
