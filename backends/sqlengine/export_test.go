package sqlengine

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"lakehouse/backends/errs"
)

// mixedQuery has a column of each common type, NULLs, and strings that CSV
// must quote.
const mixedQuery = `SELECT i::INTEGER AS i, i * 1.5::DOUBLE AS x,
	CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS maybe,
	CASE i % 4 WHEN 0 THEN 'plain' WHEN 1 THEN 'with, comma' WHEN 2 THEN 'with "quotes"' ELSE 'two' || chr(10) || 'lines' END AS s,
	DATE '2024-01-01' + i::INTEGER AS d,
	TIMESTAMP '2024-01-01 12:00:00' + INTERVAL (i) SECOND AS ts,
	(i / 8)::DECIMAL(18,3) AS amount,
	i % 2 = 0 AS flag
FROM range(100000) t(i) ORDER BY i`

// exportEngine returns an engine without datasets and its temp folder.
func exportEngine(t *testing.T, cfg Config) (*Engine, string) {
	t.Helper()
	e, tmp, _ := exportEngineDirs(t, cfg)
	return e, tmp
}

// exportEngineDirs is exportEngine that also returns the dataset folder,
// which the engine may read and write.
func exportEngineDirs(t *testing.T, cfg Config) (e *Engine, tmp, data string) {
	t.Helper()
	cfg.TempDir = filepath.Join(t.TempDir(), "duckdb-tmp")
	data = t.TempDir()
	e, _ = newTestEngine(t, cfg, data)
	return e, cfg.TempDir, data
}

// wantNoTempFiles fails when the temp folder holds anything.
func wantNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the temp folder: %s", e.Name())
	}
}

