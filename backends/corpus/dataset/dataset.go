// Package dataset fills a vector index from a dataset: every selected row of
// one version becomes an item, its id from a column or from the row's
// content, its text from columns or a template, chosen columns as metadata.
//
// Design notes:
//
//   - One pinned version. [Indexer.Plan] takes the dataset's current version
//     number from the catalog and the Parquet files behind "name@vN" from the
//     SQL engine's views. A version's rows never change and the catalog
//     deletes no file a version reads while the dataset lives (a relayout
//     leaves the old files), so an ingest landing mid-run makes a new
//     version that this run never sees.
//   - One ordered pass. Rows are read file by file in pages of
//     vector.MaxBatch by DuckDB's file_row_number, which the Parquet reader
//     turns into a row-group range: each page costs its own rows, not a scan
//     and sort of the whole selection, and memory holds one page.
//   - Ids. An id column's values are the ids and must be unique. Without one,
//     a row's id is the first 16 hex digits of the MD5 of the row as JSON
//     (all its columns), so it stays the same while the row does; the n-th
//     repeat (n >= 2) of an equal row gets "-n" appended, in row order. Only
//     the keys that repeat are kept in memory to count them.
//   - Only what changed is embedded. A page is compared with what the index
//     holds for its ids: equal text and metadata are left alone, equal text
//     with new metadata keeps its vector, and only new or changed texts go
//     to the embedder ([corpus.Sync], which the pathway memory's trace
//     index shares).
//   - Rows gone leave. Each run keeps a record of what it indexed and, once
//     done, deletes what earlier runs indexed and it did not (gone.go).
package dataset

import (
	"context"
	"fmt"
	"strings"

	"lakehouse/backends/catalog"
	"lakehouse/backends/corpus"
	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/vector"
)

// PageRows is how many rows a run reads, embeds and upserts at a time: one
// progress step, and the most work a cancellation can waste.
const PageRows = vector.MaxBatch

// MaxRefusedIDs is how many ids of refused rows a [Result] lists.
const MaxRefusedIDs = 10

// Catalog is what an Indexer needs of the catalog.
type Catalog interface {
	Get(name string) (*catalog.Manifest, error)
}

// Querier runs read-only SQL: a *sqlengine.Engine.
type Querier interface {
	Query(ctx context.Context, query string, maxRows int) (*sqlengine.Result, error)
}

// An Indexer fills vector indexes from datasets. Every field is required.
type Indexer struct {
	Catalog Catalog
	Views   sqlengine.Catalog // the Parquet files behind each "name@vN"
	SQL     Querier
	Vectors corpus.Index
	Embed   embed.Batcher
	Records Store // where each run records what it indexed, to find the rows gone by the next

	// afterPage, when set, runs after each page is indexed: tests land an
	// ingest mid-run through it.
	afterPage func()
}

// Spec says which rows of a dataset to index and how.
type Spec struct {
	Dataset string
	// IDColumn names the column whose values are the item ids; "" derives
	// each id from the row's content (see the package doc).
	IDColumn string
	// TextColumns are joined, one per line, into the text that is embedded;
	// TextTemplate instead places columns in a text, as in
	// "{Title} ({Year})" ("{{" and "}}" for braces). Exactly one is given.
	TextColumns  []string
	TextTemplate string
	// MetadataColumns are stored with each item, to filter searches on.
	MetadataColumns []string
	// Where is a SQL condition choosing the rows; "" takes them all.
	Where string
}

// A Plan is a checked [Spec] pinned to one version of its dataset.
type Plan struct {
	Spec
	Version int   // the version read
	Total   int64 // rows in that version, before Where

	files   []string // absolute paths, in row order
	release func()   // of the files, held local (see Close)
	id      string   // SQL of the id (or content key) of a row
	text    string   // SQL of the text of a row
	repeats map[string]bool
}

// Progress is told, after each page, how many of the version's rows have
// been read.
type Progress func(done, total int64)

