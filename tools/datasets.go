package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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
	// Dependents names the datasets whose current version was derived by
	// SQL from dataset name.
	Dependents(name string) []string
}

// Ingester is what the tools need of ingest: loading and dropping datasets.
type Ingester interface {
	Ingest(ctx context.Context, req ingest.Request, progress ingest.Progress) (*ingest.Result, error)
	Drop(ctx context.Context, name string) (*catalog.Manifest, error)
}

// Deriver is what the tools need of the SQL engine, beside SQL, to make a
// dataset from a statement: its whole result as Parquet, and the dataset
// versions it read.
type Deriver interface {
	Derive(ctx context.Context, query string, w io.Writer) (sqlengine.Derived, error)
}

var (
	_ Datasets = (*catalog.Catalog)(nil)
	_ Ingester = (*ingest.Ingester)(nil)
	_ Deriver  = (*sqlengine.Engine)(nil)
)

// maxSampleRows caps get_manifest's sample.
const maxSampleRows = 20

type ingestIn struct {
	Name    string         `json:"name" jsonschema:"[a-z_][a-z0-9_]*; the SQL table name"`
	Source  ingestSource   `json:"source" jsonschema:"exactly one of these"`
	Format  string         `json:"format,omitempty" jsonschema:"csv, tsv, json, ndjson, parquet, arrow"`
	Mode    string         `json:"mode,omitempty" jsonschema:"create, append or replace"`
	Options ingest.Options `json:"options,omitempty"`
}

type ingestSource struct {
	Content   string `json:"content,omitempty"`
	ObjectKey string `json:"object_key,omitempty"`
	Path      string `json:"path,omitempty" jsonschema:"under ingest.allowed_paths"`
	SQL       string `json:"sql,omitempty" jsonschema:"read-only query"`
}

type listDatasetsIn struct {
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty" jsonschema:"default 100, max 1000"`
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
	Name       string `json:"name"`
	Version    int    `json:"version,omitempty"`
	SampleRows int    `json:"sample_rows,omitempty" jsonschema:"up to 20"`
	Sample     string `json:"sample,omitempty" jsonschema:"first or random"`
}

type versionSummary struct {
	Version     int              `json:"version"`
	Mode        string           `json:"mode"`
	Source      string           `json:"source"`
	Format      string           `json:"format"`
	Rows        int64            `json:"rows"`
	AddedRows   int64            `json:"added_rows"`
	Bytes       int64            `json:"bytes"`
	Fingerprint string           `json:"fingerprint"`
	Created     time.Time        `json:"created"`
	Lineage     *catalog.Lineage `json:"lineage,omitempty" jsonschema:"for a version made from source.sql: its statement, the dataset versions it read (name@vN) and a checksum of its rows"`
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
	Lineage     *catalog.Lineage  `json:"lineage,omitempty" jsonschema:"for a version made from source.sql: its statement, the dataset versions it read (name@vN) and a checksum of its rows; refresh_dataset re-runs the statement"`
	Sample      *sqlengine.Result `json:"sample,omitempty"`
}

type dropDatasetIn struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

type refreshDatasetIn struct {
	Name string `json:"name"`
}

type dropDatasetOut struct {
	Name     string `json:"name"`
	Dropped  bool   `json:"dropped"`
	Versions int    `json:"versions_removed"`
}

func datasetTools(b *Backends) []Tool {
	return []Tool{
		define("ingest_dataset",
			"Make a dataset (a table for query_sql) from CSV, TSV, JSON, NDJSON (gzip/zstd too), Parquet or Arrow, inline, as an object or a local file; or from a read-only query's whole result (source.sql; refresh_dataset re-runs it). Each ingest adds a version; old ones are \"name@vN\". Identical data again: unchanged=true.",
			additive("Ingest dataset", true), b.ingestDataset),
		define("list_datasets",
			"List datasets (name, rows, columns, version); page with cursor. Start here.",
			readOnly("List datasets"), b.listDatasets),
		fromOutside(define("get_manifest",
			"Describe a dataset: typed columns, rows, versions with source and lineage, optional sample rows.",
			readOnly("Get dataset manifest"), b.getManifest)),
		define("drop_dataset",
			"Delete a dataset and its versions. Cannot be undone. Refused while others are derived from it, unless force.",
			destructive("Drop dataset"), b.dropDataset),
	}
}