// plainDuckDB opens an unsandboxed DuckDB to read exports back with.
func plainDuckDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// readBack reads the rows of a file with DuckDB's reader, converting
// values as Query does.
func readBack(t *testing.T, db *sql.DB, from string) [][]any {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + from)
	if err != nil {
		t.Fatalf("%s: %v", from, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	convs := make([]converter, len(types))
	for i, ct := range types {
		convs[i] = converterFor(ct.DatabaseTypeName())
	}
	out := [][]any{}
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i := range vals {
			vals[i] = convs[i](vals[i])
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// columnsArg writes cols as a DuckDB struct of names to types, the columns
// argument of read_csv and read_json.
func columnsArg(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = QuoteString(c.Name) + ": " + QuoteString(c.Type)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// arrowRows reads an Arrow IPC stream into rows of JSON-safe values, as
// Query gives them for the types of mixedQuery.
func arrowRows(t *testing.T, data []byte) (*arrow.Schema, [][]any) {
	t.Helper()
	r, err := ipc.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	out := [][]any{}
	for r.Next() {
		rec := r.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, rec.NumCols())
			for j, col := range rec.Columns() {
				row[j] = arrowValue(t, col, i)
			}
			out = append(out, row)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return r.Schema(), out
}

func arrowValue(t *testing.T, col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch c := col.(type) {
	case *array.Int32:
		return c.Value(i)
	case *array.Int64:
		return c.Value(i)
	case *array.Float64:
		return c.Value(i)
	case *array.Boolean:
		return c.Value(i)
	case *array.String:
		return c.Value(i)
	case *array.Date32:
		return c.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		return c.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	case *array.Decimal128:
		return formatDecimal(c.Value(i).BigInt(), int(c.DataType().(*arrow.Decimal128Type).Scale))
	}
	t.Fatalf("unexpected Arrow column type %s", col.DataType())
	return nil
}

// TestEngine_Export_Formats exports a result with mixed types in every
// format, reads it back, and compares with what Query returns.
func TestEngine_Export_Formats(t *testing.T) {
	e, tmp := exportEngine(t, Config{})
	ctx := context.Background()
	want := mustQuery(t, e, mixedQuery, 1000000)
	db := plainDuckDB(t)
	dir := t.TempDir()

	for _, f := range []Format{CSV, NDJSON, Parquet, Arrow} {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			exp, err := e.Export(ctx, mixedQuery, f, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if exp.Rows != int64(len(want.Rows)) || exp.Bytes != int64(buf.Len()) {
				t.Errorf("rows %d, bytes %d (wrote %d), want %d rows", exp.Rows, exp.Bytes, buf.Len(), len(want.Rows))
			}
			if mustJSON(t, exp.Columns) != mustJSON(t, want.Columns) {
				t.Errorf("columns %v, want %v", exp.Columns, want.Columns)
			}
			if mustJSON(t, exp.Preview) != mustJSON(t, want.Rows[:PreviewRows]) {
				t.Errorf("preview %v, want %v", exp.Preview, want.Rows[:PreviewRows])
			}
			wantNoTempFiles(t, tmp)

			var got [][]any
			path := filepath.Join(dir, "out."+string(f))
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			switch f {
			case CSV:
				got = readBack(t, db, "read_csv("+QuoteString(path)+", header = true, columns = "+columnsArg(want.Columns)+")")
			case NDJSON:
				got = readBack(t, db, "read_json("+QuoteString(path)+", format = 'newline_delimited', columns = "+columnsArg(want.Columns)+")")
			case Parquet:
				got = readBack(t, db, "read_parquet("+QuoteString(path)+")")
			case Arrow:
				var schema *arrow.Schema
				schema, got = arrowRows(t, buf.Bytes())
				wantTypes := "i:int32 x:float64 maybe:int64 s:utf8 d:date32 ts:timestamp[us] amount:decimal(18, 3) flag:bool"
				var types []string
				for _, fl := range schema.Fields() {
					types = append(types, fl.Name+":"+fl.Type.String())
				}
				if g := strings.Join(types, " "); g != wantTypes {
					t.Errorf("Arrow schema %s, want %s", g, wantTypes)
				}
			}
			for i := range min(len(got), len(want.Rows)) {
				if g, w := mustJSON(t, got[i]), mustJSON(t, want.Rows[i]); g != w {
					t.Errorf("row %d: read back %s, Query gives %s", i, g, w)
					break
				}
			}
			if g, w := mustJSON(t, got), mustJSON(t, want.Rows); g != w {
				t.Errorf("read back %d rows, differ from Query's %d:\n got %.400s\nwant %.400s", len(got), len(want.Rows), g, w)
			}
		})
	}
}

// TestEngine_Export_Nested checks the forms of lists and structs: JSON text
// in CSV, native types in Arrow. A repeated column name gets DuckDB's
// suffix, as COPY writes it.
func TestEngine_Export_Nested(t *testing.T) {
	e, _ := exportEngine(t, Config{})
	ctx := context.Background()
	const q = `SELECT 1 AS id, [1, 2] AS l, {'a': 1, 'b': 'x, "y"'} AS st, 2 AS id`

	var buf bytes.Buffer
	if _, err := e.Export(ctx, q, CSV, &buf); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "id,l,st,id_1\n1,\"[1,2]\",\"{\"\"a\"\":1,\"\"b\"\":\"\"x, \\\"\"y\\\"\"\"\"}\",2\n"; got != want {
		t.Errorf("CSV:\n%s\nwant\n%s", got, want)
	}

	buf.Reset()
	if _, err := e.Export(ctx, q, Arrow, &buf); err != nil {
		t.Fatal(err)
	}
	r, err := ipc.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if got, want := r.Schema().String(), "schema:\n  fields: 4\n    - id: type=int32, nullable\n    - l: type=list<element: int32, nullable>, nullable\n    - st: type=struct<a: int32, b: utf8>, nullable\n    - id_1: type=int32, nullable"; got != want {
		t.Errorf("Arrow schema:\n%s\nwant\n%s", got, want)
	}
	if !r.Next() || r.RecordBatch().NumRows() != 1 {
		t.Fatal("no row")
	}
	if got := r.RecordBatch().Column(2).(*array.Struct).Field(1).(*array.String).Value(0); got != `x, "y"` {
		t.Errorf("struct field b = %q", got)
	}
}

// TestEngine_Export_Empty writes the header or schema of an empty result.
func TestEngine_Export_Empty(t *testing.T) {
	e, _ := exportEngine(t, Config{})
	for _, f := range []Format{CSV, NDJSON, Parquet, Arrow} {
		var buf bytes.Buffer
		exp, err := e.Export(context.Background(), "SELECT 1 AS a WHERE false", f, &buf)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if exp.Rows != 0 || len(exp.Preview) != 0 || exp.Preview == nil {
			t.Errorf("%s: rows %d, preview %v", f, exp.Rows, exp.Preview)
		}
		if f == Arrow {
			_, rows := arrowRows(t, buf.Bytes())
			if len(rows) != 0 {
				t.Errorf("arrow: %d rows", len(rows))
			}
		}
	}
}

// TestEngine_Export_Refused checks that what Query refuses is refused
// before anything is written, and that nothing is left behind.
func TestEngine_Export_Refused(t *testing.T) {
	e, tmp, data := exportEngineDirs(t, Config{})
	cases := []struct{ query, want string }{
		{"CREATE TABLE z AS SELECT 1", "CREATE statements are not allowed"},
		// A COPY into a folder DuckDB may write to, and one it may not.
		{"COPY (SELECT 1) TO " + QuoteString(filepath.Join(data, "x.csv")), "COPY statements are not allowed"},
		{"COPY (SELECT 1) TO 'x.csv'", "Permission Error"},
		{"SELECT current_setting('temp_directory')", "current_setting is not allowed"},
		{"SELECT * FROM duckdb_settings()", "duckdb_settings is not allowed"},
		{"SELECT * FROM read_csv('/etc/passwd')", "Permission Error"},
		{"EXPLAIN SELECT 1", "only the rows of a query can be exported"},
		{"SELECT 1; SELECT 2", "one statement per call"},
		{"SELECT $1", "query parameters"},
		{"  -- nothing\n", "empty query"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		_, err := e.Export(context.Background(), c.query, Parquet, &buf)
		wantErr(t, c.query, err, errs.Invalid, c.want)
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes", c.query, buf.Len())
		}
	}
	if _, err := e.Export(context.Background(), "SELECT 1", Format("xlsx"), io.Discard); !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "parquet, csv, ndjson or arrow") {
		t.Errorf("unknown format: %v", err)
	}
	// A semicolon at the end is fine.
	var buf bytes.Buffer
	if _, err := e.Export(context.Background(), "SELECT 7 AS n; ", CSV, &buf); err != nil || buf.String() != "n\n7\n" {
		t.Errorf("trailing semicolon: %v, %q", err, buf.String())
	}
	wantNoTempFiles(t, tmp)
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("the refused COPY wrote %d files", len(entries))
	}
}

// TestEngine_Export_Cancel stops a long export by cancelling its context.
func TestEngine_Export_Cancel(t *testing.T) {
	e, tmp := exportEngine(t, Config{Threads: 1})
	for _, f := range []Format{CSV, Arrow} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		_, err := e.Export(ctx, "SELECT i, 'row ' || i AS s FROM range(10000000000) t(i)", f, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", f, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: stopped after %v", f, d)
		}
		cancel()
		wantNoTempFiles(t, tmp)
	}

	// A deadline says it was a timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := e.Export(ctx, "SELECT i FROM range(10000000000) t(i)", Parquet, io.Discard)
	wantErr(t, "timeout", err, errs.Invalid, "query cancelled after")
	wantNoTempFiles(t, tmp)
}

