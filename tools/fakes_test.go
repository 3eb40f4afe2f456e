package tools

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// fakeSQL is an SQL engine that answers every query with a copy of res, or
// with err, and remembers what it was asked.
type fakeSQL struct {
	res *sqlengine.Result
	err error

	mu      sync.Mutex
	queries []string
	maxRows []int
}

var _ SQL = (*fakeSQL)(nil)

func (f *fakeSQL) Query(ctx context.Context, query string, maxRows int) (*sqlengine.Result, error) {
	return f.QueryProgress(ctx, query, maxRows, nil)
}

func (f *fakeSQL) QueryProgress(_ context.Context, query string, maxRows int, _ sqlengine.Progress) (*sqlengine.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries, f.maxRows = append(f.queries, query), append(f.maxRows, maxRows)
	if f.err != nil {
		return nil, f.err
	}
	res := *f.res // query_sql may cut the rows of what it gets
	return &res, nil
}

func (f *fakeSQL) Export(context.Context, string, sqlengine.Format, io.Writer) (sqlengine.Export, error) {
	return sqlengine.Export{}, errs.New(errs.Invalid, "fakeSQL does not export")
}

// fakeStore is an object store in memory that counts the calls made to it.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	calls   int
}

type fakeObject struct {
	data []byte
	info store.Info
}

var _ ObjectStore = (*fakeStore)(nil)

// fakeModified is the modified time of every object of a fakeStore.
var fakeModified = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func newFakeStore() *fakeStore { return &fakeStore{objects: map[string]fakeObject{}} }

func (f *fakeStore) Put(_ context.Context, key string, r io.Reader, contentType string, maxBytes int64) (store.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return store.Info{}, err
	}
	if int64(len(data)) > maxBytes {
		return store.Info{}, errs.New(errs.TooLarge, "over %d bytes", maxBytes)
	}
	sum := sha256.Sum256(data)
	info := store.Info{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), ContentType: cmp.Or(contentType, "application/x-fake"), Modified: fakeModified}
	f.objects[key] = fakeObject{data: data, info: info}
	return info, nil
}

func (f *fakeStore) Get(_ context.Context, key string) (io.ReadCloser, store.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	o, ok := f.objects[key]
	if !ok {
		return nil, store.Info{}, errs.New(errs.NotFound, "object %q not found", key)
	}
	return io.NopCloser(bytes.NewReader(o.data)), o.info, nil
}

func (f *fakeStore) Stat(_ context.Context, key string) (store.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	o, ok := f.objects[key]
	if !ok {
		return store.Info{}, errs.New(errs.NotFound, "object %q not found", key)
	}
	return o.info, nil
}

func (f *fakeStore) List(_ context.Context, prefix, after string, limit int) ([]store.Info, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	next := ""
	if len(keys) > limit {
		keys, next = keys[:limit], keys[limit-1]
	}
	items := make([]store.Info, len(keys))
	for i, k := range keys {
		items[i] = f.objects[k].info
	}
	return items, next, nil
}

func (f *fakeStore) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if _, ok := f.objects[key]; !ok {
		return errs.New(errs.NotFound, "object %q not found", key)
	}
	delete(f.objects, key)
	return nil
}