// derivedTools are the tools of datasets made from SQL, beside
// ingest_dataset's source.sql.
func derivedTools(b *Backends) []Tool {
	// refresh_dataset is additive: it adds a version and the one before
	// stays queryable. It is idempotent: a second call with no input changed
	// finds the same result and adds nothing (unchanged=true); only a
	// statement that is itself random (random(), now(), USING SAMPLE) gives
	// a new result each time, as it would for ingest_dataset.
	return []Tool{
		define("refresh_dataset",
			"Re-run the SQL a dataset was made from (source.sql) on its inputs' current versions, adding a version; unchanged=true if the rows are the same.",
			additive("Refresh dataset", true), b.refreshDataset),
	}
}

func (b *Backends) ingestDataset(ctx context.Context, in ingestIn) (*ingest.Result, error) {
	if in.Source.SQL != "" {
		src := in.Source
		switch {
		case src.Content != "" || src.ObjectKey != "" || src.Path != "":
			return nil, errs.New(errs.Invalid, "give exactly one source: content, object_key, path or sql; got sql and another")
		case in.Format != "" && !strings.EqualFold(in.Format, "parquet") && !strings.EqualFold(in.Format, "auto"):
			return nil, errs.New(errs.Invalid, "format does not apply to source.sql, whose rows keep the types the statement gives them; leave format out")
		case !optionsEmpty(in.Options):
			return nil, errs.New(errs.Invalid, "options do not apply to source.sql: choose, rename and cast columns in the statement itself, e.g. SELECT a AS b, c::DATE AS c FROM t")
		}
		return b.derive(ctx, in.Name, in.Mode, src.SQL)
	}
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

// errIngestEnded stops an export whose ingest no longer reads it.
var errIngestEnded = errors.New("the ingest ended")

// derive makes dataset name, in mode, from the whole result of the
// read-only statement query. The SQL engine writes the result as Parquet
// into a pipe that the ingest reads as its source, so no row passes
// through here and memory does not grow with the rows. The version
// records the statement and the dataset versions it read, which the
// engine tells once the result is written: they are filled into the
// request's lineage before the pipe is closed, and the ingest reads them
// only after it has read the pipe to its end.
func (b *Backends) derive(ctx context.Context, name, mode, query string) (*ingest.Result, error) {
	d, ok := b.SQL.(Deriver)
	if !ok {
		return nil, errs.New(errs.Invalid, "this server's SQL engine cannot make datasets from SQL")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lineage := &catalog.Lineage{SQL: query, Inputs: []string{}}
	pr, pw := io.Pipe()
	derived := make(chan error, 1)
	go func() {
		res, err := d.Derive(ctx, query, pw)
		if err == nil {
			lineage.Inputs = pins(res)
		}
		pw.CloseWithError(err) // nil: the ingest reads to the end
		derived <- err
	}()
	res, err := b.Ingest.Ingest(ctx, ingest.Request{Name: name, Body: pr, Format: "parquet", Mode: mode, Lineage: lineage}, progressOf(ctx))
	pr.CloseWithError(errIngestEnded)
	if err != nil {
		cancel() // a statement still running has no reader any more
	}
	// The engine's own error (a refused statement, a query DuckDB
	// rejects) says more than the ingest's failure to read the pipe.
	if derr := <-derived; derr != nil && !errors.Is(derr, errIngestEnded) && !errors.Is(derr, context.Canceled) {
		return nil, derr
	}
	return res, err
}

// pins lists the dataset versions d read as "name@vN", sorted, each once.
func pins(d sqlengine.Derived) []string {
	out := make([]string, 0, len(d.Inputs))
	for i, in := range d.Inputs {
		in.Version = d.Pinned[i]
		if t := in.Table(); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func (b *Backends) refreshDataset(ctx context.Context, in refreshDatasetIn) (*ingest.Result, error) {
	m, err := b.Catalog.Get(in.Name)
	if err != nil {
		return nil, err
	}
	cur := m.Current()
	switch {
	case cur.Lineage == nil:
		return nil, errs.New(errs.Invalid, "dataset %q was not made from SQL (its version %d came from %s), so there is no statement to re-run; ingest it again, or make it with ingest_dataset source.sql to refresh it later", in.Name, cur.Version, cur.Source)
	case cur.Mode == ingest.ModeAppend:
		return nil, errs.New(errs.Invalid, "version %d of %q appended the result of its statement to the rows before it, and re-running that statement would replace them all; to make %q refreshable, ingest_dataset it with mode replace and source.sql a statement that gives all its rows (e.g. with UNION ALL)", cur.Version, in.Name, in.Name)
	}
	return b.derive(ctx, in.Name, ingest.ModeReplace, cur.Lineage.SQL)
}

// optionsEmpty reports whether no reading option is set.
func optionsEmpty(o ingest.Options) bool {
	return o.Delimiter == "" && o.Header == nil && o.Quote == "" && len(o.NullStrings) == 0 && len(o.Types) == 0 &&
		len(o.Columns) == 0 && o.DateFormat == "" && o.TimestampFormat == ""
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
	sample := strings.ToLower(in.Sample)
	if sample != "" && sample != "first" && sample != "random" {
		return nil, errs.New(errs.Invalid, "sample %q is not a kind of sample: use first (the first rows, the default) or random", in.Sample)
	}
	out := &manifestOut{
		ID: m.ID, Name: m.Name, Version: v.Version, Current: cur.Version, Table: m.Name,
		Columns: v.Columns, Rows: v.Rows, Bytes: v.Bytes, Fingerprint: v.Fingerprint(), Files: v.Files,
		Created: m.Created, Updated: m.Updated, Lineage: v.Lineage,
	}
	if v != cur {
		out.Table = fmt.Sprintf("%q", fmt.Sprintf("%s@v%d", m.Name, v.Version))
	}
	for _, pv := range m.Versions {
		out.Versions = append(out.Versions, versionSummary{
			Version: pv.Version, Mode: pv.Mode, Source: pv.Source, Format: pv.Format, Rows: pv.Rows,
			AddedRows: pv.AddedRows, Bytes: pv.Bytes, Fingerprint: pv.Fingerprint(), Created: pv.Created, Lineage: pv.Lineage,
		})
	}
	if in.SampleRows > 0 {
		q := fmt.Sprintf("SELECT * FROM %s LIMIT %d", out.Table, in.SampleRows)
		if sample == "random" {
			// A fixed number of rows is a reservoir sample: every row of
			// the version is as likely to be drawn.
			q = fmt.Sprintf("SELECT * FROM %s USING SAMPLE %d ROWS", out.Table, in.SampleRows)
		}
		if out.Sample, err = b.SQL.Query(ctx, q, in.SampleRows); err != nil {
			return nil, err
		}
		sqlengine.CutCells(out.Sample.Rows, MaxCell)
	}
	return out, nil
}

func (b *Backends) dropDataset(ctx context.Context, in dropDatasetIn) (dropDatasetOut, error) {
	if deps := b.Catalog.Dependents(in.Name); len(deps) > 0 && !in.Force {
		return dropDatasetOut{}, errs.New(errs.Conflict, "dataset %q is an input of the current version of %s, made from SQL that reads it; refresh_dataset on %s would fail once %q is gone. Drop %s first, or call drop_dataset again with force: true (what was derived keeps its rows)",
			in.Name, quoteJoin(deps), them(deps), in.Name, them(deps))
	}
	m, err := b.Ingest.Drop(ctx, in.Name)
	if err != nil {
		return dropDatasetOut{}, err
	}
	return dropDatasetOut{Name: m.Name, Dropped: true, Versions: len(m.Versions)}, nil
}

// quoteJoin lists names quoted: "a", "b" and "c".
func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// them refers to names: "it" for one, "them" for more.
func them(names []string) string {
	if len(names) == 1 {
		return "it"
	}
	return "them"
}
