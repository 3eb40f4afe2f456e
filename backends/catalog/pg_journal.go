package catalog

// How pgJournal reads and writes datasets and entries (see pg.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgpool"
)

// querier is what a pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// update runs the commit in one transaction: it locks the dataset's row,
// brings the dataset up to date, asks change for the entry, inserts it and
// takes the next clock number.
func (j *pgJournal) update(ctx context.Context, name string, known *dataset, change func(*dataset) (step, error)) (*dataset, error) {
	var d *dataset
	var s step
	err := j.inTx(ctx, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		var row int64
		var entries int
		err := tx.QueryRow(ctx, "SELECT id, entries FROM catalog_datasets WHERE name = $1 AND NOT dropped FOR UPDATE", name).Scan(&row, &entries)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			d = newDataset(name)
		case err != nil:
			return err
		case known != nil && known.row == row:
			d = known
		default: // made by another node: read it whole
			d = newDataset(name)
			d.row = row
			if err := tx.QueryRow(ctx, "SELECT uuid, created FROM catalog_datasets WHERE id = $1", row).Scan(&d.m.ID, &d.m.Created); err != nil {
				return err
			}
			d.m.Created = d.m.Created.UTC()
		}
		if err := readEntries(ctx, tx, d, entries); err != nil {
			return err
		}
		if s, err = change(d); err != nil {
			return err
		}
		if d.row == 0 {
			// The database keeps microseconds.
			d.m.Created = d.m.Created.Truncate(time.Microsecond)
			err := tx.QueryRow(ctx, "INSERT INTO catalog_datasets (name, uuid, created, changed) VALUES ($1, $2, $3, 0) RETURNING id",
				name, d.m.ID, d.m.Created).Scan(&d.row)
			if isUniqueViolation(err) {
				return errs.New(errs.Conflict, "dataset %q was created by another node at the same time; read its manifest, then append to it or replace it", name)
			}
			if err != nil {
				return err
			}
		}
		if err := insertEntry(ctx, tx, d.row, d.entries+1, s.e); err != nil {
			return err
		}
		seq, err := tick(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE catalog_datasets SET entries = $2, changed = $3 WHERE id = $1", d.row, d.entries+1, seq)
		return err
	})
	switch {
	case err == nil:
	case isCaller(err):
		return nil, err
	case pgpool.Unreachable(err):
		return nil, j.fault(fmt.Sprintf("commit to dataset %q (if the connection was lost as it committed, the version may have landed: read the manifest before committing again)", name), err, ErrMaybeCommitted)
	default:
		return nil, j.fault(fmt.Sprintf("commit to dataset %q", name), err)
	}
	s.apply(d)
	return d, nil
}

// drop marks the dataset's row dropped and deletes its entries.
func (j *pgJournal) drop(ctx context.Context, name string) (bool, error) {
	err := j.inTx(ctx, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		var row int64
		err := tx.QueryRow(ctx, "SELECT id FROM catalog_datasets WHERE name = $1 AND NOT dropped FOR UPDATE", name).Scan(&row)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoDataset
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM catalog_entries WHERE dataset = $1", row); err != nil {
			return err
		}
		seq, err := tick(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE catalog_datasets SET dropped = true, entries = 0, changed = $2 WHERE id = $1", row, seq)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case isCaller(err):
		return false, err
	}
	return false, j.fault(fmt.Sprintf("drop dataset %q", name), err)
}

// load reads every dataset in one snapshot.
func (j *pgJournal) load(ctx context.Context) (map[string]*dataset, []string, error) {
	datasets := map[string]*dataset{}
	seen, err := j.pull(ctx, datasets, -1)
	if err != nil {
		return nil, nil, j.fault("read the catalog", err)
	}
	j.seen = seen
	return datasets, nil, nil
}

