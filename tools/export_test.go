package tools

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// FuzzDecodeArgs covers every tool of the table; export_query's case is
// added here, beside the tool's other tests.
// exportSession serves the object and export tools over a real store and
// SQL engine to an in-memory client.
func exportSession(t *testing.T) (*mcp.ClientSession, *store.FS) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, filepath.Join(dir, "objects"), noViews{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b := &Backends{Store: st, SQL: e}
	return connect(t, append(objectTools(b), exportTools(b)...), nil), st
}

// exportCall calls tool and returns its structured content decoded into
// out, or, when wantErr, the text of the tool error.
func exportCall(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, out any, wantErr bool) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: transport error: %v", tool, err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if res.IsError != wantErr {
		t.Fatalf("%s(%v): error %v, want %v: %s", tool, args, res.IsError, wantErr, text)
	}
	if !wantErr && out != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	return text
}

// objectBytes reads the whole object key from the store.
func objectBytes(t *testing.T, st *store.FS, key string) ([]byte, store.Info) {
	t.Helper()
	rc, info, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data, info
}

// rowsIn counts the rows of an exported file.
func rowsIn(t *testing.T, f sqlengine.Format, data []byte) int64 {
	t.Helper()
	switch f {
	case sqlengine.CSV:
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return int64(len(recs) - 1) // the header
	case sqlengine.NDJSON:
		n := int64(0)
		for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
			var row map[string]any
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("ndjson line %q: %v", line, err)
			}
			n++
		}
		return n
	case sqlengine.Parquet:
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Close()
		return pf.NumRows()
	case sqlengine.Arrow:
		r, err := ipc.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		n := int64(0)
		for r.Next() {
			n += r.RecordBatch().NumRows()
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("format %q", f)
	return 0
}

// TestExportQuery_Session exports a few thousand rows in every format and
// reads each object back.
func TestExportQuery_Session(t *testing.T) {
	cs, st := exportSession(t)
	const q = "SELECT i, 'row, ' || i AS s, DATE '2024-01-01' + (i % 100)::INT AS d FROM range(4000) t(i) ORDER BY i"
	for _, f := range []sqlengine.Format{sqlengine.Parquet, sqlengine.CSV, sqlengine.NDJSON, sqlengine.Arrow} {
		key := "exports/rows." + string(f)
		args := map[string]any{"sql": q, "key": key, "format": string(f)}
		if f == sqlengine.Parquet {
			delete(args, "format") // the default
		}
		var out exportQueryOut
		text := exportCall(t, cs, "export_query", args, &out, false)
		if out.Key != key || out.Format != f || out.Rows != 4000 || len(out.Preview) != 5 || len(out.Columns) != 3 {
			t.Errorf("%s: %+v", f, out)
		}
		if got := mustJSONText(t, out.Preview[1]); got != `[1,"row, 1","2024-01-02"]` {
			t.Errorf("%s: preview row %s", f, got)
		}
		if !strings.Contains(text, "exported 4000 row(s)") || !strings.Contains(text, "| row, 1 |") {
			t.Errorf("%s: text %q", f, text)
		}
		data, info := objectBytes(t, st, key)
		if info.Size != out.Bytes || int64(len(data)) != out.Bytes {
			t.Errorf("%s: object of %d bytes, export says %d", f, info.Size, out.Bytes)
		}
		if info.ContentType != f.ContentType() {
			t.Errorf("%s: content type %q", f, info.ContentType)
		}
		if n := rowsIn(t, f, data); n != 4000 {
			t.Errorf("%s: the object holds %d rows", f, n)
		}
	}

	// get_object reads the export like any other object.
	var got getObjectOut
	exportCall(t, cs, "get_object", map[string]any{"key": "exports/rows.csv", "max_bytes": 40}, &got, false)
	if !strings.HasPrefix(got.Content, "i,s,d\n0,\"row, 0\",2024-01-01\n") || !got.Truncated {
		t.Errorf("get_object: %q (truncated %v)", got.Content, got.Truncated)
	}
}

func mustJSONText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExportQuery_Errors: a bad format, a bad key and refused SQL are tool
// errors that say what to do, and store nothing.
func TestExportQuery_Errors(t *testing.T) {
	cs, st := exportSession(t)
	cases := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"sql": "SELECT 1", "key": "x.xlsx", "format": "xlsx"}, `unknown export format "xlsx": use parquet, csv, ndjson or arrow`},
		{map[string]any{"sql": "SELECT 1", "key": "_datasets/x.parquet"}, "system area"},
		{map[string]any{"sql": "SELECT 1", "key": "../x.parquet"}, "key"},
		{map[string]any{"sql": "CREATE TABLE z AS SELECT 1", "key": "x.parquet"}, "CREATE statements are not allowed"},
		{map[string]any{"sql": "SELECT current_setting('temp_directory')", "key": "x.parquet"}, "current_setting is not allowed"},
		{map[string]any{"sql": "SELECT * FROM nosuch", "key": "x.parquet"}, "nosuch"},
		{map[string]any{"sql": "SELECT 1", "key": "x.parquet", "timeout_ms": 700000}, "timeout_ms must be between 1 and 600000"},
	}
	for _, c := range cases {
		text := exportCall(t, cs, "export_query", c.args, nil, true)
		if !strings.Contains(text, c.want) {
			t.Errorf("%v: error %q does not say %q", c.args, text, c.want)
		}
	}
	items, _, err := st.List(context.Background(), "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		t.Errorf("stored after a failed export: %s", it.Key)
	}
}

// TestExportQuery_StoreFails: when the store refuses the object, the export
// stops and the store's error is the answer.
func TestExportQuery_StoreFails(t *testing.T) {
	dir := t.TempDir()
	e, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, dir, noViews{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	full := errs.New(errs.Conflict, "key clashes with a folder")
	b := &Backends{Store: failingStore{err: full}, SQL: e}
	_, err = b.exportQuery(context.Background(), exportQueryIn{SQL: "SELECT i FROM range(100000000) t(i)", Key: "x.csv", Format: "csv"})
	if !errors.Is(err, full) {
		t.Errorf("error %v, want the store's", err)
	}
}

// failingStore fails every Put at once, without reading.
type failingStore struct {
	ObjectStore
	err error
}

func (s failingStore) Put(context.Context, string, io.Reader, string, int64) (store.Info, error) {
	return store.Info{}, s.err
}

func TestExportQuery_Annotations(t *testing.T) {
	tl := exportTools(nil)
	if len(tl) != 1 || tl[0].Name != "export_query" || tl[0].ReadOnly() || !*tl[0].Annotations.DestructiveHint {
		t.Errorf("export_query: %+v", tl)
	}
}
