package vector

// How a shared Manager writes (see shared.go): each call is one
// transaction that changes the tables and logs the change, and then the
// change is applied here before the call returns.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgfeed"
)

// The kinds of change in vector_log.
const (
	kindCreate = "create"
	kindDrop   = "drop"
	kindWrite  = "write" // body: an upsert or delete record
)

// createBody is the body of a create change.
type createBody struct {
	Spec    Spec      `json:"spec"`
	Created time.Time `json:"created"`
}

// commit runs fn in a transaction and, if it returns a change, logs it
// numbered on the feed and commits; otherwise it rolls back. fn locks the
// index's row first (see shared.go) and calls reserve, which takes the
// change's number, before it changes vector_items. What fn returns of kind
// errs passes through; the database's errors become errs.Unavailable.
func (sh *shared) commit(ctx context.Context, op string, fn func(tx pgx.Tx, reserve func() (int64, error)) (*change, error)) (*change, error) {
	ctx, cancel := context.WithTimeout(ctx, sh.cfg.Timeout)
	defer cancel()
	var ch *change
	err := pgx.BeginFunc(ctx, sh.pool, func(tx pgx.Tx) error {
		var seq int64
		reserve := func() (int64, error) {
			var err error
			seq, err = pgfeed.Reserve(ctx, tx, feedName, 1)
			return seq, err
		}
		var err error
		if ch, err = fn(tx, reserve); err != nil || ch == nil {
			return err
		}
		if seq == 0 {
			return errors.New("vector: a change was made without a feed number")
		}
		ch.seq = seq
		_, err = tx.Exec(ctx, "INSERT INTO vector_log (seq, index_name, node, kind, body) VALUES ($1, $2, $3, $4, $5)",
			seq, ch.index, sh.node, ch.kind, ch.body)
		if err == nil && sh.failAt != nil {
			err = sh.failAt(beforeCommit)
		}
		return err
	})
	if err == nil && sh.failAt != nil {
		err = sh.failAt(afterCommit)
	}
	if err != nil {
		return nil, sh.fault(op, err)
	}
	if ch != nil {
		sh.trim(ctx, ch.seq)
	}
	return ch, nil
}

// The points of a write where a test may make it fail (shared.failAt).
const (
	beforeCommit = "before commit" // the transaction rolls back
	afterCommit  = "after commit"  // committed, but the call is told it failed, as when the connection is cut
)

// lockRow takes index name's row in tx, FOR SHARE to write its items or
// FOR UPDATE to drop it, and returns its spec; errs.NotFound if there is
// none.
func (sh *shared) lockRow(ctx context.Context, tx pgx.Tx, name, mode string) (Spec, error) {
	var spec Spec
	err := tx.QueryRow(ctx, "SELECT dims, metric, model, quantization FROM vector_indexes WHERE name = $1 FOR "+mode, name).
		Scan(&spec.Dim, &spec.Metric, &spec.Model, &spec.Quantization)
	if errors.Is(err, pgx.ErrNoRows) {
		return spec, errs.New(errs.NotFound, "vector index %q not found; %s", name, sh.m.describe())
	}
	return spec, err
}

// create is Manager.Create in shared mode; spec is checked.
func (sh *shared) create(ctx context.Context, name string, spec Spec) (IndexInfo, error) {
	ch, err := sh.commit(ctx, "create vector index "+name, func(tx pgx.Tx, reserve func() (int64, error)) (*change, error) {
		// Creates take their number first: the row does not exist yet to
		// be locked, and two creates of one name then meet at Reserve.
		seq, err := reserve()
		if err != nil {
			return nil, err
		}
		var created time.Time
		err = tx.QueryRow(ctx, `INSERT INTO vector_indexes (name, dims, metric, model, quantization, created, create_seq)
			VALUES ($1, $2, $3, $4, $5, date_trunc('milliseconds', clock_timestamp()), $6)
			ON CONFLICT (name) DO NOTHING RETURNING created`,
			name, spec.Dim, string(spec.Metric), spec.Model, string(spec.Quantization), seq).Scan(&created)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errs.New(errs.Conflict, "vector index %q already exists; pick another name, or drop it first", name)
		} else if err != nil {
			return nil, err
		}
		body, err := json.Marshal(createBody{Spec: spec, Created: created.UTC()})
		return &change{index: name, kind: kindCreate, body: body}, err
	})
	if err != nil {
		return IndexInfo{}, err
	}
	if err := sh.applyOwn(ctx, ch); err != nil {
		return IndexInfo{}, err
	}
	return sh.m.Info(name)
}

// drop is Manager.Drop in shared mode.
func (sh *shared) drop(ctx context.Context, name string) error {
	ch, err := sh.commit(ctx, "drop vector index "+name, func(tx pgx.Tx, reserve func() (int64, error)) (*change, error) {
		if _, err := sh.lockRow(ctx, tx, name, "UPDATE"); err != nil {
			return nil, err
		}
		if _, err := reserve(); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM vector_items WHERE index_name = $1", name); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM vector_indexes WHERE name = $1", name); err != nil {
			return nil, err
		}
		return &change{index: name, kind: kindDrop, body: []byte{}}, nil
	})
	if err != nil {
		return err
	}
	return sh.applyOwn(ctx, ch)
}

