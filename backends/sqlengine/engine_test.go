package sqlengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"lakehouse/backends/errs"
)

func TestEngine_Query_Aggregates(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)

	res := mustQuery(t, e, `SELECT region, sum(qty) AS total, count(*) AS n
		FROM sales GROUP BY region ORDER BY region`, 0)
	if got, want := mustJSON(t, res.Columns), `[{"name":"region","type":"VARCHAR"},{"name":"total","type":"HUGEINT"},{"name":"n","type":"BIGINT"}]`; got != want {
		t.Errorf("columns = %s, want %s", got, want)
	}
	if got, want := mustJSON(t, res.Rows), `[["north",4,2],["south",2,1],["west",4,1]]`; got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
	if res.RowCount != 3 || res.Truncated {
		t.Errorf("row_count = %d, truncated = %v; want 3, false", res.RowCount, res.Truncated)
	}

	res = mustQuery(t, e, `SELECT count(*) AS n, sum(qty) AS s, avg(qty) AS a FROM sales`, 0)
	if got, want := mustJSON(t, res.Rows), `[[4,10,2.5]]`; got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
}

func TestEngine_Query_Versions(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)

	for _, tc := range []struct{ query, want string }{
		{`SELECT count(*) FROM "sales@v1"`, `[[2]]`},
		{`SELECT count(*) FROM "sales@v2"`, `[[4]]`},
		{`SELECT count(*) FROM sales`, `[[4]]`},
		{`SELECT region FROM "sales@v1" ORDER BY region`, `[["north"],["south"]]`},
		{`SELECT k, v FROM "t@v1"`, `[["a",1]]`},
	} {
		if got := mustJSON(t, mustQuery(t, e, tc.query, 0).Rows); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.query, got, tc.want)
		}
	}
}

func TestEngine_Query_Resync(t *testing.T) {
	dir := t.TempDir()
	views := salesFixture(t, dir)
	e, cat := newTestEngine(t, Config{}, dir, views...)
	mustQuery(t, e, "SELECT * FROM t", 0)

	// A new dataset appears and "t" goes away.
	extra := mustParquet(t, filepath.Join(dir, "fresh.parquet"), "SELECT 7 AS x")
	cat.set(views[0], views[1], views[2], View{Name: "fresh", Files: []string{extra}})

	if got := mustJSON(t, mustQuery(t, e, "SELECT x FROM fresh", 0).Rows); got != `[[7]]` {
		t.Errorf("fresh = %s, want [[7]]", got)
	}
	for _, q := range []string{"SELECT * FROM t", `SELECT * FROM "t@v1"`} {
		_, err := e.Query(context.Background(), q, 0)
		wantErr(t, q, err, errs.NotFound, "datasets you can query: fresh, sales")
	}

	// A view whose files changed is replaced.
	cat.set(View{Name: "fresh", Files: []string{views[0].Files[0]}})
	if got := mustJSON(t, mustQuery(t, e, "SELECT count(*) FROM fresh", 0).Rows); got != `[[2]]` {
		t.Errorf("fresh after change = %s, want [[2]]", got)
	}
}

func TestEngine_Query_BrokenViewSkipped(t *testing.T) {
	dir := t.TempDir()
	good := mustParquet(t, filepath.Join(dir, "it's good.parquet"), "SELECT 1 AS a")
	gone := mustParquet(t, filepath.Join(dir, "gone.parquet"), "SELECT 2 AS a")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	e, _ := newTestEngine(t, Config{}, dir,
		View{Name: "broken", Files: []string{gone}},
		View{Name: `we"ird`, Files: []string{good}},
		View{Name: "empty"},
	)

	if got := mustJSON(t, mustQuery(t, e, `SELECT a FROM "we""ird"`, 0).Rows); got != `[[1]]` {
		t.Errorf("rows = %s, want [[1]]", got)
	}
	_, err := e.Query(context.Background(), "SELECT * FROM broken", 0)
	wantErr(t, "broken", err, errs.NotFound, `datasets you can query: we"ird`)
}

