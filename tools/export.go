package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
)

// Limits of export_query.
//
// maxExportBytes bounds one export instead of objects.max_bytes (64 MiB by
// default), which is sized for objects that travel inside JSON arguments
// and results: an export exists for results far beyond that (10M rows of
// four columns are about 400 MB of CSV). The bound still stops a runaway
// query, a cross join say, from filling the disk: at 16 GiB it is far above
// any result worth one object, and an object store that is not told a
// limit takes whatever comes.
//
// The timeout covers waiting for a query slot, DuckDB writing the result and
// the upload. DuckDB holds a query slot only while it writes, which runs at
// about 1.5-3 million rows per second on two cores, so ten minutes covers
// results of hundreds of millions of rows.
const (
	maxExportBytes         = 16 << 30
	defaultExportTimeoutMS = 120000
	maxExportTimeoutMS     = 600000
)

type exportQueryIn struct {
	SQL       string `json:"sql" jsonschema:"read-only query"`
	Key       string `json:"key" jsonschema:"object to write"`
	Format    string `json:"format,omitempty" jsonschema:"parquet, csv, ndjson, arrow"`
	TimeoutMS int    `json:"timeout_ms,omitempty" jsonschema:"default 120000"`
}

type exportQueryOut struct {
	Key     string             `json:"key"`
	Format  sqlengine.Format   `json:"format"`
	Rows    int64              `json:"rows"`
	Bytes   int64              `json:"bytes"`
	Columns []sqlengine.Column `json:"columns"`
	Preview [][]any            `json:"preview" jsonschema:"the first 5 rows, as query_sql returns rows"`
}

func exportTools(b *Backends) []Tool {
	return []Tool{
		fromOutside(define("export_query",
			"Write a read-only query's whole result (no row cap) to an object as parquet, csv, ndjson or arrow; returns rows, bytes, columns, 5 preview rows. Then ingest_dataset or get_object it.",
			destructive("Export query"), b.exportQuery)),
	}
}

func (b *Backends) exportQuery(ctx context.Context, in exportQueryIn) (exportQueryOut, error) {
	if err := writableKey(in.Key); err != nil {
		return exportQueryOut{}, err
	}
	f := sqlengine.Parquet
	if strings.TrimSpace(in.Format) != "" {
		var err error
		if f, err = sqlengine.ParseFormat(in.Format); err != nil {
			return exportQueryOut{}, err
		}
	}
	ctx, cancel, err := withTimeoutMS(ctx, in.TimeoutMS, defaultExportTimeoutMS, maxExportTimeoutMS)
	if err != nil {
		return exportQueryOut{}, err
	}
	defer cancel()

	exp, err := b.exportTo(ctx, in.Key, in.SQL, f)
	if err != nil {
		return exportQueryOut{}, err
	}
	sqlengine.CutCells(exp.Preview, MaxCell)
	return exportQueryOut{Key: in.Key, Format: f, Rows: exp.Rows, Bytes: exp.Bytes, Columns: exp.Columns, Preview: exp.Preview}, nil
}

// errStoreStopped tells the export that the store stopped reading.
var errStoreStopped = errors.New("the object store stopped reading the export")

// exportTo streams the export of query into the object key through a pipe,
// so that neither side holds the whole result. Whichever side failed first
// gives the error: the export's (a refused statement, a timeout) or the
// store's (the size bound, a key that clashes).
func (b *Backends) exportTo(ctx context.Context, key, query string, f sqlengine.Format) (sqlengine.Export, error) {
	// A store that gives up (a clashing key, the size bound) cancels the
	// export, which may not have written a byte yet.
	exportCtx, cancelExport := context.WithCancel(ctx)
	defer cancelExport()
	pr, pw := io.Pipe()
	type outcome struct {
		exp sqlengine.Export
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		exp, err := b.SQL.Export(exportCtx, query, f, pw)
		pw.CloseWithError(err) // nil: the store reads to the end and commits
		done <- outcome{exp, err}
	}()
	_, putErr := b.Store.Put(ctx, key, pr, f.ContentType(), maxExportBytes)
	if putErr != nil {
		pr.CloseWithError(fmt.Errorf("%w: %v", errStoreStopped, putErr))
		cancelExport()
	} else {
		pr.Close()
	}
	o := <-done
	storeFirst := o.err == nil || errors.Is(o.err, errStoreStopped) ||
		errors.Is(o.err, context.Canceled) && ctx.Err() == nil
	switch {
	case putErr != nil && storeFirst:
		if errors.Is(putErr, errs.TooLarge) {
			return sqlengine.Export{}, errs.New(errs.TooLarge, "the export of this query is larger than %d GiB, the bound of export_query; nothing was stored: select fewer columns or rows, or split it with WHERE into several exports", maxExportBytes>>30)
		}
		return sqlengine.Export{}, putErr
	case o.err != nil:
		return sqlengine.Export{}, o.err
	}
	return o.exp, nil
}

// Text says what was written and shows the preview as a markdown table.
func (o exportQueryOut) Text() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "exported %d row(s), %d bytes of %s, to %q", o.Rows, o.Bytes, o.Format, o.Key)
	if len(o.Preview) == 0 {
		return sb.String()
	}
	fmt.Fprintf(&sb, "; the first %d:\n\n|", len(o.Preview))
	for _, c := range o.Columns {
		fmt.Fprintf(&sb, " %s |", cell(c.Name))
	}
	sb.WriteString("\n|")
	for range o.Columns {
		sb.WriteString("---|")
	}
	for _, row := range o.Preview {
		sb.WriteString("\n|")
		for _, v := range row {
			fmt.Fprintf(&sb, " %s |", cell(v))
		}
	}
	return sb.String()
}
