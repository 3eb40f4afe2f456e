package sqlengine

// Exports: the whole result of one query, written once, in a file format.
//
// The driver materialises a whole result before its first row can be read
// (see rowcap.go), and reading it value by value through database/sql costs
// more than DuckDB spends running the query. So the rows never pass through
// the driver. Once the statement has passed every check Query makes, the
// engine itself runs
//
//	COPY (<the checked statement>) TO '<temp folder>/export-<random>.<ext>' (FORMAT ...)
//
// DuckDB streams the result into the file with its own parallel writers and
// bounded memory, and Export then copies the file to the caller's writer and
// deletes it. Arrow IPC has no writer in DuckDB: it is written as a folder
// of uncompressed Parquet parts, which arrow-go reads back as record
// batches and writes as an IPC stream while DuckDB writes the next parts
// (see export_arrow.go).
//
// Why this keeps the sandbox as strong as it was:
//
//   - The COPY is the engine's, not the caller's. A caller's statement can
//     never be a COPY (prepareRead refuses it) and is only ever placed
//     inside the parentheses of this one (as a subquery of the engine's
//     SELECT, for casts and row numbers), after DuckDB has proved that it is
//     a single query node whose syntax tree passed checkTree (the same proof
//     that rowcap.go relies on for LIMIT).
//   - The target is inside DuckDB's own temp folder, which DuckDB allows
//     with enable_external_access off and lock_configuration on: no setting
//     is changed, and every other path stays refused. The folder is emptied
//     when the database opens, so a crash leaves nothing behind for long.
//   - The file name (for Arrow, the folder's) holds 128 random bits and is
//     removed as soon as it is copied, on every path. The temp folder's
//     path shows only in settings, which names.go refuses. A caller who guessed it could read a
//     concurrent export of another caller (DuckDB lets every query read its
//     temp folder), which holds only rows of the same datasets that caller
//     may query anyway.
//
// Memory: DuckDB's COPY and arrow-go's reader both hold about one row group
// at a time, so the memory an export needs does not grow with its rows. The
// disk does: the file in the temp folder is as big as the output (for
// Arrow, the parts not sent yet).
//
// The query slot is held while DuckDB runs the COPY and given back when it
// returns, before the rest is copied out, so a slow reader does not keep
// other queries waiting.

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/errs"
)

// A Format is a file format an export is written in.
type Format string

// The formats of [Engine.Export].
const (
	CSV     Format = "csv"     // RFC 4180 with a header line; nested values as JSON text
	NDJSON  Format = "ndjson"  // one JSON object per line (DuckDB's JSON writer)
	Arrow   Format = "arrow"   // Arrow IPC stream format
	Parquet Format = "parquet" // Parquet with DuckDB's defaults (snappy)
)

// formats lists the formats, in the order messages name them.
var formats = []Format{Parquet, CSV, NDJSON, Arrow}

// contentTypes maps each format to its media type.
var contentTypes = map[Format]string{
	CSV:     "text/csv",
	NDJSON:  "application/x-ndjson",
	Arrow:   "application/vnd.apache.arrow.stream",
	Parquet: "application/vnd.apache.parquet",
}

// ParseFormat returns the format named s (any case). An unknown name is an
// errs.Invalid error that lists the four.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := contentTypes[f]; ok {
		return f, nil
	}
	return "", errs.New(errs.Invalid, "unknown export format %q: use parquet, csv, ndjson or arrow (Arrow IPC stream)", s)
}

// ContentType returns the media type of files in format f, or "" for an
// unknown format.
func (f Format) ContentType() string { return contentTypes[f] }

// FormatFor returns the format whose media type is mediaType, as
// [Format.ContentType] gives it; parameters (";charset=utf-8") and case are
// ignored.
func FormatFor(mediaType string) (Format, bool) {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return "", false
	}
	for _, f := range formats {
		if contentTypes[f] == mt {
			return f, true
		}
	}
	return "", false
}

// PreviewRows is the number of leading rows an [Export] keeps as a preview.
const PreviewRows = 5

