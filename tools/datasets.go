package tools

import (
	"context"
	"fmt"
	"time"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
)

// Datasets is what the tools need of the dataset catalog.
type Datasets interface {
	Damaged() []string
	Get(name string) (*catalog.Manifest, error)
	List() []*catalog.Manifest
}

// Ingester is what the tools need of ingest: loading and dropping datasets.
type Ingester interface {
	Ingest(ctx context.Context, req ingest.Request, progress ingest.Progress) (*ingest.Result, error)
	Drop(ctx context.Context, name string) (*catalog.Manifest, error)
}

var (
	_ Datasets = (*catalog.Catalog)(nil)
	_ Ingester = (*ingest.Ingester)(nil)
)

// maxSampleRows caps get_manifest's sample.
const maxSampleRows = 20

type ingestIn struct {
	Name    string         `json:"name" jsonschema:"dataset name: lowercase letters, digits and _, starting with a letter or _; becomes the SQL table name"`
	Source  ingestSource   `json:"source" jsonschema:"where the data comes from: exactly one of content, object_key, path"`
	Format  string         `json:"format,omitempty" jsonschema:"auto (default: by its bytes, then extension, then content), csv, tsv, json, ndjson, parquet or arrow"`
	Mode    string         `json:"mode,omitempty" jsonschema:"create (default; fails if the dataset exists), append (same schema), or replace"`
	Options ingest.Options `json:"options,omitempty" jsonschema:"how to read the data; DuckDB detects whatever is not set"`
}

type ingestSource struct {
	Content   string `json:"content,omitempty" jsonschema:"the data itself, as text"`
	ObjectKey string `json:"object_key,omitempty" jsonschema:"key of an object stored with put_object"`
	Path      string `json:"path,omitempty" jsonschema:"absolute path of a local file under ingest.allowed_paths (off by default)"`
}

type listDatasetsIn struct {
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	Limit  int    `json:"limit,omitempty" jsonschema:"page size, default 100, at most 1000"`
}

type datasetSummary struct {
	Name      string    `json:"name"`
	Rows      int64     `json:"rows"`
	Columns   int       `json:"column_count"`
	Version   int       `json:"current_version"`
	UpdatedAt time.Time `json:"updated_at"`
}

type listDatasetsOut struct {
	Datasets   []datasetSummary `json:"datasets"`
	NextCursor string           `json:"next_cursor,omitempty"`
	Truncated  bool             `json:"truncated"`
	Damaged    []string         `json:"damaged_manifests,omitempty"`
}

type getManifestIn struct {
	Name       string `json:"name" jsonschema:"dataset name"`
	Version    int    `json:"version,omitempty" jsonschema:"version to describe; default the current one"`
	SampleRows int    `json:"sample_rows,omitempty" jsonschema:"include up to this many rows of the version (at most 20)"`
}

type versionSummary struct {
	Version     int       `json:"version"`
	Mode        string    `json:"mode"`
	Source      string    `json:"source"`
	Format      string    `json:"format"`
	Rows        int64     `json:"rows"`
	AddedRows   int64     `json:"added_rows"`
	Bytes       int64     `json:"bytes"`
	Fingerprint string    `json:"fingerprint"`
	Created     time.Time `json:"created"`
}