// Result counts what a run did with the rows.
type Result struct {
	Rows       int64    // rows selected
	Skipped    int64    // rows with a null or over-long id, or a blank or over-long text
	Embedded   int      // rows whose text was new or changed, and so embedded
	Updated    int      // rows whose text was unchanged but metadata changed
	Unchanged  int      // rows already indexed as they are
	Refused    int      // rows whose text the embedder refused; left out of the index
	RefusedIDs []string // ids of the first MaxRefusedIDs refused rows
	Deleted    int      // items of rows earlier runs indexed that are gone from the selection
}

// Plan checks spec against the current version of its dataset and pins that
// version. A caller's mistake (unknown dataset or column, a bad template or
// where clause, a repeated id) is an errs.Invalid or errs.NotFound error.
func (x *Indexer) Plan(ctx context.Context, spec Spec) (*Plan, error) {
	m, err := x.Catalog.Get(spec.Dataset)
	if err != nil {
		return nil, err
	}
	return x.plan(ctx, spec, m.Current())
}

// plan checks spec against version v of its dataset and pins v.
func (x *Indexer) plan(ctx context.Context, spec Spec, v *catalog.Version) (_ *Plan, err error) {
	p := &Plan{Spec: spec, Version: v.Version, Total: v.Rows}
	if p.files, p.release, err = x.files(ctx, spec.Dataset, v.Version); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.text, err = textSQL(spec, v.Columns); err != nil {
		return nil, err
	}
	types := columnTypes(v.Columns)
	for _, c := range append([]string{spec.IDColumn}, spec.MetadataColumns...) {
		if _, ok := types[c]; c != "" && !ok {
			return nil, unknownColumn(spec.Dataset, c, v.Columns)
		}
	}
	if spec.IDColumn != "" {
		p.id = cellText(spec.IDColumn, types[spec.IDColumn])
		// Counting repeats also checks the where clause, before the caller
		// creates anything.
		if err := x.checkUnique(ctx, p); err != nil {
			return nil, err
		}
		return p, nil
	}
	p.id = "left(md5(CAST(to_json(" + rowAlias + ") AS VARCHAR)), 16)"
	if p.repeats, err = x.repeatedKeys(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// files returns the Parquet files of version n of dataset name, and the
// release of their hold: over a [sqlengine.Fetcher] (the files of shared
// mode, in a bucket), they are fetched and stay local until then.
func (x *Indexer) files(ctx context.Context, name string, n int) ([]string, func(), error) {
	view := fmt.Sprintf("%s@v%d", name, n)
	_, views := x.Views.Views()
	for _, v := range views {
		if v.Name != view {
			continue
		}
		release := func() {}
		if f, ok := x.Views.(sqlengine.Fetcher); ok {
			var err error
			if release, err = f.Fetch(ctx, []sqlengine.View{v}); err != nil {
				return nil, nil, err
			}
		}
		return v.Files, release, nil
	}
	return nil, nil, errs.New(errs.NotFound, "dataset %q has no files for version %d; it may have been dropped meanwhile", name, n)
}

// Close releases the files the plan reads; Run needs them, so call it
// after. A second call does nothing.
func (p *Plan) Close() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

func columnTypes(cols []catalog.Column) map[string]string {
	types := make(map[string]string, len(cols))
	for _, c := range cols {
		types[c.Name] = c.Type
	}
	return types
}

func unknownColumn(dataset, col string, cols []catalog.Column) error {
	return errs.New(errs.Invalid, "dataset %s has no column %q; its columns are %s", dataset, col, columnList(cols))
}

func columnList(cols []catalog.Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// rowAlias names the row in the SQL of a plan, for the content key.
const rowAlias = "__row"

// cellText is the SQL of a column's value as text. A JSON string is its
// plain text, without quotes or escapes, and a JSON null is null; other
// JSON values and every other type are DuckDB's text of the value.
func cellText(col, typ string) string {
	c := sqlengine.QuoteIdent(col)
	if strings.EqualFold(typ, "JSON") {
		return "CASE json_type(" + c + ") WHEN 'VARCHAR' THEN " + c + "->>'$' WHEN 'NULL' THEN NULL ELSE CAST(" + c + " AS VARCHAR) END"
	}
	return "CAST(" + c + " AS VARCHAR)"
}

// usable holds for rows whose id and text the index can hold, with
// something in the text.
var usable = fmt.Sprintf("__id IS NOT NULL AND strlen(__id) <= %d AND trim(__text) <> '' AND strlen(__text) <= %d", vector.MaxID, vector.MaxText)

// selectSQL selects __id, __text and then the metadata columns of the rows
// of files that pass the plan's where clause and the extra condition cond
// ("" for none), with __pos, the row's number in its file.
func (p *Plan) selectSQL(files []string, cond string) string {
	var sb strings.Builder
	sb.WriteString("SELECT file_row_number AS __pos, " + p.id + " AS __id, " + p.text + " AS __text")
	for _, c := range p.MetadataColumns {
		sb.WriteString(", " + sqlengine.QuoteIdent(c))
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = sqlengine.QuoteString(f)
	}
	// The files have a line of their own, so that DuckDB's pointer to an
	// error in the where clause (its "LINE n:" excerpt) shows no server path.
	sb.WriteString("\nFROM read_parquet([" + strings.Join(quoted, ", ") + "]) AS " + rowAlias + "\n")
	var where []string
	if cond != "" {
		where = append(where, cond)
	}
	if p.Where != "" {
		where = append(where, "("+p.Where+"\n)")
	}
	if len(where) > 0 {
		sb.WriteString("WHERE " + strings.Join(where, " AND "))
	}
	return sb.String()
}

// checkUnique refuses an id column with repeated values among the usable
// rows: each id is one item, so all but one of its rows would be lost.
func (x *Indexer) checkUnique(ctx context.Context, p *Plan) error {
	res, err := x.SQL.Query(ctx, "SELECT __id, count(*) AS n, count(*) OVER () FROM ("+p.selectSQL(p.files, "")+") WHERE "+usable+
		" GROUP BY __id HAVING count(*) > 1 ORDER BY n DESC, __id LIMIT 3", 3)
	if err != nil {
		return fmt.Errorf("check the ids: %w", err)
	}
	if len(res.Rows) == 0 {
		return nil
	}
	examples := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		examples[i] = fmt.Sprintf("%q (%d rows)", r[0], toInt64(r[1]))
	}
	return errs.New(errs.Invalid, "id_column %s is not unique: %s, e.g. %s; each id is one item, so choose a unique column, narrow the rows with where, or leave id_column out to key rows by their content",
		p.IDColumn, plural(toInt64(res.Rows[0][2]), "id repeats", "ids repeat"), strings.Join(examples, ", "))
}

// repeatedKeys returns the content keys that more than one usable row has.
func (x *Indexer) repeatedKeys(ctx context.Context, p *Plan) (map[string]bool, error) {
	res, err := x.SQL.Query(ctx, "SELECT __id FROM ("+p.selectSQL(p.files, "")+") WHERE "+usable+
		" GROUP BY __id HAVING count(*) > 1", int(max(p.Total, 1)))
	if err != nil {
		return nil, fmt.Errorf("find repeated rows: %w", err)
	}
	keys := make(map[string]bool, len(res.Rows))
	for _, r := range res.Rows {
		keys[r[0].(string)] = true
	}
	return keys, nil
}

// plural renders n with the phrase for one or for many.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Run indexes the rows of p into the index named index, which must exist and
// embed with x.Embed's model, and then deletes from it the rows that earlier
// runs of p's dataset into index put there and p no longer selects (see
// gone.go). Rows done before a failure or cancellation stay indexed.
func (x *Indexer) Run(ctx context.Context, p *Plan, index string, progress Progress) (*Result, error) {
	out := &Result{}
	earlier, err := x.begin(ctx, p, index)
	if err != nil {
		return out, err
	}
	var kept map[string]bool // ids p selects, when earlier runs may have left others
	if len(earlier) > 0 {
		kept = map[string]bool{}
	}
	ids := newRowIDs(p)
	err = x.scan(ctx, p, true, func(rows [][]any) error {
		out.Rows += int64(len(rows))
		items := make([]vector.Item, 0, len(rows))
		for _, row := range rows {
			id, ok := ids.next(row)
			if !ok {
				out.Skipped++
				continue
			}
			if kept != nil {
				kept[id] = true
			}
			it := vector.Item{ID: id, Text: row[1].(string)}
			if len(p.MetadataColumns) > 0 {
				it.Metadata = make(map[string]any, len(p.MetadataColumns))
				for j, c := range p.MetadataColumns {
					it.Metadata[c] = row[3+j]
				}
			}
			items = append(items, it)
		}
		res, err := corpus.Sync(ctx, x.Vectors, x.Embed, index, items, nil)
		out.add(res, items)
		return err
	}, progress)
	if err != nil {
		return out, err
	}
	if out.Deleted, err = x.deleteGone(ctx, p.Dataset, earlier, index, kept); err != nil {
		return out, err
	}
	return out, x.finish(ctx, p, index)
}

// add counts what one page's sync did.
func (out *Result) add(res corpus.SyncResult, items []vector.Item) {
	out.Embedded += res.Embedded
	out.Updated += res.Updated
	out.Unchanged += res.Unchanged
	out.Refused += len(res.Refused)
	for _, it := range items {
		if _, ok := res.Refused[it.ID]; ok && len(out.RefusedIDs) < MaxRefusedIDs {
			out.RefusedIDs = append(out.RefusedIDs, it.ID)
		}
	}
}

// scan reads the rows of p in order, a page at a time, and hands each page
// to f: rows of __id, __text, __ok (the row is usable) and, when withMeta,
// the metadata columns. progress (when not nil) and x.afterPage follow
// each page.
func (x *Indexer) scan(ctx context.Context, p *Plan, withMeta bool, f func(rows [][]any) error, progress Progress) error {
	cols := "__id, __text, " + usable + " AS __ok"
	if withMeta && len(p.MetadataColumns) > 0 {
		cols += ", * EXCLUDE (__pos, __id, __text)"
	}
	var done int64
	for _, file := range p.files {
		n, err := x.fileRows(ctx, file)
		if err != nil {
			return err
		}
		for from := int64(0); from < n; from += PageRows {
			to := min(from+PageRows, n)
			cond := fmt.Sprintf("file_row_number >= %d AND file_row_number < %d", from, to)
			page, err := x.SQL.Query(ctx, "SELECT "+cols+" FROM ("+p.selectSQL([]string{file}, cond)+") ORDER BY __pos", PageRows)
			if err != nil {
				if _, gone := x.Catalog.Get(p.Dataset); gone != nil {
					err = gone // dropped meanwhile, with its files
				}
				return fmt.Errorf("read dataset %s: %w", p.Dataset, err)
			}
			if err := f(page.Rows); err != nil {
				return err
			}
			done += to - from
			if progress != nil {
				progress(done, p.Total)
			}
			if x.afterPage != nil {
				x.afterPage()
			}
		}
	}
	return nil
}

// fileRows counts the rows of one Parquet file, from its footer.
func (x *Indexer) fileRows(ctx context.Context, file string) (int64, error) {
	res, err := x.SQL.Query(ctx, "SELECT count(*) FROM read_parquet("+sqlengine.QuoteString(file)+")", 1)
	if err != nil {
		return 0, fmt.Errorf("count the rows of a dataset file: %w", err)
	}
	return toInt64(res.Rows[0][0]), nil
}

// rowIDs gives the rows of one pass their item ids, in row order.
type rowIDs struct {
	repeats map[string]bool // content keys more than one usable row has
	seen    map[string]int  // occurrences so far of each of them
}

func newRowIDs(p *Plan) *rowIDs { return &rowIDs{repeats: p.repeats, seen: map[string]int{}} }

// next returns the id of row (__id, __text, __ok, ...), or false when the
// row is not usable.
func (s *rowIDs) next(row []any) (string, bool) {
	if ok, _ := row[2].(bool); !ok {
		return "", false
	}
	id := row[0].(string)
	if s.repeats[id] {
		s.seen[id]++
		if n := s.seen[id]; n > 1 {
			id = fmt.Sprintf("%s-%d", id, n)
		}
	}
	return id, true
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case interface{ Int64() (int64, error) }: // json.Number
		i, _ := n.Int64()
		return i
	}
	return 0
}