func TestEngine_Query_Truncation(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	for _, tc := range []struct {
		query     string
		maxRows   int
		rows      int
		truncated bool
	}{
		{"SELECT * FROM range(250)", 0, DefaultMaxRows, true},
		{"SELECT * FROM range(250)", -1, DefaultMaxRows, true},
		{"SELECT * FROM range(250)", 10, 10, true},
		{"SELECT * FROM range(250)", 250, 250, false},
		{"SELECT * FROM range(250)", 249, 249, true},
		{"SELECT * FROM range(250)", 1000, 250, false},
		{"SELECT * FROM range(5000)", 4000, 4000, true},
		{"SELECT * FROM range(0)", 10, 0, false},
	} {
		res := mustQuery(t, e, tc.query, tc.maxRows)
		if res.RowCount != tc.rows || len(res.Rows) != tc.rows || res.Truncated != tc.truncated {
			t.Errorf("%s max %d: row_count = %d (len %d), truncated = %v; want %d, %v",
				tc.query, tc.maxRows, res.RowCount, len(res.Rows), res.Truncated, tc.rows, tc.truncated)
		}
	}
	res := mustQuery(t, e, "SELECT * FROM range(0)", 10)
	if got := mustJSON(t, res); !regexp.MustCompile(`^\{"columns":\[\{"name":"range","type":"BIGINT"\}\],"rows":\[\],"row_count":0,"truncated":false,"elapsed_ms":\d+\}$`).MatchString(got) {
		t.Errorf("empty result = %s", got)
	}
}

