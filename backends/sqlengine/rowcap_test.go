package sqlengine

import (
	"context"
	"testing"

	"lakehouse/backends/errs"
)

// TestEngine_Query_RowCapReachesDuckDB runs a query that fails on its
// millionth row: it succeeds only if DuckDB stops after max_rows+1 rows.
func TestEngine_Query_RowCapReachesDuckDB(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	const q = "SELECT CASE WHEN i < 1000000 THEN i ELSE error('row ' || i || ' was made') END AS i FROM range(100000000) t(i)"
	res := mustQuery(t, e, q, 3)
	if got := mustJSON(t, res.Rows); got != `[[0],[1],[2]]` || !res.Truncated {
		t.Errorf("rows = %s, truncated = %v; want [[0],[1],[2]], true", got, res.Truncated)
	}
}

// TestEngine_Query_RowCapKeepsMeaning checks that a capped query returns
// what the query says: its order, its own LIMIT and OFFSET, its column
// names, and a truthful truncated.
func TestEngine_Query_RowCapKeepsMeaning(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	for _, tc := range []struct {
		query     string
		maxRows   int
		rows      string
		truncated bool
	}{
		{"SELECT i FROM range(1000000) t(i) ORDER BY i DESC", 3, `[[999999],[999998],[999997]]`, true},
		{"SELECT i FROM range(1000000) t(i) ORDER BY hash(i), i", 2, `[[0],[863792]]`, true},
		{"SELECT i FROM range(10) t(i) ORDER BY i DESC LIMIT 3 OFFSET 2", 10, `[[7],[6],[5]]`, false},
		{"SELECT i FROM range(10) t(i) ORDER BY i LIMIT 3", 3, `[[0],[1],[2]]`, false},
		{"SELECT i FROM range(10) t(i) ORDER BY i LIMIT 4", 3, `[[0],[1],[2]]`, true},
		{"WITH a AS (SELECT 2 AS x UNION ALL SELECT 1) SELECT x FROM a ORDER BY x", 1, `[[1]]`, true},
		{"VALUES (1), (2)", 1, `[[1]]`, true},
		{"FROM sales ORDER BY qty DESC", 1, `[["west",4]]`, true},
		{"PIVOT sales ON region IN ('north', 'west') USING sum(qty)", 5, `[[4,4]]`, false},
		{"DESCRIBE sales", 1, `[["region","VARCHAR","YES",null,null,null]]`, true},
		{"SHOW TABLES", 10, `[["sales"],["sales@v1"],["sales@v2"],["t"],["t@v1"]]`, false},
		{"SUMMARIZE SELECT 1 AS x", 1, "", false},
		{"PRAGMA table_info('sales')", 1, `[[0,"region","VARCHAR",false,null,false]]`, true},
		{"EXPLAIN SELECT 1", 1, "", false},
	} {
		res := mustQuery(t, e, tc.query, tc.maxRows)
		if got := mustJSON(t, res.Rows); tc.rows != "" && got != tc.rows || res.Truncated != tc.truncated {
			t.Errorf("%s (max %d) = %s, truncated %v; want %s, %v", tc.query, tc.maxRows, got, res.Truncated, tc.rows, tc.truncated)
		}
	}

	// The outer SELECT * renames duplicate columns; the result does not.
	res := mustQuery(t, e, "SELECT 1 AS a, 2 AS a, 3, 3", 0)
	if got, want := mustJSON(t, res.Columns), `[{"name":"a","type":"INTEGER"},{"name":"a","type":"INTEGER"},{"name":"3","type":"INTEGER"},{"name":"3","type":"INTEGER"}]`; got != want {
		t.Errorf("columns = %s, want %s", got, want)
	}
}

// TestEngine_Query_RowCapStatementEnd sends statements that end in
// semicolons, comments and quotes that look like either.
func TestEngine_Query_RowCapStatementEnd(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	for _, tc := range []struct{ query, rows string }{
		{"SELECT 1;", `[[1]]`},
		{"SELECT 1 ; ;\n -- done;\n", `[[1]]`},
		{"SELECT 1 -- no newline", `[[1]]`},
		{"SELECT 1 /* a; /* nested; */ ; */ ;", `[[1]]`},
		{"SELECT ';' AS s;", `[[";"]]`},
		{"SELECT 'it''s; -- not a comment' AS s ; -- but this is", `[["it's; -- not a comment"]]`},
		{`SELECT 1 AS "a;b" ;`, `[[1]]`},
		{"SELECT $$ -- $$ AS s", `[[" -- "]]`},
	} {
		if got := mustJSON(t, mustQuery(t, e, tc.query, 0).Rows); got != tc.rows {
			t.Errorf("%q = %s, want %s", tc.query, got, tc.rows)
		}
	}

	// A dollar-quoted string misleads the scan; DuckDB's parse catches the
	// wrong cut, and the query is refused rather than changed.
	for _, q := range []string{"SELECT $$ -- $$ AS s;", "SELECT $$it's$$ AS s;"} {
		_, err := e.Query(context.Background(), q, 0)
		wantErr(t, q, err, errs.Invalid, "cannot cap the rows of this statement", "without")
	}
}

func TestStatementEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"SELECT 1", 8},
		{"SELECT 1;", 8},
		{"SELECT 1 ; ; -- x;\n", 8},
		{"SELECT ';'", 10},
		{"SELECT ';';", 10},
		{`SELECT 1 AS "x;";`, 16},
		{"SELECT 'open;", 13},
		{"SELECT 1 /* ; */ ;", 8},
	} {
		if got := statementEnd(tc.in); got != tc.want {
			t.Errorf("statementEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
