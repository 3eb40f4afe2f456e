package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
)

// Limits of query_sql.
//
// maxTimeoutMS bounds how long one call can hold one of the few query slots
// (sql.max_conns, 4 by default): at 10 minutes, four calls shut everyone
// else out for that long. Two minutes is far beyond an interactive query
// over datasets of this size (a GROUP BY over a million rows takes tens of
// milliseconds); work that needs longer should be narrowed or split.
const (
	defaultMaxRows   = 100
	maxMaxRows       = 10000
	defaultTimeoutMS = 30000
	maxTimeoutMS     = 120000
)

// Caps of the rows a result carries, the same in its structured content
// and in its text: a model reads both, and a whole value or a whole result
// is export_query's job.
const (
	MaxCell        = 200       // characters of one cell; a longer one is cut to end in "…"
	maxResultBytes = 256 << 10 // JSON bytes of the rows of one result
)

// SQL is what the tools need of the SQL engine: read-only queries and exports.
type SQL interface {
	Query(ctx context.Context, query string, maxRows int) (*sqlengine.Result, error)
	QueryProgress(ctx context.Context, query string, maxRows int, progress sqlengine.Progress) (*sqlengine.Result, error)
	Export(ctx context.Context, query string, f sqlengine.Format, w io.Writer) (sqlengine.Export, error)
}

var _ SQL = (*sqlengine.Engine)(nil)

type querySQLIn struct {
	SQL       string `json:"sql" jsonschema:"one read-only statement"`
	MaxRows   int    `json:"max_rows,omitempty" jsonschema:"default 100, max 10000"`
	TimeoutMS int    `json:"timeout_ms,omitempty" jsonschema:"default 30000"`
}

type queryOut struct {
	*sqlengine.Result
	CellsCut int `json:"cells_cut,omitempty" jsonschema:"cells over 200 characters, cut to end in …: substr() or export_query has the rest"`
}

// capResult applies the caps of a result for a model to r.
func capResult(r *sqlengine.Result) queryOut {
	cut := sqlengine.CutCells(r.Rows, MaxCell)
	r.CapBytes(maxResultBytes)
	return queryOut{r, cut}
}

func sqlTools(b *Backends) []Tool {
	return []Tool{
		fromOutside(define("query_sql",
			"Run one read-only DuckDB statement; each dataset is a table, a past version \"name@vN\". Returns up to max_rows rows, truncated=true if more: aggregate or filter. Whole results: export_query.",
			readOnly("Query SQL"), b.querySQL)),
	}
}

func (b *Backends) querySQL(ctx context.Context, in querySQLIn) (queryOut, error) {
	maxRows := in.MaxRows
	switch {
	case maxRows < 0 || maxRows > maxMaxRows:
		return queryOut{}, errs.New(errs.Invalid, "max_rows must be between 1 and %d; aggregate or filter in SQL to see less", maxMaxRows)
	case maxRows == 0:
		maxRows = defaultMaxRows
	}
	ctx, cancel, err := withTimeoutMS(ctx, in.TimeoutMS, defaultTimeoutMS, maxTimeoutMS)
	if err != nil {
		return queryOut{}, err
	}
	defer cancel()
	// A call that waits for a query slot says so in progress notifications.
	res, err := b.SQL.QueryProgress(ctx, in.SQL, maxRows, sqlengine.Progress(progressOf(ctx)))
	if err != nil {
		return queryOut{}, err
	}
	return capResult(res), nil
}

// withTimeoutMS is ctx with the timeout_ms argument ms as its deadline: def
// when 0, at most max.
func withTimeoutMS(ctx context.Context, ms, def, max int) (context.Context, context.CancelFunc, error) {
	switch {
	case ms < 0 || ms > max:
		return nil, nil, errs.New(errs.Invalid, "timeout_ms must be between 1 and %d", max)
	case ms == 0:
		ms = def
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	return ctx, cancel, nil
}

// Text renders the result as a compact markdown table.
func (q queryOut) Text() string {
	r := q.Result
	header := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		header[i] = c.Name
	}
	var sb strings.Builder
	sb.WriteString(MarkdownTable(header, r.Rows))
	fmt.Fprintf(&sb, "\n\n%d row(s)", r.RowCount)
	if q.CellsCut > 0 {
		fmt.Fprintf(&sb, ", %d cell(s) cut at %d characters (…): substr() or export_query has the rest", q.CellsCut, MaxCell)
	}
	if r.Truncated {
		sb.WriteString(", truncated: more rows exist (add LIMIT/OFFSET, select fewer or shorter columns, or aggregate)")
	}
	fmt.Fprintf(&sb, ", %d ms", r.ElapsedMS)
	return sb.String()
}

// MarkdownTable renders rows under header as a markdown table, each value
// as cell shows it.
func MarkdownTable(header []string, rows [][]any) string {
	var sb strings.Builder
	sb.WriteString("|")
	for _, h := range header {
		fmt.Fprintf(&sb, " %s |", cell(h))
	}
	sb.WriteString("\n|")
	for range header {
		sb.WriteString("---|")
	}
	for _, row := range rows {
		sb.WriteString("\n|")
		for _, v := range row {
			fmt.Fprintf(&sb, " %s |", cell(v))
		}
	}
	return sb.String()
}

// cellEscaper keeps a value inside one markdown table cell.
var cellEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ")

// cell formats one value for a markdown table cell: NULL for nil, JSON for
// nested values, pipes and newlines escaped. It cuts nothing: what a cell
// shows is what the structured content holds, capped where it is made.
func cell(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "NULL"
	case string:
		s = v
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		s = string(b)
	default:
		s = fmt.Sprint(v)
	}
	return cellEscaper.Replace(s)
}