type manifestOut struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Version     int               `json:"version"`
	Current     int               `json:"current_version"`
	Table       string            `json:"table" jsonschema:"the name to use in query_sql for this version"`
	Columns     []catalog.Column  `json:"columns"`
	Rows        int64             `json:"rows"`
	Bytes       int64             `json:"bytes"`
	Fingerprint string            `json:"fingerprint"`
	Files       []string          `json:"files"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	Versions    []versionSummary  `json:"versions"`
	Sample      *sqlengine.Result `json:"sample,omitempty"`
}

type dropDatasetIn struct {
	Name string `json:"name" jsonschema:"dataset name"`
}

type dropDatasetOut struct {
	Name     string `json:"name"`
	Dropped  bool   `json:"dropped"`
	Versions int    `json:"versions_removed"`
}

func datasetTools(b *Backends) []Tool {
	return []Tool{
		define("ingest_dataset",
			"Load CSV, TSV, JSON, NDJSON (each also gzip- or zstd-compressed), Parquet or Arrow IPC into a dataset you can query with query_sql. source is exactly one of content (inline text), object_key (an object put earlier) or path (a local file, if allowed). mode: create (new dataset), append (adds rows; the schema must match), replace (new contents). Every ingest makes a new version; older versions stay queryable as \"name@vN\". Re-sending byte-identical data is a no-op that returns unchanged=true. options set column types, keep or rename columns, and parse text dates. Returns rows, columns with DuckDB types, version, bytes, and widened: columns whose mixed values were stored as text, and why.",
			additive("Ingest dataset", true), b.ingestDataset),
		define("list_datasets",
			"List datasets: name, rows, column count, current version, last update. Start here to see what data exists; then get_manifest for a schema or query_sql to read it.",
			readOnly("List datasets"), b.listDatasets),
		define("get_manifest",
			"Describe one dataset: id, schema (columns and DuckDB types), row count, bytes, schema fingerprint, and every version with its source, mode, rows and time. version picks a past version; sample_rows (<= 20) adds example rows.",
			readOnly("Get dataset manifest"), b.getManifest),
		define("drop_dataset",
			"Delete a dataset with all its versions and files. Cannot be undone.",
			destructive("Drop dataset"), b.dropDataset),
	}
}

func (b *Backends) ingestDataset(ctx context.Context, in ingestIn) (*ingest.Result, error) {
	if max := b.maxObjectBytes(); int64(len(in.Source.Content)) > max {
		return nil, errs.New(errs.TooLarge, "content is %d bytes, over the %d-byte cap (objects.max_bytes); ingest a large file from a path under ingest.allowed_paths instead", len(in.Source.Content), max)
	}
	return b.Ingest.Ingest(ctx, ingest.Request{
		Name: in.Name, Content: in.Source.Content, ObjectKey: in.Source.ObjectKey, Path: in.Source.Path,
		Format: in.Format, Mode: in.Mode, Options: in.Options,
	}, progressOf(ctx))
}

// progressOf returns the ingest Progress that reports to the caller, or nil
// when the caller did not ask for progress.
func progressOf(ctx context.Context) ingest.Progress {
	p := progressFrom(ctx)
	if p == nil {
		return nil
	}
	return func(step float64, message string) { p(step, 0, message) }
}

func (b *Backends) listDatasets(ctx context.Context, in listDatasetsIn) (listDatasetsOut, error) {
	limit, err := pageLimit(in.Limit)
	if err != nil {
		return listDatasetsOut{}, err
	}
	out := listDatasetsOut{Datasets: []datasetSummary{}, Damaged: b.Catalog.Damaged()}
	for _, m := range b.Catalog.List() {
		if m.Name <= in.Cursor {
			continue
		}
		if len(out.Datasets) == limit {
			out.Truncated = true
			out.NextCursor = out.Datasets[limit-1].Name
			break
		}
		v := m.Current()
		out.Datasets = append(out.Datasets, datasetSummary{Name: m.Name, Rows: v.Rows, Columns: len(v.Columns), Version: v.Version, UpdatedAt: m.Updated})
	}
	return out, nil
}

func (b *Backends) getManifest(ctx context.Context, in getManifestIn) (*manifestOut, error) {
	m, err := b.Catalog.Get(in.Name)
	if err != nil {
		return nil, err
	}
	cur := m.Current()
	v := cur
	if in.Version != 0 {
		if v = m.Version(in.Version); v == nil {
			return nil, errs.New(errs.NotFound, "dataset %q has no version %d; its versions are 1 to %d", in.Name, in.Version, cur.Version)
		}
	}
	if in.SampleRows < 0 || in.SampleRows > maxSampleRows {
		return nil, errs.New(errs.Invalid, "sample_rows must be between 0 and %d; use query_sql for more rows", maxSampleRows)
	}
	out := &manifestOut{
		ID: m.ID, Name: m.Name, Version: v.Version, Current: cur.Version, Table: m.Name,
		Columns: v.Columns, Rows: v.Rows, Bytes: v.Bytes, Fingerprint: v.Fingerprint(), Files: v.Files,
		Created: m.Created, Updated: m.Updated,
	}
	if v != cur {
		out.Table = fmt.Sprintf("%q", fmt.Sprintf("%s@v%d", m.Name, v.Version))
	}
	for _, pv := range m.Versions {
		out.Versions = append(out.Versions, versionSummary{
			Version: pv.Version, Mode: pv.Mode, Source: pv.Source, Format: pv.Format, Rows: pv.Rows,
			AddedRows: pv.AddedRows, Bytes: pv.Bytes, Fingerprint: pv.Fingerprint(), Created: pv.Created,
		})
	}
	if in.SampleRows > 0 {
		if out.Sample, err = b.SQL.Query(ctx, fmt.Sprintf("SELECT * FROM %s LIMIT %d", out.Table, in.SampleRows), in.SampleRows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *Backends) dropDataset(ctx context.Context, in dropDatasetIn) (dropDatasetOut, error) {
	m, err := b.Ingest.Drop(ctx, in.Name)
	if err != nil {
		return dropDatasetOut{}, err
	}
	return dropDatasetOut{Name: m.Name, Dropped: true, Versions: len(m.Versions)}, nil
}
