package sqlengine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"lakehouse/backends/errs"
)

// Inputs finds the datasets a statement reads in DuckDB's parse tree:
// through joins, subqueries, set operations and CTEs, with past versions
// kept apart, and without table functions or the names of CTEs.
func TestEngine_Inputs(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	ctx := context.Background()
	for _, c := range []struct {
		query string
		want  []Input
	}{
		{"SELECT * FROM sales", []Input{{"sales", 0}}},
		{"SELECT * FROM SALES s JOIN t ON s.region = t.k", []Input{{"sales", 0}, {"t", 0}}},
		{`SELECT * FROM "sales@v2" UNION ALL SELECT * FROM "sales@v1"`, []Input{{"sales", 1}, {"sales", 2}}},
		{`SELECT * FROM "sales@v2" a, sales b, main.sales c`, []Input{{"sales", 0}, {"sales", 2}}},
		{"SELECT region FROM sales WHERE qty > (SELECT max(v) FROM t)", []Input{{"sales", 0}, {"t", 0}}},
		{"SELECT * FROM (SELECT * FROM (FROM t))", []Input{{"t", 0}}},
		{"SELECT EXISTS (SELECT 1 FROM t WHERE k = 'a')", []Input{{"t", 0}}},
		// A CTE named like a dataset hides it where it is in scope; its
		// own body still reads the dataset.
		{"WITH t AS (SELECT * FROM sales) SELECT * FROM t", []Input{{"sales", 0}}},
		{"WITH sales AS (SELECT * FROM sales WHERE qty > 1) SELECT * FROM sales", []Input{{"sales", 0}}},
		{"WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a) SELECT * FROM b", []Input{{"t", 0}}},
		{"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, t", []Input{{"t", 0}}},
		// Table functions are not datasets, even under a dataset's name.
		{"SELECT * FROM range(3)", []Input{}},
		{"SELECT * FROM range(3) r JOIN t ON r.range = t.v", []Input{{"t", 0}}},
		{"SELECT 1", []Input{}},
	} {
		got, err := e.Inputs(ctx, c.query)
		if err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if mustJSON(t, got) != mustJSON(t, c.want) {
			t.Errorf("%s: inputs %v, want %v", c.query, got, c.want)
		}
	}
}

// Inputs refuses what Query refuses: writes, several statements, refused
// names, and the rows of no query; an unknown table is not found.
func TestEngine_Inputs_Refused(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	ctx := context.Background()
	for _, c := range []struct{ query, part string }{
		{"CREATE TABLE x AS SELECT * FROM sales", "CREATE"},
		{"SELECT 1; SELECT 2", "one statement"},
		{"SELECT * FROM duckdb_settings()", "not allowed"},
		{"EXPLAIN SELECT * FROM sales", "only the rows of a query"},
		{"  ", "empty query"},
	} {
		_, err := e.Inputs(ctx, c.query)
		wantErr(t, c.query, err, errs.Invalid, c.part)
	}
	for _, q := range []string{"SELECT * FROM nosuch", `SELECT * FROM "sales@v9"`} {
		_, err := e.Inputs(ctx, q)
		wantErr(t, q, err, errs.NotFound, "datasets you can query: sales, t")
	}
}

func TestInput_Table(t *testing.T) {
	if got := (Input{"sales", 2}).Table(); got != "sales@v2" {
		t.Errorf("Table = %q", got)
	}
	if got := (Input{"sales", 0}).Table(); got != "sales" {
		t.Errorf("Table = %q", got)
	}
}

// Derive writes the whole result as Parquet and pins every plain name to
// the version whose files its view has.
func TestEngine_Derive(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	ctx := context.Background()
	out := filepath.Join(dir, "out.parquet")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Derive(ctx, `SELECT s.region, s.qty, t.v FROM sales s, t, "sales@v1" old WHERE s.region = old.region;`, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, d.Inputs) != mustJSON(t, []Input{{"sales", 0}, {"sales", 1}, {"t", 0}}) || mustJSON(t, d.Pinned) != "[2,1,1]" {
		t.Errorf("inputs %v pinned %v", d.Inputs, d.Pinned)
	}
	if fi, err := os.Stat(out); err != nil || d.Rows != 3 || fi.Size() != d.Bytes {
		t.Errorf("derived %+v, file %v %v", d, fi, err)
	}
	views := append(salesFixture(t, dir), View{Name: "out", Files: []string{out}})
	e2, _ := newTestEngine(t, Config{}, dir, views...)
	if got := mustQuery(t, e2, "SELECT region, qty, v FROM out ORDER BY qty", 10); mustJSON(t, got.Rows) != `[["north",1,1],["south",2,1],["north",3,1]]` {
		t.Errorf("rows = %s", mustJSON(t, got.Rows))
	}
	_, err = e.Derive(ctx, "CREATE TABLE x AS SELECT 1", io.Discard)
	wantErr(t, "CREATE", err, errs.Invalid, "CREATE")
	_, err = e.Derive(ctx, "EXPLAIN SELECT 1", io.Discard)
	wantErr(t, "EXPLAIN", err, errs.Invalid, "only the rows of a query")
}