// copyBufferBytes is the size of the buffer that copies an export file out.
const copyBufferBytes = 1 << 20

// Export describes an export that [Engine.Export] wrote.
type Export struct {
	Columns []Column `json:"columns"`
	Rows    int64    `json:"rows"`  // rows written
	Bytes   int64    `json:"bytes"` // bytes written to w
	// Preview holds the first PreviewRows rows as [Engine.Query] returns
	// them (JSON-safe values). They come from the statement run under
	// LIMIT PreviewRows, so without an ORDER BY they may be other rows than
	// the first in the file.
	Preview [][]any `json:"preview"`
}

// Export runs one read-only statement and writes its whole result, with no
// row cap, to w in format f, with memory that does not grow with the rows.
//
// The statement goes through the checks of [Engine.Query] and fails as it
// does, before anything is written: refused statements and names are
// errs.Invalid, busy query slots errs.Busy, and ctx's end interrupts DuckDB.
// Export also refuses, as errs.Invalid, statements whose rows cannot be
// written to a file: EXPLAIN and PRAGMA.
//
// An error from w stops the export and is returned, wrapped; what was
// written by then is a partial file. So does an error of the query while
// DuckDB runs it (a failed cast, say): the other formats have written
// nothing by then, but Arrow, whose rows are sent while DuckDB writes the
// rest, may have written part of the stream, without its end. Nothing is
// left in the temp folder, whatever happens. A column name that repeats gets a suffix in the file
// ("a", "a_1"), as DuckDB's COPY writes it; Columns keeps the names as
// Query gives them.
//
// Types: Parquet and NDJSON are DuckDB's own writers. NDJSON writes
// numbers, DECIMAL and HUGEINT included, as JSON numbers (a reader that
// parses them as doubles loses digits beyond 2^53), lists and structs as
// JSON, and dates, timestamps, intervals, UUIDs and blobs as DuckDB's text
// ("2024-01-01 10:00:00", "\xAA"). CSV writes lists, structs, maps and
// unions as JSON text and everything else as DuckDB casts it to text.
// Arrow keeps integers, floats, decimals, booleans, strings, blobs, dates,
// times, timestamps, lists, structs and maps as native Arrow types;
// HUGEINT, UHUGEINT, BIGNUM, INTERVAL, TIMETZ, BIT, UUID and UNION columns
// are written as strings, which Parquet, the way in, cannot carry exactly.
func (e *Engine) Export(ctx context.Context, query string, f Format, w io.Writer) (Export, error) {
	start := time.Now()
	f, err := ParseFormat(string(f))
	if err != nil {
		return Export{}, err
	}
	if isBlank(query) {
		return Export{}, errs.New(errs.Invalid, "empty query: send one SQL statement, e.g. SELECT * FROM sales")
	}

	cw := &countingWriter{w: w}
	var exp Export
	if f == Arrow {
		exp, err = e.exportArrow(ctx, start, query, cw)
	} else {
		exp, err = e.exportFile(ctx, start, query, f, cw)
	}
	if err != nil {
		return Export{}, err
	}
	exp.Bytes = cw.n
	return exp, nil
}

// sendError returns err, which stopped an export's copy to its writer, or
// the query's error when ctx ended.
func (e *Engine) sendError(ctx context.Context, start time.Time, err error) error {
	if ctx.Err() != nil {
		return e.queryError(ctx, start, ctx.Err())
	}
	return err
}

// exportFile is Export for the formats DuckDB writes itself: the file it
// wrote is copied to w as it is.
func (e *Engine) exportFile(ctx context.Context, start time.Time, query string, f Format, w io.Writer) (Export, error) {
	out, err := e.copyOut(ctx, start, query, f, nil)
	if err != nil {
		return Export{}, err
	}
	defer out.remove()
	if err := copyFile(ctx, out.root, out.name, w); err != nil {
		return Export{}, e.sendError(ctx, start, err)
	}
	return out.Export, nil
}

// written is an export file in the temp folder, not yet copied out: for
// Arrow, the folder of its parts.
type written struct {
	Export
	root *os.Root // the temp folder
	name string   // the file's name in it
	path string   // and its absolute path
}

