package sqlengine

// The datasets a statement reads, for the lineage of a version derived by
// SQL, found the way names.go finds refused names: in DuckDB's own parse of
// the statement (json_serialize_sql), never in its text.
//
// Every table the tree names (a BASE_TABLE node) is a candidate. It is a
// dataset read when it is one of the catalog's views ("sales", or
// "sales@v2" for a past version) and not the name of a common table
// expression in scope where it is named. Table functions (range(),
// read_parquet(), ...) are TABLE_FUNCTION nodes and never count.
//
// A WITH clause is a "cte_map" beside the query node it belongs to: its
// names are in scope in that node and, in order, in the CTEs after each
// one. A CTE's own name is in scope in its own body only when it is a
// recursive CTE (DuckDB gives its body a RECURSIVE_CTE_NODE).
//
// [Engine.Derive] is what a derived dataset is made with: the inputs, the
// version each one read, and the whole result as Parquet, in one pass.

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"lakehouse/backends/errs"
)

// An Input is a dataset that a statement reads.
type Input struct {
	Dataset string `json:"dataset"`
	// Version is the version the statement names ("sales@v2" is 2), or 0
	// when it names the dataset alone and so reads its current version.
	Version int `json:"version,omitempty"`
}

// Table returns the name the statement used: "sales" or "sales@v2".
func (in Input) Table() string {
	if in.Version == 0 {
		return in.Dataset
	}
	return fmt.Sprintf("%s@v%d", in.Dataset, in.Version)
}

