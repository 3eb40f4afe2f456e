package vector

// How a shared Manager applies the changes of the feed, its own and the
// other nodes', one at a time in the feed's order (see shared.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// A change is a row of vector_log. The follower reads this node's own
// (own) without their body.
type change struct {
	seq   int64
	index string
	kind  string
	own   bool
	body  []byte
}

// scanChange reads a row of vector_log.
func scanChange(r pgx.CollectableRow) (int64, change, error) {
	var c change
	err := r.Scan(&c.seq, &c.index, &c.kind, &c.own, &c.body)
	return c.seq, c, err
}

// applyBatch applies the changes the follower read, skipping those this
// node applied already (its own, see applyOwn). A gap before a change
// means a retention deleted changes this node never read: it reloads the
// indexes those may have touched first (reconcile).
func (sh *shared) applyBatch(batch []change) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, ch := range batch {
		applied := sh.applied.Load()
		if ch.seq <= applied {
			continue
		}
		if ch.seq > applied+1 && !sh.resync(applied, ch.seq) {
			return // closing
		}
		if ch.own {
			body, found, ok := sh.fetchBody(ch.seq)
			if !ok {
				return // closing
			}
			if !found { // reloaded past it
				sh.advanceLocked(ch.seq)
				continue
			}
			ch.body = body
		}
		if err := sh.applyLocked(ch); err != nil {
			slog.Error("vector change could not be applied on this node", "index", ch.index, "seq", ch.seq, "err", err)
		}
		sh.advanceLocked(ch.seq)
	}
}

// fetchBody reads the body of change seq, one of this node's own that it
// has not applied: its commit looked lost to the call that made it. If a
// retention deleted it meanwhile, it reloads what the change may have
// touched instead (resync), and found is false. It tries until it
// succeeds, as resync does, and reports ok false only when the Manager
// closes. sh.mu is held.
func (sh *shared) fetchBody(seq int64) (body []byte, found, ok bool) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), sh.cfg.Timeout)
		err := sh.pool.QueryRow(ctx, "SELECT body FROM vector_log WHERE seq = $1", seq).Scan(&body)
		cancel()
		switch {
		case err == nil:
			return body, true, true
		case errors.Is(err, pgx.ErrNoRows):
			return nil, false, sh.resync(seq-1, seq+1)
		}
		slog.Error("vector change of this node's could not be read; trying again", "seq", seq, "err", err)
		select {
		case <-sh.closing:
			return nil, false, false
		case <-time.After(time.Second):
		}
	}
}

// resync reloads the indexes that may have missed the changes after
// applied and before next, which a retention deleted before this node
// read them (see reconcile). It tries until it succeeds, holding up the
// follower meanwhile, whose next rows need it; it gives up, reporting
// false, only when the Manager closes. sh.mu is held.
func (sh *shared) resync(applied, next int64) bool {
	slog.Warn("vector changes were deleted before this node read them; reloading the indexes that are behind", "after", applied, "next", next)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), sh.cfg.Timeout)
		_, err := sh.reconcile(ctx)
		cancel()
		if err == nil {
			return true
		}
		slog.Error("vector indexes could not be reloaded; trying again", "err", err)
		select {
		case <-sh.closing:
			return false
		case <-time.After(time.Second):
		}
	}
}

// applyLocked applies ch to this node's copy of its index, if the copy is
// of the index ch changes and does not hold ch yet (its feed number is
// lower). A copy that fails to take a write is set aside as unavailable,
// its last mark kept, so that the next start catches it up or reloads it.
// sh.mu is held.
func (sh *shared) applyLocked(ch change) error {
	m := sh.m
	m.mu.RLock()
	ix := m.indexes[ch.index]
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return errManagerClosed
	}
	if ix != nil && ix.feedSeq() >= ch.seq {
		return nil // a copy newer than the change (loaded from the tables)
	}
	switch ch.kind {
	case kindCreate:
		var b createBody
		if err := json.Unmarshal(ch.body, &b); err != nil {
			return fmt.Errorf("decode create: %w", err)
		}
		if ix != nil {
			sh.forget(ch.index) // a copy of an older index of that name
		}
		nix, err := createIndex(m.dir, ch.index, b.Spec, b.Created, m.cfg)
		if err == nil {
			if err = nix.mark(ch.seq); err != nil {
				nix.close(true)
			}
		}
		if err != nil {
			m.mu.Lock()
			m.broken[ch.index] = fmt.Sprintf("this node could not make its copy: %v; restart it to load the index from PostgreSQL", err)
			m.mu.Unlock()
			return err
		}
		m.adopt(ch.index, nix, sh.floor)
	case kindDrop:
		sh.forget(ch.index)
	case kindWrite:
		if ix == nil {
			return nil // dropped later, or not this node's to hold
		}
		if err := ix.applyWrite(ch.seq, ch.body); err != nil {
			sh.setAside(ch.index, ix, fmt.Errorf("change %d: %w", ch.seq, err))
			return err
		}
	default:
		return fmt.Errorf("unknown kind of change %q", ch.kind)
	}
	return nil
}

// forget removes this node's copy of index name, if it has one.
func (sh *shared) forget(name string) {
	m := sh.m
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.indexes[name]
	if _, bad := m.broken[name]; ok || bad {
		if err := m.dropLocked(name); err != nil {
			slog.Warn("vector index: removing this node's copy", "index", name, "err", err)
		}
	}
}

// setAside makes this node's copy ix of index name unavailable after it
// failed to take a change: it is closed without a new mark, so that at
// the next start it covers only what it holds.
func (sh *shared) setAside(name string, ix *index, why error) {
	ix.setFloor(nil)
	m := sh.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.indexes[name] != ix {
		return
	}
	delete(m.indexes, name)
	m.cfg.Budget.leave(ix)
	ix.close(false)
	m.broken[name] = fmt.Sprintf("this node's copy failed to take a write (%v); restart the node to bring it up to date from PostgreSQL", why)
}

// adopt makes ix the open index name, following the feed with floor; if
// the Manager has closed meanwhile, it closes ix instead.
func (m *Manager) adopt(name string, ix *index, floor func() int64) {
	ix.setFloor(floor)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		ix.close(false)
		return
	}
	delete(m.broken, name)
	m.indexes[name] = ix
	m.cfg.Budget.join(ix)
}

// applyWrite applies a write change numbered seq, whose body is an
// upsert or delete record, as this node's own upsert or delete would.
func (ix *index) applyWrite(seq int64, body []byte) error {
	w, err := decodeWrite(body, ix.dim)
	if err != nil {
		return fmt.Errorf("decode write: %w", err)
	}
	if w.items != nil {
		_, err = ix.put(analysed(w.items), seq)
	} else {
		_, err = ix.remove(w.ids, seq)
	}
	return err
}

// feedSeq is the feed number that the index's state covers.
func (ix *index) feedSeq() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.seg.feedSeq
}

// setFloor sets the index's floor (see index.floor).
func (ix *index) setFloor(f func() int64) {
	ix.wmu.Lock()
	ix.floor = f
	ix.wmu.Unlock()
}

// decodeItem decodes an item of vector_items, encoded as in a log record.
func decodeItem(b []byte, dim int) (prepared, error) {
	r := &reader{b: b}
	vec := make([]float32, dim)
	id, ex := r.item(vec)
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("trailing bytes after item %q", id))
	}
	return prepared{id: id, vec: vec, ex: ex}, r.err
}