// remove removes the file (or folder) and closes the root.
func (t *written) remove() {
	t.root.RemoveAll(t.name)
	t.root.Close()
}

// copyOut checks query, takes a query slot, and has DuckDB write the whole
// result to a new file in its temp folder, in the form f is made from. The
// caller removes the file, with began as copyQuery says.
func (e *Engine) copyOut(ctx context.Context, start time.Time, query string, f Format, began func(*written)) (*written, error) {
	var out *written
	err := e.withConn(ctx, start, query, nil, nil, func(conn driver.Conn) (err error) {
		out, err = copyQuery(ctx, conn, query, f, began)
		return err
	})
	return out, err
}

// copyQuery checks query on conn as Query does, reads its preview, and
// runs the COPY that writes its result to a new file in the temp folder.
// When began is nil, no file is left on error. Otherwise began is given the
// file before the COPY runs, so that it can be read while DuckDB writes it,
// and the caller removes it whatever copyQuery returns.
func copyQuery(ctx context.Context, conn driver.Conn, query string, f Format, began func(*written)) (_ *written, err error) {
	// A statement that DuckDB will not serialize is not a query node: a
	// write (refused by prepareRead, with the message Query gives), or an
	// EXPLAIN or a PRAGMA, which cannot stand inside a COPY.
	tree, parseErr, err := serialize(ctx, conn, query)
	if err != nil {
		return nil, err
	}
	if parseErr != "" {
		stmt, _, err := prepareRead(ctx, conn, query)
		if err != nil {
			return nil, err
		}
		stmt.Close()
		return nil, errs.New(errs.Invalid, "only the rows of a query can be exported (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT); run EXPLAIN and PRAGMA with query_sql")
	}

	// The preview is the statement under LIMIT, through the same checks
	// and conversions as Query. It also gives the columns and their types.
	res, err := run(ctx, conn, query, PreviewRows)
	if err != nil {
		return nil, err
	}
	body, ok, err := statementBody(ctx, conn, query, tree)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.New(errs.Invalid, "cannot export this statement: send it without the semicolon at its end")
	}

	copy := func(path string) string { return copyStatement(body, res.Columns, f, path) }
	var out *written
	if began == nil {
		out, err = copyToTemp(ctx, conn, "export", string(f), copy)
	} else {
		if out, err = newTemp(ctx, conn, "export", string(f)); err != nil {
			return nil, err
		}
		began(out)
		err = out.copy(ctx, conn, copy(out.path))
	}
	if err != nil {
		return nil, err
	}
	out.Export = Export{Columns: res.Columns, Rows: out.Rows, Preview: res.Rows}
	return out, nil
}

// copyToTemp has DuckDB run the COPY statement that copy builds for a path
// into a new file, named prefix-<random>.ext, of its temp folder, and
// returns the file with the rows written (Export.Rows). On error no file is
// left.
func copyToTemp(ctx context.Context, conn driver.Conn, prefix, ext string, copy func(path string) string) (*written, error) {
	out, err := newTemp(ctx, conn, prefix, ext)
	if err != nil {
		return nil, err
	}
	if err := out.copy(ctx, conn, copy(out.path)); err != nil {
		out.remove()
		return nil, err
	}
	return out, nil
}

// newTemp opens DuckDB's temp folder and names a new file in it,
// prefix-<random>.ext, which does not exist yet.
func newTemp(ctx context.Context, conn driver.Conn, prefix, ext string) (*written, error) {
	dir, err := tempDirOf(ctx, conn)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlengine: open temp folder: %w", err)
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	name := prefix + "-" + hex.EncodeToString(rnd[:]) + "." + ext
	return &written{root: root, name: name, path: filepath.Join(dir, name)}, nil
}