func TestEngine_Query_Reads(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	for _, q := range []string{
		"SELECT 1",
		"select 1;",
		"  -- leading comment\n SELECT 1; -- trailing",
		"WITH a AS (SELECT 1 AS x) SELECT * FROM a",
		"VALUES (1), (2)",
		"FROM sales",
		"DESCRIBE sales",
		"SHOW TABLES",
		"SUMMARIZE sales",
		"PIVOT sales ON region IN ('north', 'south') USING sum(qty)",
		"PRAGMA table_info('sales')",
		"PRAGMA version",
		"EXPLAIN SELECT * FROM sales",
		"EXPLAIN ANALYZE SELECT count(*) FROM sales",
		"explain analyze /* why */ select 1",
		"EXPLAIN (FORMAT JSON) SELECT 1",
		"EXPLAIN ANALYZE (SELECT 1)",
	} {
		if _, err := e.Query(context.Background(), q, 0); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

func TestEngine_Query_Refused(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	out := filepath.Join(dir, "out.csv")

	for _, tc := range []struct{ query, want string }{
		{"CREATE TABLE z AS SELECT 1", "CREATE statements are not allowed"},
		{"CREATE VIEW z AS SELECT 1", "CREATE statements are not allowed"},
		{"CREATE MACRO m(a) AS a", "not allowed"},
		{"DROP VIEW sales", "DROP statements are not allowed"},
		{"COPY (SELECT 1) TO " + QuoteString(out), "COPY statements are not allowed"},
		{"COPY (SELECT 1) TO '/tmp/sqlengine-out.csv'", "Permission Error"},
		{"EXPORT DATABASE " + QuoteString(filepath.Join(dir, "exp")), "EXPORT/IMPORT DATABASE statements are not allowed"},
		{"ATTACH ':memory:' AS m", "ATTACH statements are not allowed"},
		{"ATTACH " + QuoteString(filepath.Join(dir, "x.db")) + " AS m", "ATTACH statements are not allowed"},
		{"DETACH memory", "not allowed"},
		{"SET threads = 1", "SET/RESET/USE statements are not allowed"},
		{"SET enable_external_access = true", "SET/RESET/USE statements are not allowed"},
		{"RESET threads", "SET/RESET/USE statements are not allowed"},
		{"USE memory", "SET/RESET/USE statements are not allowed"},
		{"SET VARIABLE x = 1", "not allowed"},
		{"INSTALL httpfs", "INSTALL/LOAD statements are not allowed"},
		{"LOAD httpfs", "INSTALL/LOAD statements are not allowed"},
		{"LOAD '/tmp/evil.duckdb_extension'", "INSTALL/LOAD statements are not allowed"},
		{"CALL pragma_version()", "CALL/CHECKPOINT statements are not allowed"},
		{"CHECKPOINT", "CALL/CHECKPOINT statements are not allowed"},
		{"PRAGMA enable_profiling", "PRAGMA statements are not allowed"},
		{"BEGIN TRANSACTION", "BEGIN/COMMIT/ROLLBACK statements are not allowed"},
		{"PREPARE p AS SELECT 1", "PREPARE statements are not allowed"},
		{"VACUUM", "not allowed"},
		{"EXPLAIN ANALYZE CREATE TABLE z AS SELECT 1", "EXPLAIN of CREATE statements is not allowed"},
		{"EXPLAIN CREATE TABLE z AS SELECT 1", "EXPLAIN of CREATE statements is not allowed"},
		{"explain analyse verbose create table z as select 1", ""},
		{"EXPLAIN (ANALYZE) CREATE TABLE z AS SELECT 1", ""},
		{"EXPLAIN ANALYZE /* ) */ COPY (SELECT 1) TO " + QuoteString(out), "EXPLAIN of COPY statements is not allowed"},
		{"SELECT ?", "parameters"},
		{"", "empty query"},
		{" \n\t;; ", "empty query"},
		{"-- only a comment", "empty query"},
		{"/* a /* nested */ comment */", "empty query"},
	} {
		_, err := e.Query(context.Background(), tc.query, 0)
		wantErr(t, tc.query, err, errs.Invalid, tc.want)
	}

	// Nothing above ran: no table z, no file, and sales is still there.
	_, err := e.Query(context.Background(), "SELECT * FROM z", 0)
	wantErr(t, "z", err, errs.NotFound)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after a refused COPY (stat: %v)", out, err)
	}
	mustQuery(t, e, "SELECT * FROM sales", 0)
}

func TestEngine_Query_Writes(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	// A real table, made behind the engine's back, so that writes to it
	// prepare and reach the check.
	if _, err := e.db.Exec("CREATE TABLE w AS SELECT 1 AS a"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ query, want string }{
		{"INSERT INTO w VALUES (2)", "INSERT statements are not allowed"},
		{"UPDATE w SET a = 5", "UPDATE statements are not allowed"},
		{"DELETE FROM w", "DELETE statements are not allowed"},
		{"ALTER TABLE w ADD COLUMN b INT", "ALTER statements are not allowed"},
		{"DROP TABLE w", "DROP statements are not allowed"},
		{"EXPLAIN ANALYZE INSERT INTO w VALUES (3)", "EXPLAIN of INSERT statements is not allowed"},
		{"EXPLAIN ANALYZE DELETE FROM w", "EXPLAIN of DELETE statements is not allowed"},
		{"INSERT INTO w VALUES (4); SELECT 1", "one statement per call"},
		{"SELECT 1; DELETE FROM w", "one statement per call"},
	} {
		_, err := e.Query(context.Background(), tc.query, 0)
		wantErr(t, tc.query, err, errs.Invalid, tc.want)
	}
	res := mustQuery(t, e, "SELECT * FROM w", 0)
	if got := mustJSON(t, res); !regexp.MustCompile(`^\{"columns":\[\{"name":"a","type":"INTEGER"\}\],"rows":\[\[1\]\]`).MatchString(got) {
		t.Errorf("w changed: %s", got)
	}
}

func TestEngine_Query_MultiStatement(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	for _, q := range []string{
		"CREATE TABLE z AS SELECT 1; SELECT 1",
		"SELECT 1; SELECT 2",
		"SELECT 1; CREATE TABLE z AS SELECT 1",
	} {
		_, err := e.Query(context.Background(), q, 0)
		wantErr(t, q, err, errs.Invalid, "one statement per call: split")
	}
	_, err := e.Query(context.Background(), "SELECT * FROM z", 0)
	wantErr(t, "z", err, errs.NotFound, "Table with name z does not exist")

	// DuckDB turns a PIVOT without an IN list into several statements.
	_, err = e.Query(context.Background(), "PIVOT (SELECT 'a' AS k, 1 AS v) ON k USING sum(v)", 0)
	wantErr(t, "pivot", err, errs.Invalid, "one statement per call", "PIVOT without an IN list")
}

func TestEngine_Query_Sandbox(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	for _, q := range []string{
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT * FROM read_text(" + QuoteString(dir+"/../../../../etc/passwd") + ")",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_blob('/etc/hostname')",
		"SELECT * FROM glob('/*')",
		"SELECT * FROM read_parquet('/tmp/*.parquet')",
	} {
		_, err := e.Query(context.Background(), q, 0)
		wantErr(t, q, err, errs.Invalid, "Permission Error")
	}
	for _, q := range []string{
		"SELECT * FROM read_parquet('https://example.com/x.parquet')",
		"SELECT * FROM 's3://bucket/x.parquet'",
	} {
		_, err := e.Query(context.Background(), q, 0)
		wantErr(t, q, err, errs.Invalid)
	}
	// Files inside the dataset area are readable, as the views need.
	res := mustQuery(t, e, "SELECT count(*) FROM read_parquet("+QuoteString(filepath.Join(dir, "sales-1.parquet"))+")", 0)
	if got := mustJSON(t, res.Rows); got != `[[2]]` {
		t.Errorf("rows = %s, want [[2]]", got)
	}
}

func TestEngine_Query_DuckDBErrors(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)

	_, err := e.Query(context.Background(), "SELEC region FROM sales", 0)
	wantErr(t, "syntax", err, errs.Invalid, `Parser Error: syntax error at or near "SELEC"`, "LINE 1: SELEC region FROM sales", "^")

	_, err = e.Query(context.Background(), "SELECT nope FROM sales", 0)
	wantErr(t, "binder", err, errs.Invalid, "Binder Error", `"nope"`, "LINE 1:")

	_, err = e.Query(context.Background(), "SELECT nofunc(1)", 0)
	wantErr(t, "function", err, errs.Invalid, "Scalar Function with name nofunc does not exist")

	_, err = e.Query(context.Background(), "SELECT 1/0::INTEGER, 'x'::INTEGER", 0)
	wantErr(t, "conversion", err, errs.Invalid, "Conversion Error")

	_, err = e.Query(context.Background(), "SELECT * FROM nope", 0)
	wantErr(t, "unknown table", err, errs.NotFound,
		"Catalog Error: Table with name nope does not exist!",
		"datasets you can query: sales, t (")

	_, err = e.Query(context.Background(), `SELECT * FROM "sales@v9"`, 0)
	wantErr(t, "unknown version", err, errs.NotFound, "sales@v9", "datasets you can query: sales, t")

	// TIME_NS is a type the driver cannot read.
	_, err = e.Query(context.Background(), "SELECT TIME_NS '01:02:03.123456789'", 0)
	wantErr(t, "time_ns", err, errs.Invalid, "::VARCHAR")
}