// upsert is Manager.Upsert in shared mode. The items are checked against
// the spec of the row, the truth, and against this node's budget before
// anything is written.
func (sh *shared) upsert(ctx context.Context, name string, items []Item) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	ch, err := sh.commit(ctx, "upsert into vector index "+name, func(tx pgx.Tx, reserve func() (int64, error)) (*change, error) {
		spec, err := sh.lockRow(ctx, tx, name, "SHARE")
		if err != nil {
			return nil, err
		}
		ps, err := prepareItems(items, spec.Dim, spec.Metric)
		if err != nil || len(ps) == 0 {
			return nil, err
		}
		if err := sh.m.admit(name, ps); err != nil {
			return nil, err
		}
		ids, bodies := make([]string, len(ps)), make([][]byte, len(ps))
		for i, p := range ps {
			ids[i], bodies[i] = p.id, appendItem(nil, p.id, p.vec, p.ex)
		}
		if _, err := reserve(); err != nil {
			return nil, err
		}
		_, err = tx.Exec(ctx, `INSERT INTO vector_items (index_name, id, item)
			SELECT $1, t.id, t.item FROM unnest($2::text[], $3::bytea[]) AS t(id, item)
			ON CONFLICT (index_name, id) DO UPDATE SET item = excluded.item`, name, ids, bodies)
		n = len(ps)
		return &change{index: name, kind: kindWrite, body: encodeUpsert(ps, spec.Dim)}, err
	})
	if err != nil || ch == nil {
		return 0, err
	}
	return n, sh.applyOwn(ctx, ch)
}

// delete is Manager.Delete in shared mode: the items deleted are those
// the table held, and only they are in the change.
func (sh *shared) delete(ctx context.Context, name string, ids []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkIDs(ids, "delete"); err != nil {
		return 0, err
	}
	var n int
	ch, err := sh.commit(ctx, "delete from vector index "+name, func(tx pgx.Tx, reserve func() (int64, error)) (*change, error) {
		if _, err := sh.lockRow(ctx, tx, name, "SHARE"); err != nil {
			return nil, err
		}
		if _, err := reserve(); err != nil {
			return nil, err
		}
		rs, _ := tx.Query(ctx, "DELETE FROM vector_items WHERE index_name = $1 AND id = ANY($2) RETURNING id", name, ids)
		gone, err := pgx.CollectRows(rs, pgx.RowTo[string])
		if err != nil || len(gone) == 0 {
			return nil, err // nothing to delete: rolled back, number and all
		}
		n = len(gone)
		return &change{index: name, kind: kindWrite, body: encodeDelete(gone)}, nil
	})
	if err != nil || ch == nil {
		return 0, err
	}
	return n, sh.applyOwn(ctx, ch)
}

// admit checks that this node's budget has room for ps in index name, if
// it has the index yet (see Budget.admit).
func (m *Manager) admit(name string, ps []prepared) error {
	m.mu.RLock()
	ix := m.indexes[name]
	m.mu.RUnlock()
	if ix == nil {
		return nil
	}
	if err := ix.cfg.Budget.admit(ix, ps); err != nil {
		return err
	}
	ix.cfg.Budget.mu.Unlock()
	return nil
}

// describe says which indexes exist, for error messages.
func (m *Manager) describe() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.describeLocked()
}

// trim deletes the changes older than the last Retain once they pass it
// by an eighth (see shared.go); a failure is left to the next write.
func (sh *shared) trim(ctx context.Context, last int64) {
	retain := sh.cfg.Retain
	below := last - retain
	if below-sh.trimmedTo.Load() <= retain/8 {
		return
	}
	if _, err := sh.pool.Exec(ctx, "DELETE FROM vector_log WHERE seq <= $1", below); err != nil {
		slog.Warn("vector indexes could not delete their oldest changes", "database", sh.where, "err", err)
		return
	}
	sh.trimmedTo.Store(below)
	slog.Debug("vector log trimmed", "through", below)
}

// applyOwn applies ch, this node's change just committed, before the call
// that made it returns: at once if it is the next change, or else once
// the follower has applied the changes before it, which the commit's
// notification wakes it to read (the follower then applies ch too). A
// change committed is not failed here: if the wait outlasts Timeout (the
// database went away just after the commit), the call succeeds and the
// change is applied once the follower catches up.
func (sh *shared) applyOwn(ctx context.Context, ch *change) error {
	sh.mu.Lock()
	if sh.applied.Load()+1 == ch.seq {
		err := sh.applyLocked(*ch)
		sh.advanceLocked(ch.seq)
		sh.mu.Unlock()
		if err != nil {
			return fmt.Errorf("the change is committed, and the other nodes have it, but this node's copy could not take it: %w", err)
		}
		return nil
	}
	sh.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, sh.cfg.Timeout)
	defer cancel()
	for {
		sh.mu.Lock()
		applied, progress := sh.applied.Load(), sh.progress
		sh.mu.Unlock()
		if applied >= ch.seq {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			slog.Warn("vector change committed but not yet applied on this node; it will be once the follower catches up", "index", ch.index, "seq", ch.seq, "applied", applied)
			return nil
		}
	}
}

// advanceLocked records that every change up to seq is applied; sh.mu is
// held. Every Retain/2 changes it marks the number in every index, so that
// the copy of an index idle meanwhile stays within the log's reach after
// a crash (which writes no marks at close) instead of being reloaded.
func (sh *shared) advanceLocked(seq int64) {
	sh.applied.Store(seq)
	close(sh.progress)
	sh.progress = make(chan struct{})
	if seq-sh.marked < max(1, sh.cfg.Retain/2) {
		return
	}
	sh.marked = seq
	m := sh.m
	m.mu.RLock()
	all := slices.Collect(maps.Values(m.indexes))
	m.mu.RUnlock()
	for _, ix := range all {
		if err := ix.mark(seq); err != nil {
			slog.Warn("vector index: the feed number could not be marked; after a crash the copy catches up from further back", "index", ix.name, "err", err)
		}
	}
}