// TestEngine_Export_SlotBusy: an export waits for a query slot as a query
// does, and gives up with the same message.
func TestEngine_Export_SlotBusy(t *testing.T) {
	e, _ := exportEngine(t, Config{MaxConns: 1, Threads: 1})
	hold, cancel := context.WithCancel(context.Background())
	held := make(chan error, 1)
	waiting := make(chan struct{})
	var once sync.Once
	for range 2 {
		go func() {
			_, err := e.QueryProgress(hold, endless, 0, func(float64, string) { once.Do(func() { close(waiting) }) })
			held <- err
		}()
	}
	<-waiting
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop()
	var buf bytes.Buffer
	_, err := e.Export(ctx, "SELECT 1", CSV, &buf)
	wantErr(t, "SELECT 1", err, errs.Busy, "the one query slot is busy (sql.max_conns)")
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes", buf.Len())
	}
	cancel()
	<-held
	<-held
}

// TestEngine_Export_ArrowOrder exports results that DuckDB reads on
// several threads, and that fill many parts, and finds the rows in order.
func TestEngine_Export_ArrowOrder(t *testing.T) {
	const n = 1000000
	data := t.TempDir()
	// Row groups of 122880 rows, DuckDB's default, which its threads scan
	// side by side.
	big := mustParquet(t, filepath.Join(data, "big.parquet"), fmt.Sprintf("SELECT i, 'row ' || i AS s FROM range(%d) t(i)", n))
	tmp := filepath.Join(t.TempDir(), "duckdb-tmp")
	e, _ := newTestEngine(t, Config{TempDir: tmp, Threads: 4}, data, View{Name: "big", Files: []string{big}})
	for _, c := range []struct {
		query string
		want  func(row int64) int64
	}{
		{"SELECT i, s FROM big", func(row int64) int64 { return row }},
		{"SELECT i, s FROM big ORDER BY i DESC", func(row int64) int64 { return n - 1 - row }},
	} {
		var buf bytes.Buffer
		exp, err := e.Export(context.Background(), c.query, Arrow, &buf)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		r, err := ipc.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		var row int64
		for r.Next() {
			rec := r.RecordBatch()
			is, ss := rec.Column(0).(*array.Int64), rec.Column(1).(*array.String)
			for j := range is.Len() {
				if want := c.want(row); is.Value(j) != want || ss.Value(j) != fmt.Sprintf("row %d", want) {
					t.Fatalf("%s: row %d is %d %q, want %d", c.query, row, is.Value(j), ss.Value(j), want)
				}
				row++
			}
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		r.Release()
		if row != n || exp.Rows != n {
			t.Errorf("%s: read %d rows, Export says %d, want %d", c.query, row, exp.Rows, n)
		}
		wantNoTempFiles(t, tmp)
	}
}

// TestEngine_Export_QueryFails: a query that fails after DuckDB wrote some
// of its rows gives DuckDB's error, and leaves nothing in the temp folder.
func TestEngine_Export_QueryFails(t *testing.T) {
	e, tmp := exportEngine(t, Config{Threads: 1})
	const q = "SELECT i, (CASE WHEN i = 900000 THEN 'x' ELSE i::VARCHAR END)::INTEGER AS n FROM range(1000000) t(i)"
	for _, f := range formats {
		_, err := e.Export(context.Background(), q, f, io.Discard)
		wantErr(t, string(f), err, errs.Invalid, `Could not convert string 'x' to INT32`)
		wantNoTempFiles(t, tmp)
	}
}

// TestPartClosed: a part is closed once the next one exists and no file
// descriptor is open on it.
func TestPartClosed(t *testing.T) {
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f, err := root.Create("part-0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if partClosed(root, "part-0", "part-1") {
		t.Error("closed before the next part exists")
	}
	next, err := root.Create("part-1")
	if err != nil {
		t.Fatal(err)
	}
	next.Close()
	if partClosed(root, "part-0", "part-1") {
		t.Error("closed while open")
	}
	f.Close()
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("no /proc/self/fd (%v): parts are read once the COPY returns", err)
	}
	if !partClosed(root, "part-0", "part-1") {
		t.Error("not closed once closed")
	}
}

