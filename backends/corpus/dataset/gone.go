package dataset

// Rows gone from a dataset leave its index.
//
// A vector index cannot list its ids, so runs keep a record of what they
// index: the object RecordPrefix + "<index>/<dataset>.json" in the store
// lists the selections (a spec's ids, text and where clause, and a version)
// whose rows the index may hold. A run adds its own selection to the record
// before it writes an item, so a run that fails or is cancelled part-way
// stays on record. Once it has indexed every row, it reads each earlier
// selection again (ids only, in one ordered pass like its own), deletes the
// ids it did not index itself, and leaves only its own selection on record.
//
// An earlier selection is not read when its rows cannot have gone: the same
// selection of the same version, or of an older version followed only by
// appends (rows are only added, and a repeat's number counts from the top).
// While earlier selections are to be read, the run keeps the ids it indexed
// in memory (some 50 bytes an id: 50 MB at 1M rows). A run's first record is
// its own; items that runs from before records existed left stay until the
// index is rebuilt.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
)

// RecordPrefix is the store's folder of index records; a system area.
const RecordPrefix = "_corpora/"

// maxRecordBytes caps the size of a record read back.
const maxRecordBytes = 1 << 20

// A Store keeps the records of what each index holds: a *store.FS.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (store.Info, error)
	Get(ctx context.Context, key string) (io.ReadCloser, store.Info, error)
}

// record is what an index may hold of one dataset.
type record struct {
	Selections []selection `json:"selections"`
}

// selection is what decides the ids of a run's rows.
type selection struct {
	Version      int      `json:"version"`
	IDColumn     string   `json:"id_column,omitempty"`
	TextColumns  []string `json:"text_columns,omitempty"`
	TextTemplate string   `json:"text_template,omitempty"`
	Where        string   `json:"where,omitempty"`
}

func selectionOf(p *Plan) selection {
	return selection{Version: p.Version, IDColumn: p.IDColumn, TextColumns: p.TextColumns, TextTemplate: p.TextTemplate, Where: p.Where}
}

// sameRows reports whether s and t select rows alike, whatever the version.
func (s selection) sameRows(t selection) bool {
	s.Version, t.Version = 0, 0
	return s.IDColumn == t.IDColumn && slices.Equal(s.TextColumns, t.TextColumns) && s.TextTemplate == t.TextTemplate && s.Where == t.Where
}

func recordKey(index, dataset string) string { return RecordPrefix + index + "/" + dataset + ".json" }

// begin puts p on the record of index and returns the earlier selections on
// it whose rows may be gone from p.
func (x *Indexer) begin(ctx context.Context, p *Plan, index string) ([]selection, error) {
	rec, err := x.readRecord(ctx, index, p.Dataset)
	if err != nil {
		return nil, err
	}
	m, err := x.Catalog.Get(p.Dataset)
	if err != nil {
		return nil, err
	}
	cur := selectionOf(p)
	var earlier []selection
	for _, s := range rec.Selections {
		if !(s.sameRows(cur) && appendsOnly(m, s.Version, cur.Version)) {
			earlier = append(earlier, s)
		}
	}
	return earlier, x.writeRecord(ctx, index, p.Dataset, record{Selections: append(slices.Clone(earlier), cur)})
}

// appendsOnly reports whether every version of m after from, up to to, only
// appended rows.
func appendsOnly(m *catalog.Manifest, from, to int) bool {
	for _, v := range m.Versions {
		if v.Version > from && v.Version <= to && v.Mode != "append" {
			return false
		}
	}
	return from <= to
}

// finish leaves only p on the record of index.
func (x *Indexer) finish(ctx context.Context, p *Plan, index string) error {
	return x.writeRecord(ctx, index, p.Dataset, record{Selections: []selection{selectionOf(p)}})
}

// deleteGone deletes from index the ids of the rows of the earlier
// selections of dataset that are not in kept, and returns how many it
// deleted. A selection whose version no longer exists is passed over.
func (x *Indexer) deleteGone(ctx context.Context, dataset string, earlier []selection, index string, kept map[string]bool) (int, error) {
	if len(earlier) == 0 {
		return 0, nil
	}
	m, err := x.Catalog.Get(dataset)
	if err != nil {
		return 0, err
	}
	deleted := 0
	var batch []string
	flush := func() error {
		n, err := x.Vectors.Delete(ctx, index, batch)
		deleted += n
		batch = batch[:0]
		return err
	}
	for _, s := range earlier {
		v := m.Version(s.Version)
		if v == nil {
			continue
		}
		p, err := x.plan(ctx, Spec{Dataset: dataset, IDColumn: s.IDColumn, TextColumns: s.TextColumns, TextTemplate: s.TextTemplate, Where: s.Where}, v)
		if err != nil {
			return deleted, fmt.Errorf("read the rows indexed from version %d: %w", s.Version, err)
		}
		ids := newRowIDs(p)
		err = x.scan(ctx, p, false, func(rows [][]any) error {
			for _, row := range rows {
				if id, ok := ids.next(row); ok && !kept[id] {
					if batch = append(batch, id); len(batch) == vector.MaxBatch {
						if err := flush(); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}, nil)
		p.Close()
		if err != nil {
			return deleted, err
		}
	}
	if len(batch) > 0 {
		return deleted, flush()
	}
	return deleted, nil
}

func (x *Indexer) readRecord(ctx context.Context, index, dataset string) (record, error) {
	var rec record
	r, _, err := x.Records.Get(ctx, recordKey(index, dataset))
	if errors.Is(err, errs.NotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read the record of index %s: %w", index, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxRecordBytes))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return rec, fmt.Errorf("read the record of index %s: %w", index, err)
	}
	return rec, nil
}

func (x *Indexer) writeRecord(ctx context.Context, index, dataset string, rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := x.Records.Put(ctx, recordKey(index, dataset), bytes.NewReader(b), "application/json", maxRecordBytes); err != nil {
		return fmt.Errorf("record what index %s holds: %w", index, err)
	}
	return nil
}