// pull applies to datasets, in one snapshot, the changes after clock since
// (all of them for -1), and returns the clock it is up to then.
func (j *pgJournal) pull(ctx context.Context, datasets map[string]*dataset, since int64) (int64, error) {
	var now int64
	err := j.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, clockQuery).Scan(&now); err != nil {
			return err
		}
		if now == since {
			return nil
		}
		type change struct {
			row      int64
			name, id string
			created  time.Time
			entries  int
			dropped  bool
		}
		rows, err := tx.Query(ctx, "SELECT id, name, uuid, created, entries, dropped FROM catalog_datasets WHERE changed > $1 AND (NOT dropped OR $1 >= 0) ORDER BY changed", since)
		if err != nil {
			return err
		}
		changes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (change, error) {
			var c change
			err := r.Scan(&c.row, &c.name, &c.id, &c.created, &c.entries, &c.dropped)
			return c, err
		})
		if err != nil {
			return err
		}
		for _, c := range changes {
			d := datasets[c.name]
			switch {
			case c.dropped:
				if d != nil && d.row == c.row {
					delete(datasets, c.name)
				}
				continue
			case d == nil || d.row != c.row:
				d = &dataset{m: &Manifest{ID: c.id, Name: c.name, Created: c.created.UTC()}, row: c.row}
			}
			if err := readEntries(ctx, tx, d, c.entries); err != nil {
				return err
			}
			datasets[c.name] = d
		}
		return nil
	})
	return now, err
}

// readEntries applies to d its entries after those it has, up to number
// upto, in order.
func readEntries(ctx context.Context, q querier, d *dataset, upto int) error {
	switch {
	case upto < d.entries:
		return fmt.Errorf("dataset %q has %d entries in the database, fewer than the %d this node read before (was the database restored from an older backup?)", d.m.Name, upto, d.entries)
	case upto == d.entries:
		return nil
	}
	rows, err := q.Query(ctx, "SELECT seq, layout, keep, add_files, meta FROM catalog_entries WHERE dataset = $1 AND seq > $2 AND seq <= $3 ORDER BY seq", d.row, d.entries, upto)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var layout *int
		var e entry
		var meta []byte
		if err := rows.Scan(&seq, &layout, &e.Keep, &e.Add, &meta); err != nil {
			return err
		}
		if layout != nil {
			e.Layout = *layout
		}
		if meta != nil {
			e.Version = &Version{}
			if err := json.Unmarshal(meta, e.Version); err != nil {
				return fmt.Errorf("entry %d of dataset %q: %w", seq, d.m.Name, err)
			}
		}
		if seq != d.entries+1 {
			return fmt.Errorf("dataset %q lacks entry %d", d.m.Name, d.entries+1)
		}
		s, err := prepare(d, e)
		if err != nil {
			return fmt.Errorf("entry %d of dataset %q: %w", seq, d.m.Name, err)
		}
		s.apply(d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if d.entries != upto {
		return fmt.Errorf("dataset %q has %d entries, its row says %d", d.m.Name, d.entries, upto)
	}
	return nil
}

// insertEntry stores e as entry seq of the dataset of row id.
func insertEntry(ctx context.Context, tx pgx.Tx, row int64, seq int, e entry) error {
	var version, layout *int
	var meta []byte
	if e.Version != nil {
		var err error
		if meta, err = json.Marshal(e.Version); err != nil {
			return err
		}
		version = &e.Version.Version
	} else {
		layout = &e.Layout
	}
	add := e.Add
	if add == nil {
		add = []string{}
	}
	_, err := tx.Exec(ctx, "INSERT INTO catalog_entries (dataset, seq, version, layout, keep, add_files, meta) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		row, seq, version, layout, e.Keep, add, meta)
	return err
}

// tick takes the next number of the clock. Its row stays locked until tx
// ends, so the numbers follow the order in which transactions commit.
func tick(ctx context.Context, tx pgx.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRow(ctx, "UPDATE catalog_clock SET seq = seq + 1 RETURNING seq").Scan(&seq)
	return seq, err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