// Inputs returns the datasets that query reads, each view once, sorted by
// name then version. query must be a single read-only query node
// (SELECT, WITH, VALUES, FROM, ...); anything else is refused as
// [Engine.Query] refuses it, and a name it uses that is not allowed fails
// likewise, and so does a table that does not exist (errs.NotFound, with
// the datasets that do). Table functions and CTEs are not datasets.
func (e *Engine) Inputs(ctx context.Context, query string) ([]Input, error) {
	start := time.Now()
	if isBlank(query) {
		return nil, errs.New(errs.Invalid, "empty query: send one SQL statement, e.g. SELECT * FROM sales")
	}
	var tree string
	err := e.withConn(ctx, start, query, nil, nil, func(dconn driver.Conn) error {
		// prepareRead makes every check Query makes, and gives the tree of
		// a query node; an EXPLAIN or a PRAGMA has none, and no rows to
		// keep.
		stmt, t, err := prepareRead(ctx, dconn, query)
		if err != nil {
			return err
		}
		stmt.Close()
		if t == "" {
			return errs.New(errs.Invalid, "only the rows of a query can make a dataset (SELECT, WITH, VALUES, FROM, ...); EXPLAIN and PRAGMA cannot")
		}
		tree = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	_, views := e.cat.Views()
	known := make(map[string]bool, len(views))
	for _, v := range views {
		known[v.Name] = true
	}
	return inputsOf(tree, known)
}

// inputsOf returns the views of known that the syntax tree names outside
// the scope of a CTE of the same name.
func inputsOf(tree string, known map[string]bool) ([]Input, error) {
	var parsed any
	if err := json.Unmarshal([]byte(tree), &parsed); err != nil {
		return nil, fmt.Errorf("sqlengine: read syntax tree: %w", err)
	}
	seen := map[string]bool{}
	walkTables(parsed, nil, func(schema, name string) {
		name = strings.ToLower(name)
		switch strings.ToLower(schema) {
		case "", "main":
		default:
			return
		}
		if known[name] {
			seen[name] = true
		}
	})
	out := make([]Input, 0, len(seen))
	for _, table := range slices.Sorted(maps.Keys(seen)) {
		name, version := splitView(table)
		out = append(out, Input{Dataset: name, Version: version})
	}
	slices.SortFunc(out, func(a, b Input) int {
		if c := strings.Compare(a.Dataset, b.Dataset); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return out, nil
}

// walkTables calls visit with the schema and name of every BASE_TABLE of
// the syntax tree v that no CTE in scope (ctes, lower-case) names.
func walkTables(v any, ctes []string, visit func(schema, name string)) {
	switch v := v.(type) {
	case map[string]any:
		if t, _ := v["type"].(string); t == "BASE_TABLE" {
			name, _ := v["table_name"].(string)
			schema, _ := v["schema_name"].(string)
			catalog, _ := v["catalog_name"].(string)
			if catalog != "" || schema != "" || !slices.Contains(ctes, strings.ToLower(name)) {
				if catalog == "" || strings.EqualFold(catalog, "memory") {
					visit(schema, name)
				}
			}
		}
		inner := ctes
		if m, ok := v["cte_map"].(map[string]any); ok {
			entries, _ := m["map"].([]any)
			for _, entry := range entries {
				kv, _ := entry.(map[string]any)
				key, _ := kv["key"].(string)
				key = strings.ToLower(key)
				scope := inner
				if isRecursiveCTE(kv["value"]) {
					scope = append(slices.Clip(scope), key)
				}
				walkTables(kv["value"], scope, visit)
				inner = append(slices.Clip(inner), key)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if k == "cte_map" {
				continue
			}
			walkTables(v[k], inner, visit)
		}
	case []any:
		for _, e := range v {
			walkTables(e, ctes, visit)
		}
	}
}

// isRecursiveCTE reports whether the CTE definition v (a cte_map value) is
// a recursive CTE, whose body may name the CTE itself.
func isRecursiveCTE(v any) bool {
	def, _ := v.(map[string]any)
	query, _ := def["query"].(map[string]any)
	node, _ := query["node"].(map[string]any)
	t, _ := node["type"].(string)
	return t == "RECURSIVE_CTE_NODE"
}

// splitView splits a view name into its dataset and version: "sales@v2" is
// sales and 2, "sales" is sales and 0.
func splitView(view string) (string, int) {
	base := baseName(view)
	if base == view {
		return view, 0
	}
	var n int
	fmt.Sscanf(view[len(base)+2:], "%d", &n)
	return base, n
}

// A Derived is what [Engine.Derive] wrote.
type Derived struct {
	// Inputs are the datasets the statement read, as in [Engine.Inputs].
	Inputs []Input
	// Pinned gives, in the order of Inputs, the version each one read:
	// its Version, or for a plain name the version whose files the view
	// of the name had when the statement started (0 if none matched).
	Pinned []int
	Rows   int64 // rows written
	Bytes  int64 // bytes written to w
}

// Derive runs one read-only statement and writes its whole result to w as
// Parquet (DuckDB's writer and defaults, as [Engine.Export] with
// [Parquet]), with memory that does not grow with the rows, and says which
// dataset versions it read: what a dataset derived by SQL needs, in one
// pass. It checks and refuses the statement as [Engine.Inputs] does.
//
// Unlike Export it keeps no preview, so the statement runs once: a
// preview runs it under LIMIT, which for an aggregate costs the whole
// aggregation again. The file is written as Export writes it (a COPY of the
// checked statement into DuckDB's temp folder, see export.go for why that
// keeps the sandbox), then copied to w and removed. The query slot is
// given back before the copy.
func (e *Engine) Derive(ctx context.Context, query string, w io.Writer) (Derived, error) {
	start := time.Now()
	if isBlank(query) {
		return Derived{}, errs.New(errs.Invalid, "empty query: send one SQL statement, e.g. SELECT * FROM sales")
	}
	out, d, err := e.deriveFile(ctx, start, query)
	if err != nil {
		return Derived{}, err
	}
	defer out.root.Close()
	defer out.root.Remove(out.name)
	cw := &countingWriter{w: w}
	err = copyFile(ctx, out.root, out.name, cw)
	d.Bytes = cw.n
	if err != nil {
		if ctx.Err() != nil {
			return Derived{}, e.queryError(ctx, start, ctx.Err())
		}
		return Derived{}, err
	}
	return d, nil
}

// ChecksumQuery returns the statement whose one row is the count of the
// rows of the Parquet files at paths and the sum of their hashes, as text:
// the same for the same rows in any order.
func ChecksumQuery(paths ...string) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = QuoteString(p)
	}
	return "SELECT count(*), coalesce(sum(hash(*COLUMNS(*))), 0)::VARCHAR FROM read_parquet([" + strings.Join(quoted, ", ") + "])"
}

// deriveFile checks query, takes a query slot, and has DuckDB write its
// result as Parquet to a new file in its temp folder. The caller removes
// the file and closes the root.
func (e *Engine) deriveFile(ctx context.Context, start time.Time, query string) (*written, Derived, error) {
	// The files of every view as DuckDB has them once synced, to pin plain
	// names.
	var views map[string]string
	known := map[string]bool{}
	synced := func() {
		e.mu.Lock()
		views = maps.Clone(e.views)
		e.mu.Unlock()
		for name := range views {
			known[name] = true
		}
	}
	var out *written
	var d Derived
	err := e.withConn(ctx, start, query, nil, synced, func(dconn driver.Conn) error {
		stmt, tree, err := prepareRead(ctx, dconn, query)
		if err != nil {
			return err
		}
		stmt.Close()
		if tree == "" {
			return errs.New(errs.Invalid, "only the rows of a query can make a dataset (SELECT, WITH, VALUES, FROM, ...); EXPLAIN and PRAGMA cannot")
		}
		if d.Inputs, err = inputsOf(tree, known); err != nil {
			return err
		}
		d.Pinned = pin(d.Inputs, views)
		body, ok, err := statementBody(ctx, dconn, query, tree)
		if err != nil {
			return err
		}
		if !ok {
			return errs.New(errs.Invalid, "cannot run this statement: send it without the semicolon at its end")
		}
		out, err = copyParquet(ctx, dconn, body)
		if err == nil {
			d.Rows = out.Rows
		}
		return err
	})
	if err != nil {
		return nil, Derived{}, err
	}
	return out, d, nil
}

// pin returns the version each input reads: its own, or for a plain name
// the highest N whose view "name@vN" has the files of the view "name".
func pin(inputs []Input, views map[string]string) []int {
	pinned := make([]int, len(inputs))
	for i, in := range inputs {
		if in.Version != 0 {
			pinned[i] = in.Version
			continue
		}
		files, ok := views[in.Dataset]
		if !ok {
			continue
		}
		for name, f := range views {
			if base, n := splitView(name); base == in.Dataset && n > pinned[i] && f == files {
				pinned[i] = n
			}
		}
	}
	return pinned
}

// copyParquet has DuckDB write the rows of body, a checked query node, as
// Parquet to a new file in its temp folder. On error no file is left.
func copyParquet(ctx context.Context, conn driver.Conn, body string) (*written, error) {
	return copyToTemp(ctx, conn, "derive", "parquet", func(path string) string {
		return "COPY (\n" + body + "\n) TO " + QuoteString(path) + " (FORMAT parquet)"
	})
}