// failingWriter fails once more than limit bytes were written to it.
type failingWriter struct {
	n, limit int
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errDiskFull
	}
	w.n += len(p)
	return len(p), nil
}

// TestEngine_Export_WriterFails stops at the writer's error and leaves no
// temp file.
func TestEngine_Export_WriterFails(t *testing.T) {
	e, tmp := exportEngine(t, Config{})
	for _, f := range []Format{CSV, NDJSON, Parquet, Arrow} {
		w := &failingWriter{limit: 2 << 20}
		_, err := e.Export(context.Background(), "SELECT i, 'row ' || i AS s FROM range(1000000) t(i)", f, w)
		if !errors.Is(err, errDiskFull) {
			t.Errorf("%s: error %v, want %v", f, err, errDiskFull)
		}
		if errs.KindOf(err) != nil {
			t.Errorf("%s: a writer's failure is a fault, got kind %v", f, errs.KindOf(err))
		}
		wantNoTempFiles(t, tmp)
	}
}

// countingDiscard counts what is written to it.
type countingDiscard struct{ n atomic.Int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// TestEngine_Export_BoundedMemory exports 5M rows, far more bytes than the
// Go heap is allowed to hold at any time.
func TestEngine_Export_BoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("5M-row export")
	}
	const heapCap = 64 << 20
	e, _ := exportEngine(t, Config{})
	const q = "SELECT i, i * 2.5 AS x, 'row ' || i AS s, DATE '2020-01-01' + (i % 1000)::INT AS d FROM range(5000000) t(i)"
	for _, f := range []Format{CSV, Arrow} {
		// What the heap holds already (other tests' leftovers) does not
		// count: the peak is measured above it.
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var ms runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > base.HeapInuse && ms.HeapInuse-base.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse - base.HeapInuse)
				}
			}
		})
		w := &countingDiscard{}
		exp, err := e.Export(context.Background(), q, f, w)
		close(done)
		wg.Wait()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if exp.Rows != 5000000 || exp.Bytes != w.n.Load() || exp.Bytes < 2*heapCap {
			t.Errorf("%s: rows %d, bytes %d (counted %d)", f, exp.Rows, exp.Bytes, w.n.Load())
		}
		if p := peak.Load(); p > heapCap {
			t.Errorf("%s: Go heap in use grew by up to %d MiB exporting %d MiB, want under %d MiB", f, p>>20, exp.Bytes>>20, heapCap>>20)
		} else {
			t.Logf("%s: %d rows, %d MiB written, Go heap in use grew by up to %d MiB", f, exp.Rows, exp.Bytes>>20, p>>20)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		name string
		f    Format
		ct   string
	}{
		{"csv", CSV, "text/csv"},
		{"NDJSON", NDJSON, "application/x-ndjson"},
		{" arrow ", Arrow, "application/vnd.apache.arrow.stream"},
		{"Parquet", Parquet, "application/vnd.apache.parquet"},
	} {
		f, err := ParseFormat(c.name)
		if err != nil || f != c.f || f.ContentType() != c.ct {
			t.Errorf("ParseFormat(%q) = %q, %v (content type %q)", c.name, f, err, f.ContentType())
		}
		if g, ok := FormatFor(c.ct + "; charset=utf-8"); !ok || g != c.f {
			t.Errorf("FormatFor(%q) = %q, %v", c.ct, g, ok)
		}
	}
	_, err := ParseFormat("xls")
	wantErr(t, "xls", err, errs.Invalid, `unknown export format "xls"`, "parquet, csv, ndjson or arrow")
	if _, ok := FormatFor("application/json"); ok {
		t.Error("FormatFor(application/json) is a format")
	}
}