// copy runs query, a COPY into t, and sets t.Rows to the rows it wrote.
func (t *written) copy(ctx context.Context, conn driver.Conn, query string) error {
	stmt, err := prepareOne(conn, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	if typ, err := stmt.StatementType(); err != nil || typ != duckdb.STATEMENT_TYPE_COPY {
		// Cannot happen: the body parsed alone as one query node.
		return fmt.Errorf("sqlengine: %s statement is not a COPY (type %d, %v)", t.name, typ, err)
	}
	r, err := stmt.ExecContext(ctx, nil)
	if err != nil {
		return err
	}
	if t.Rows, err = r.RowsAffected(); err != nil {
		return fmt.Errorf("sqlengine: %s rows: %w", t.name, err)
	}
	return nil
}

// tempDirOf returns DuckDB's temp folder, an absolute path.
func tempDirOf(ctx context.Context, conn driver.Conn) (string, error) {
	stmt, err := prepareOne(conn, "SELECT current_setting('temp_directory')")
	if err != nil {
		return "", fmt.Errorf("sqlengine: temp folder: %w", err)
	}
	defer stmt.Close()
	rows, err := stmt.QueryContext(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("sqlengine: temp folder: %w", err)
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return "", fmt.Errorf("sqlengine: temp folder: %w", err)
	}
	dir, _ := v[0].(string)
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("sqlengine: temp folder %q is not an absolute path", dir)
	}
	return dir, nil
}

// copyStatement returns the COPY that writes the rows of body, whose
// columns are cols, to path in the form format f is made from.
func copyStatement(body string, cols []Column, f Format, path string) string {
	var options string
	var cast func(typ string) string
	switch f {
	case CSV:
		options = "FORMAT csv, HEADER true"
		cast = csvCast
	case NDJSON:
		options = "FORMAT json"
	case Parquet:
		options = "FORMAT parquet"
	case Arrow:
		return "COPY (\n" + selectCast(body, cols, arrowCast, arrowRowNumber) + "\n) TO " + QuoteString(path) + " (" + arrowOptions + ")"
	}
	return "COPY (\n" + selectCast(body, cols, cast) + "\n) TO " + QuoteString(path) + " (" + options + ")"
}

// selectCast returns body, or, when cast changes some column or there are
// extra columns, a SELECT over body that applies it and adds them after
// body's. The columns of body are renamed c0, c1, ... inside, which keeps
// repeated names apart, and get their own names back outside.
func selectCast(body string, cols []Column, cast func(typ string) string, extra ...string) string {
	if cast == nil && len(extra) == 0 {
		return body
	}
	exprs := make([]string, len(cols))
	aliases := make([]string, len(cols))
	changed := false
	for i, c := range cols {
		aliases[i] = fmt.Sprintf("c%d", i)
		exprs[i] = aliases[i]
		var expr string
		if cast != nil {
			expr = cast(c.Type)
		}
		if expr != "" {
			exprs[i] = fmt.Sprintf(expr, aliases[i])
			changed = true
		}
		exprs[i] += " AS " + QuoteIdent(c.Name)
	}
	if !changed && len(extra) == 0 {
		return body
	}
	return "SELECT " + strings.Join(append(exprs, extra...), ", ") + " FROM (\n" + body + "\n) AS t(" + strings.Join(aliases, ", ") + ")"
}

// csvCast writes nested values as JSON text: DuckDB's own text for them
// ({'a': 1}, [x, y]) is not JSON and quotes nothing.
func csvCast(typ string) string {
	if isNested(typ) {
		return "to_json(%s)::VARCHAR"
	}
	return ""
}

// isNested reports whether the DuckDB type typ is a LIST, ARRAY, STRUCT,
// MAP or UNION.
func isNested(typ string) bool {
	t := strings.ToUpper(strings.TrimSpace(typ))
	return strings.HasSuffix(t, "]") || strings.HasPrefix(t, "STRUCT(") ||
		strings.HasPrefix(t, "MAP(") || strings.HasPrefix(t, "UNION(")
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// copyFile copies the file name in root to w, checking ctx between chunks.
func copyFile(ctx context.Context, root *os.Root, name string, w io.Writer) error {
	f, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("sqlengine: open export file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, copyBufferBytes)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("sqlengine: write export: %w", err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("sqlengine: read export file: %w", rerr)
		}
	}
}
