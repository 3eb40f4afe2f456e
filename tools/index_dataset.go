package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"lakehouse/backends/corpus/dataset"
	"lakehouse/backends/errs"
	"lakehouse/backends/vector"
)

type indexDatasetIn struct {
	Dataset         string   `json:"dataset"`
	TextColumn      string   `json:"text_column,omitempty"`
	TextColumns     []string `json:"text_columns,omitempty"`
	TextTemplate    string   `json:"text_template,omitempty" jsonschema:"e.g. {Title} ({Year})"`
	IDColumn        string   `json:"id_column,omitempty" jsonschema:"unique; default a row hash"`
	MetadataColumns []string `json:"metadata_columns,omitempty"`
	Where           string   `json:"where,omitempty" jsonschema:"SQL, e.g. lang = 'en'"`
	Index           string   `json:"index,omitempty"`
}

type indexDatasetOut struct {
	Index      string   `json:"index"`
	Dataset    string   `json:"dataset"`
	Version    int      `json:"version" jsonschema:"dataset version that was read (all rows come from it, even if an ingest lands meanwhile)"`
	Created    bool     `json:"created" jsonschema:"the index did not exist and was created"`
	Rows       int64    `json:"rows" jsonschema:"rows selected"`
	Embedded   int      `json:"embedded" jsonschema:"rows whose text was new or changed, and so embedded"`
	Updated    int      `json:"metadata_updated" jsonschema:"rows whose text was unchanged but metadata changed"`
	Unchanged  int      `json:"unchanged" jsonschema:"rows already indexed as they are"`
	Skipped    int64    `json:"skipped" jsonschema:"rows with a null or over-long (256 bytes) id, or a null, blank or over-long (1 MiB) text"`
	Refused    int      `json:"refused,omitempty" jsonschema:"rows whose text the embedder refused (no words in it, say); they are left out of the index"`
	RefusedIDs []string `json:"refused_ids,omitempty" jsonschema:"ids of the first refused rows"`
	Deleted    int      `json:"deleted" jsonschema:"items of rows that earlier runs indexed and that are no longer in the dataset or no longer selected, now removed"`
	Count      int      `json:"count" jsonschema:"items in the index now"`
	ElapsedMS  int64    `json:"elapsed_ms"`
}

func (b *Backends) indexDataset(ctx context.Context, in indexDatasetIn) (*indexDatasetOut, error) {
	start := time.Now()
	spec := dataset.Spec{
		Dataset: in.Dataset, IDColumn: in.IDColumn, TextColumns: in.TextColumns, TextTemplate: in.TextTemplate,
		MetadataColumns: in.MetadataColumns, Where: in.Where,
	}
	if in.TextColumn != "" {
		if len(in.TextColumns) > 0 {
			return nil, errs.New(errs.Invalid, "give text_column or text_columns, not both")
		}
		spec.TextColumns = []string{in.TextColumn}
	}
	x := &dataset.Indexer{Catalog: b.Catalog, Views: b.Views, SQL: b.SQL, Vectors: b.Vectors, Embed: b.Embed, Records: b.Store}
	// Planning checks the columns, the where clause and the ids before
	// anything is created.
	plan, err := x.Plan(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer plan.Close()
	out := &indexDatasetOut{Index: cmp.Or(in.Index, in.Dataset), Dataset: in.Dataset, Version: plan.Version}
	info, err := b.Vectors.Info(out.Index)
	if errors.Is(err, errs.NotFound) {
		var created *vector.IndexInfo
		created, err = b.createIndex(ctx, createIndexIn{Name: out.Index})
		if created != nil {
			info = *created
		}
		out.Created = err == nil
	}
	if err != nil {
		return nil, err
	}
	if err := b.checkModel(info); err != nil {
		return nil, err
	}
	res, err := x.Run(ctx, plan, out.Index, rowProgress(ctx))
	if err != nil {
		return nil, err
	}
	out.Rows, out.Skipped, out.Embedded, out.Updated, out.Unchanged = res.Rows, res.Skipped, res.Embedded, res.Updated, res.Unchanged
	out.Refused, out.RefusedIDs, out.Deleted = res.Refused, res.RefusedIDs, res.Deleted
	out.Count = b.count(out.Index)
	out.ElapsedMS = time.Since(start).Milliseconds()
	return out, nil
}

// views are b.Views, or else the views ingest makes of the catalog and
// store engines.
// rowProgress reports to the caller, with the total, after each page of
// rows, when the call asked for progress.
func rowProgress(ctx context.Context) dataset.Progress {
	p := progressFrom(ctx)
	if p == nil {
		return nil
	}
	return func(done, total int64) {
		p(float64(done), float64(total), fmt.Sprintf("%d of %d rows read", done, total))
	}
}
