package vector

// How a shared Manager brings this node's copies in line with the tables
// at start and after a gap (see shared.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/internal/pgfeed"
)

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