// query_sql with a fake engine: the engine's rows, row count and truncated
// flag reach the client as they were, with the query and row cap the
// caller gave; the engine's own mistake becomes a tool error with its text;
// a bad max_rows is refused before the engine is asked.
func TestQuerySQL_FakeEngine(t *testing.T) {
	fake := &fakeSQL{res: &sqlengine.Result{
		Columns:   []sqlengine.Column{{Name: "n", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}},
		Rows:      [][]any{{int64(1), "alpha"}, {int64(2), nil}},
		RowCount:  2,
		Truncated: true,
		ElapsedMS: 7,
	}}
	cs := connect(t, sqlTools(&Backends{SQL: fake}), nil)

	out, text, isErr := reviewCall[sqlengine.Result](t, cs, "query_sql", map[string]any{"sql": "SELECT n, name FROM t", "max_rows": 2})
	if isErr {
		t.Fatalf("query_sql failed: %s", text)
	}
	want := sqlengine.Result{
		Columns:   []sqlengine.Column{{Name: "n", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}},
		Rows:      [][]any{{1.0, "alpha"}, {2.0, nil}}, // numbers come back through JSON
		RowCount:  2,
		Truncated: true,
		ElapsedMS: 7,
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("query_sql returned %+v, want %+v", out, want)
	}
	wantText := "| n | name |\n|---|---|\n| 1 | alpha |\n| 2 | NULL |\n\n2 row(s), truncated: more rows exist (add LIMIT/OFFSET, select fewer or shorter columns, or aggregate), 7 ms"
	if text != wantText {
		t.Errorf("query_sql text =\n%s\nwant\n%s", text, wantText)
	}
	if !reflect.DeepEqual(fake.queries, []string{"SELECT n, name FROM t"}) || !reflect.DeepEqual(fake.maxRows, []int{2}) {
		t.Errorf("the engine was asked %q with max rows %v, want the caller's query with 2", fake.queries, fake.maxRows)
	}

	// Without max_rows the engine is asked for the default.
	if _, text, isErr := reviewCall[sqlengine.Result](t, cs, "query_sql", map[string]any{"sql": "SELECT 1"}); isErr {
		t.Fatalf("query_sql failed: %s", text)
	}
	if got := fake.maxRows[len(fake.maxRows)-1]; got != defaultMaxRows {
		t.Errorf("without max_rows the engine was asked for %d rows, want %d", got, defaultMaxRows)
	}

	// A bad argument never reaches the engine.
	asked := len(fake.queries)
	if _, text, isErr := reviewCall[sqlengine.Result](t, cs, "query_sql", map[string]any{"sql": "SELECT 1", "max_rows": maxMaxRows + 1}); !isErr || !strings.Contains(text, "max_rows must be between 1 and 10000") {
		t.Errorf("max_rows over the cap: error %v, text %q; want a tool error naming the range", isErr, text)
	}
	if len(fake.queries) != asked {
		t.Errorf("the engine was asked %q after a refused max_rows", fake.queries[asked:])
	}

	// The engine's mistake is the tool error, word for word.
	const msg = `table "nope" does not exist; list_datasets shows 0 datasets`
	failing := &fakeSQL{err: errs.New(errs.Invalid, "%s", msg)}
	cs = connect(t, sqlTools(&Backends{SQL: failing}), nil)
	if _, text, isErr := reviewCall[sqlengine.Result](t, cs, "query_sql", map[string]any{"sql": "SELECT * FROM nope"}); !isErr || text != msg {
		t.Errorf("engine error: tool error %v, text %q; want true and %q", isErr, text, msg)
	}
}

