package sqlengine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"lakehouse/backends/errs"
)

// testCatalog is an in-memory Catalog for tests.
type testCatalog struct {
	mu    sync.Mutex
	gen   uint64
	views []View
}

var _ Catalog = (*testCatalog)(nil)

func (c *testCatalog) Views() (uint64, []View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, slices.Clone(c.views)
}

// set replaces the views and bumps the generation.
func (c *testCatalog) set(views ...View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.views = views
}

// mustParquet writes the rows of query to a Parquet file at path, using an
// unsandboxed DuckDB.
func mustParquet(tb testing.TB, path, query string) string {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	stmt := "COPY (" + query + ") TO " + QuoteString(path) + " (FORMAT parquet)"
	if _, err := db.Exec(stmt); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
	return path
}

// salesFixture writes two Parquet files into dir and returns views for the
// dataset "sales" (two versions) and "t" (one version).
//
//	sales@v1: north 1, south 2
//	sales@v2: sales@v1 + north 3, west 4 (a second file)
//	t@v1:     a 1
func salesFixture(tb testing.TB, dir string) []View {
	tb.Helper()
	v1 := mustParquet(tb, filepath.Join(dir, "sales-1.parquet"),
		"SELECT * FROM (VALUES ('north', 1::BIGINT), ('south', 2)) v(region, qty)")
	v2 := mustParquet(tb, filepath.Join(dir, "sales-2.parquet"),
		"SELECT * FROM (VALUES ('north', 3::BIGINT), ('west', 4)) v(region, qty)")
	t1 := mustParquet(tb, filepath.Join(dir, "t-1.parquet"), "SELECT 'a' AS k, 1 AS v")
	return []View{
		{Name: "sales", Files: []string{v1, v2}},
		{Name: "sales@v1", Files: []string{v1}},
		{Name: "sales@v2", Files: []string{v1, v2}},
		{Name: "t", Files: []string{t1}},
		{Name: "t@v1", Files: []string{t1}},
	}
}

// newTestEngine returns an engine over dir with the given views. Unless cfg
// names one, DuckDB's temp folder is a fresh one.
func newTestEngine(tb testing.TB, cfg Config, dir string, views ...View) (*Engine, *testCatalog) {
	tb.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = filepath.Join(tb.TempDir(), "duckdb-tmp")
	}
	cat := &testCatalog{}
	cat.set(views...)
	e, err := New(cfg, dir, cat)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e, cat
}

// mustQuery runs query and fails the test on error.
func mustQuery(tb testing.TB, e *Engine, query string, maxRows int) *Result {
	tb.Helper()
	res, err := e.Query(context.Background(), query, maxRows)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return res
}

// mustJSON encodes v.
func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// wantErr checks that err is of kind k and its text holds every part.
func wantErr(tb testing.TB, query string, err error, k *errs.Kind, parts ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s: no error, want %v", query, k)
	}
	if !errors.Is(err, k) {
		tb.Fatalf("%s: error %q is %v, want %v", query, err, errs.KindOf(err), k)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			tb.Errorf("%s: error %q does not contain %q", query, err, p)
		}
	}
}