func TestEngine_Query_NotFoundLists(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	_, err := e.Query(context.Background(), "SELECT * FROM nope", 0)
	wantErr(t, "none", err, errs.NotFound, "there are no datasets yet; ingest_dataset creates one")

	dir := t.TempDir()
	file := mustParquet(t, filepath.Join(dir, "one.parquet"), "SELECT 1 AS a")
	var views []View
	for i := range 60 {
		name := fmt.Sprintf("d%02d", i)
		views = append(views, View{Name: name, Files: []string{file}}, View{Name: name + "@v1", Files: []string{file}})
	}
	e, _ = newTestEngine(t, Config{}, dir, views...)
	_, err = e.Query(context.Background(), "SELECT * FROM nope", 0)
	wantErr(t, "many", err, errs.NotFound, "datasets you can query: d00, d01, ", "d49 …and 10 more")
	if regexp.MustCompile(`d5\d|@v1,`).MatchString(err.Error()) {
		t.Errorf("list not capped or holds versions: %s", err)
	}
}

func TestEngine_Query_Timeout(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	q := "SELECT count(*) FROM range(100000000) a, range(100000) b"
	_, err := e.Query(ctx, q, 0)
	wantErr(t, q, err, errs.Invalid, "timeout_ms can raise it")
	if !regexp.MustCompile(`^query cancelled after \d+ ms timeout`).MatchString(err.Error()) {
		t.Errorf("error = %q", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not match context.DeadlineExceeded", err)
	}

	// The pool's connections still work afterwards.
	for range DefaultMaxConns + 1 {
		mustQuery(t, e, "SELECT 42", 0)
	}
}

func TestEngine_Query_Cancel(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Query(ctx, "SELECT 1", 0); !errors.Is(err, context.Canceled) || errs.KindOf(err) != nil {
		t.Errorf("cancelled before: error = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(100*time.Millisecond, cancel)
	defer stop.Stop()
	_, err := e.Query(ctx, "SELECT count(*) FROM range(100000000) a, range(100000) b", 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while running: error = %v, want context.Canceled", err)
	}
	mustQuery(t, e, "SELECT 42", 0)
}

func TestEngine_Query_Parallel(t *testing.T) {
	dir := t.TempDir()
	views := salesFixture(t, dir)
	e, cat := newTestEngine(t, Config{MaxConns: 3}, dir, views...)

	var wg sync.WaitGroup
	errc := make(chan error, 100)
	for g := range 8 {
		wg.Go(func() {
			for i := range 15 {
				q := fmt.Sprintf("SELECT sum(qty) + %d FROM sales", g*100+i)
				res, err := e.Query(context.Background(), q, 0)
				if err != nil {
					errc <- fmt.Errorf("%s: %w", q, err)
					return
				}
				b, _ := json.Marshal(res.Rows)
				if got, want := string(b), fmt.Sprintf("[[%d]]", 10+g*100+i); got != want {
					errc <- fmt.Errorf("%s = %s, want %s", q, got, want)
					return
				}
			}
		})
	}
	// Views change while the queries run.
	wg.Go(func() {
		for i := range 10 {
			extra := View{Name: fmt.Sprintf("extra%d", i), Files: views[3].Files}
			cat.set(append(views[:4:4], extra)...)
			if _, err := e.Query(context.Background(), "SELECT * FROM "+extra.Name, 0); err != nil {
				errc <- err
				return
			}
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