// put_object and get_object with a fake store: a key in the system area is
// refused before the store is called; text and binary content round-trip,
// with the store's own description of the object; max_bytes cuts what
// comes back.
func TestObjects_FakeStore(t *testing.T) {
	fake := newFakeStore()
	cs := connect(t, objectTools(&Backends{Store: fake}), nil)

	for _, key := range []string{"_catalog/sales.json", "_datasets/x/part-0.parquet"} {
		_, text, isErr := reviewCall[store.Info](t, cs, "put_object", map[string]any{"key": key, "content": "x"})
		if !isErr || !strings.Contains(text, "system area") {
			t.Errorf("put_object %s: tool error %v, text %q; want the system area refused", key, isErr, text)
		}
		_, text, isErr = reviewCall[deleteObjectOut](t, cs, "delete_object", map[string]any{"key": key})
		if !isErr || !strings.Contains(text, "system area") {
			t.Errorf("delete_object %s: tool error %v, text %q; want the system area refused", key, isErr, text)
		}
	}
	if fake.calls != 0 || len(fake.objects) != 0 {
		t.Fatalf("the store was called %d times for reserved keys and holds %d objects; want 0 and 0", fake.calls, len(fake.objects))
	}

	const content = "héllo, lakehouse\n"
	info, text, isErr := reviewCall[store.Info](t, cs, "put_object", map[string]any{"key": "notes/run1.md", "content": content})
	if isErr {
		t.Fatalf("put_object: %s", text)
	}
	sum := sha256.Sum256([]byte(content))
	wantInfo := store.Info{Key: "notes/run1.md", Size: int64(len(content)), ETag: hex.EncodeToString(sum[:]), ContentType: "application/x-fake", Modified: fakeModified}
	if !reflect.DeepEqual(info, wantInfo) {
		t.Errorf("put_object returned %+v, want the store's %+v", info, wantInfo)
	}
	if got := string(fake.objects["notes/run1.md"].data); got != content {
		t.Errorf("the store holds %q, want %q", got, content)
	}

	got, text, isErr := reviewCall[getObjectOut](t, cs, "get_object", map[string]any{"key": "notes/run1.md"})
	if isErr {
		t.Fatalf("get_object: %s", text)
	}
	want := getObjectOut{Info: wantInfo, Content: content, Encoding: "utf8", Returned: int64(len(content))}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("get_object returned %+v, want %+v", got, want)
	}

	// Binary content goes in and comes out as base64, and max_bytes cuts it.
	binary := []byte{0, 1, 2, 0xff, 0xfe}
	if _, text, isErr := reviewCall[store.Info](t, cs, "put_object", map[string]any{
		"key": "raw/blob.bin", "content": base64.StdEncoding.EncodeToString(binary), "encoding": "base64", "content_type": "application/octet-stream",
	}); isErr {
		t.Fatalf("put_object base64: %s", text)
	}
	if got := fake.objects["raw/blob.bin"]; !bytes.Equal(got.data, binary) || got.info.ContentType != "application/octet-stream" {
		t.Errorf("the store holds %v (%s), want %v (application/octet-stream)", got.data, got.info.ContentType, binary)
	}
	got, text, isErr = reviewCall[getObjectOut](t, cs, "get_object", map[string]any{"key": "raw/blob.bin"})
	if isErr || got.Encoding != "base64" || got.Content != base64.StdEncoding.EncodeToString(binary) || got.Truncated {
		t.Errorf("get_object raw/blob.bin = %+v (error %v: %s); want the bytes whole, as base64", got, isErr, text)
	}
	got, text, isErr = reviewCall[getObjectOut](t, cs, "get_object", map[string]any{"key": "raw/blob.bin", "max_bytes": 2, "encoding": "base64"})
	if isErr || got.Content != base64.StdEncoding.EncodeToString(binary[:2]) || got.Returned != 2 || !got.Truncated || got.Size != 5 {
		t.Errorf("get_object max_bytes 2 = %+v (error %v: %s); want 2 of 5 bytes, truncated", got, isErr, text)
	}

	// The store's not-found is the tool error.
	if _, text, isErr := reviewCall[getObjectOut](t, cs, "get_object", map[string]any{"key": "notes/missing.md"}); !isErr || text != `object "notes/missing.md" not found` {
		t.Errorf("get_object of a missing key: tool error %v, text %q", isErr, text)
	}
}

// A long cell is cut the same way in the structured content and in the
// text, and the result says how many were cut.
func TestQuerySQL_LongCellsCutInBoth(t *testing.T) {
	long := strings.Repeat("ab", MaxCell)
	fake := &fakeSQL{res: &sqlengine.Result{
		Columns:  []sqlengine.Column{{Name: "doc", Type: "VARCHAR"}, {Name: "tags", Type: "VARCHAR[]"}},
		Rows:     [][]any{{long, []any{"x"}}, {"short", []any{long}}},
		RowCount: 2,
	}}
	cs := connect(t, sqlTools(&Backends{SQL: fake}), nil)
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": "SELECT doc, tags FROM t"}})
	if err != nil || res.IsError {
		t.Fatalf("query_sql: %v %v", err, res)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var out struct {
		Rows     [][]any `json:"rows"`
		CellsCut int     `json:"cells_cut"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	cutText := long[:MaxCell-1] + "…"
	cutList := `["` + long[:MaxCell-3] + "…"
	if out.CellsCut != 2 || out.Rows[0][0] != cutText || out.Rows[1][1] != cutList {
		t.Errorf("structured content: cells_cut %d, rows %q; want 2 cells cut to %d characters", out.CellsCut, out.Rows, MaxCell)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !strings.Contains(text, "| "+cutText+" |") || !strings.Contains(text, "2 cell(s) cut at 200 characters") || strings.Contains(text, long[:MaxCell]) {
		t.Errorf("text does not show the same cut cells:\n%s", text)
	}
}
