package sqlengine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/errs"
)

// TestEngine_Query_RefusedNames tries every way found to read the server's
// paths out of DuckDB, to run SQL given as text, and to change settings
// from a read: each is refused, says why, and shows no path.
func TestEngine_Query_RefusedNames(t *testing.T) {
	dir := t.TempDir()
	tmp := t.TempDir()
	e, _ := newTestEngine(t, Config{TempDir: tmp}, dir, salesFixture(t, dir)...)
	for _, tc := range []struct{ query, want string }{
		{"SELECT current_setting('temp_directory')", "current_setting is not allowed here: it shows DuckDB's settings"},
		{"SELECT current_setting('allowed_directories')", "current_setting is not allowed"},
		{"SELECT current_setting('home_directory')", "current_setting is not allowed"},
		{"SELECT CURRENT_SETTING('temp_directory')", "current_setting is not allowed"},
		{"SELECT system.main.current_setting('temp_directory')", "current_setting is not allowed"},
		{"SELECT ('temp_directory').current_setting()", "current_setting is not allowed"},
		{"SELECT region FROM sales WHERE region <> current_setting('temp_directory')", "current_setting is not allowed"},
		{"WITH s AS (SELECT value FROM duckdb_settings()) SELECT * FROM s", "duckdb_settings is not allowed"},
		{"SELECT * FROM sales WHERE EXISTS (SELECT 1 FROM duckdb_settings() WHERE value LIKE '/%')", "duckdb_settings is not allowed"},
		{"SELECT name, value FROM duckdb_settings()", "duckdb_settings is not allowed"},
		{"SELECT * FROM pg_settings", "pg_settings is not allowed"},
		{"FROM pg_catalog.PG_SETTINGS", "pg_settings is not allowed"},
		{"SUMMARIZE pg_settings", "pg_settings is not allowed"},
		{"SELECT * FROM duckdb_profiling_settings()", "duckdb_profiling_settings is not allowed"},
		{"SELECT path FROM duckdb_temporary_files()", "duckdb_temporary_files is not allowed here: it shows files of the server"},
		{"SELECT path FROM duckdb_databases()", "duckdb_databases is not allowed here: it shows the attached databases"},
		{"SELECT * FROM duckdb_databases", "duckdb_databases is not allowed"},
		{"SELECT * FROM pg_database", "pg_database is not allowed"},
		{"SELECT * FROM pragma_database_list", "pragma_database_list is not allowed"},
		{"SELECT install_path FROM duckdb_extensions()", "duckdb_extensions is not allowed"},
		{"SELECT * FROM duckdb_external_file_cache()", "duckdb_external_file_cache is not allowed"},
		{"SELECT * FROM query('SELECT current_setting(''temp_directory'')')", "query is not allowed here: it runs SQL given as text"},
		{"SELECT * FROM query_table('pg_settings')", "query_table is not allowed here: it reads a table named in a string"},
		{"SELECT * FROM histogram_values('pg_settings', name)", "histogram_values is not allowed"},
		{"FROM histogram('pg_settings', name)", "histogram is not allowed"},
		{"SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", "json_execute_serialized_sql is not allowed"},
		{"SELECT json_serialize_plan('SELECT current_setting(''allowed_directories'')::VARCHAR', optimize := true)", "json_serialize_plan is not allowed here: it plans SQL given as text"},
		{"SELECT json_serialize_plan('SELECT * FROM sales')", "json_serialize_plan is not allowed"},
		{"EXPLAIN SELECT current_setting('temp_directory')", "current_setting is not allowed"},
		{"EXPLAIN ANALYZE SELECT * FROM duckdb_temporary_files()", "duckdb_temporary_files is not allowed"},
		{"SELECT sql FROM duckdb_views()", "duckdb_views is not allowed here: it shows the definitions of the views"},
		{"SELECT view_definition FROM information_schema.views", "information_schema.views is not allowed"},
		{"SELECT definition FROM pg_views", "pg_views is not allowed"},
		{"SELECT sql FROM sqlite_master", "sqlite_master is not allowed"},
		{"SELECT pg_get_viewdef(view_oid) FROM duckdb_tables()", "pg_get_viewdef is not allowed"},
		{"SELECT * FROM enable_profiling()", "enable_profiling is not allowed here: it changes the database's settings"},
		{"SELECT * FROM enable_logging()", "enable_logging is not allowed"},
		{"SELECT * FROM disable_peg_parser()", "disable_peg_parser is not allowed"},
		{"SELECT * FROM checkpoint()", "checkpoint is not allowed"},
		{"PRAGMA database_list", "PRAGMA database_list is not allowed here; the PRAGMAs that run are collations, database_size,"},
		{"pragma /* c */ Database_List", "PRAGMA Database_List is not allowed"},
		{"PRAGMA extension_versions", "PRAGMA extension_versions is not allowed"},
		{"PRAGMA \"database_list\"", "PRAGMA  is not allowed"},
	} {
		_, err := e.Query(context.Background(), tc.query, 0)
		wantErr(t, tc.query, err, errs.Invalid, tc.want)
		if err != nil && (strings.Contains(err.Error(), tmp) || strings.Contains(err.Error(), dir)) {
			t.Errorf("%s: the error shows a path: %s", tc.query, err)
		}
	}
}

// TestEngine_Query_NamesAllowed checks that the refusals above leave
// ordinary statements alone, names that merely look alike included.
func TestEngine_Query_NamesAllowed(t *testing.T) {
	dir := t.TempDir()
	e, _ := newTestEngine(t, Config{}, dir, salesFixture(t, dir)...)
	for _, q := range []string{
		"SELECT 1 AS current_setting, 2 AS query",
		"SELECT query FROM (SELECT 'x' AS query)",
		"SELECT 'current_setting(''temp_directory'')' AS s",
		"SELECT region, sum(qty) FROM sales GROUP BY ALL ORDER BY 1",
		"SELECT histogram(region) FROM sales",
		"SELECT current_date, current_schema(), version()",
		"SELECT table_name FROM information_schema.tables ORDER BY 1",
		"SELECT table_name FROM information_schema.columns",
		"SELECT table_name, table_type FROM information_schema.tables",
		"SELECT relname FROM pg_class",
		"SELECT function_name FROM duckdb_functions() LIMIT 3",
		"SELECT * FROM pragma_table_info('sales')",
		"SHOW TABLES",
		"SHOW ALL TABLES",
		"DESCRIBE sales",
		"SUMMARIZE sales",
		"PRAGMA table_info('sales')",
		"PRAGMA show_tables",
		"PRAGMA version",
		"PRAGMA platform",
		"PRAGMA database_size",
		"EXPLAIN SELECT * FROM sales",
	} {
		if _, err := e.Query(context.Background(), q, 0); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// TestRefused_Wrappers reads DuckDB's catalog for built-in views and
// macros defined over something refused: each must be refused too, or a
// query could reach what it hides under another name. Definitions are read
// the way queries are, through DuckDB's parse.
func TestRefused_Wrappers(t *testing.T) {
	// Views over duckdb_views() that take only names and comments from it,
	// never its sql column: refusing them would cost the usual way to list
	// tables for nothing.
	showNoDefinitions := map[string]bool{
		"information_schema.tables": true,
		"pg_catalog.pg_class":       true,
		"pg_catalog.pg_description": true,
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Each definition as a query: a view's without its CREATE VIEW ... AS,
	// a scalar macro's as the list of a SELECT.
	rows, err := db.Query(`
		SELECT schema_name, view_name, regexp_replace(sql, '^CREATE (TEMP )?VIEW \S+ AS ', '')
		FROM duckdb_views() WHERE internal AND sql IS NOT NULL
		UNION ALL
		SELECT schema_name, function_name, CASE function_type WHEN 'macro' THEN 'SELECT ' ELSE '' END || macro_definition
		FROM duckdb_functions() WHERE macro_definition IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	type def struct{ schema, name, query string }
	var defs []def
	for rows.Next() {
		var d def
		if err := rows.Scan(&d.schema, &d.name, &d.query); err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def{strings.ToLower(d.schema), strings.ToLower(d.name), d.query})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(defs) < 100 {
		t.Fatalf("found %d built-in views and macros; the catalog query is wrong", len(defs))
	}

	refused := func(name string, table bool) bool {
		_, ok := refusedScalars[name]
		if _, isTable := refusedTables[name]; table && isTable {
			ok = true
		}
		return ok
	}
	var missing []string
	for _, d := range defs {
		full := d.schema + "." + d.name
		if refused(d.name, true) || refused(full, true) || showNoDefinitions[full] {
			continue
		}
		var tree string
		if err := db.QueryRow("SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", d.query).Scan(&tree); err != nil {
			t.Fatal(err)
		}
		var parsed map[string]any
		if err := json.Unmarshal([]byte(tree), &parsed); err != nil {
			t.Fatal(err)
		}
		if parsed["error"] == true {
			t.Errorf("cannot parse the definition of %s (%v): %s", full, parsed["error_message"], d.query)
			continue
		}
		walkNames(parsed, func(used string, table bool) bool {
			if refused(used, table) {
				missing = append(missing, full+" (uses "+used+")")
				return false
			}
			return true
		})
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("built-in %s is not refused: add it to refusedTables or refusedScalars", m)
	}
}

// TestRefused_Exist checks that every refused name is one DuckDB knows, so
// that a misspelt entry cannot pass for a refusal.
func TestRefused_Exist(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	known := map[string]bool{}
	rows, err := db.Query(`
		SELECT lower(function_name) FROM duckdb_functions()
		UNION ALL SELECT lower(view_name) FROM duckdb_views() WHERE schema_name IN ('main', 'pg_catalog')
		UNION ALL SELECT lower(schema_name || '.' || view_name) FROM duckdb_views()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		known[name] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, names := range []map[string]string{refusedTables, refusedScalars} {
		for name := range names {
			if !known[name] {
				t.Errorf("DuckDB has no function or view %s", name)
			}
		}
	}
}

// Each connection prepares the syntax-tree statement once and reuses it for
// every query; closing the engine closes those statements.
func TestSerializer_PerConnection(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxConns: 1}, t.TempDir())
	fresh := func() string { return fmt.Sprintf("SELECT %d", time.Now().UnixNano()) } // not in trees
	mustQuery(t, e, fresh(), 1)
	var conns []any
	e.conns.Range(func(c, _ any) bool { conns = append(conns, c); return true })
	if len(conns) != 1 {
		t.Fatalf("one slot handed out %d connections", len(conns))
	}
	first, ok := serializers.Load(conns[0])
	if !ok {
		t.Fatal("the connection has no statement of serialize after a query")
	}
	mustQuery(t, e, fresh(), 1)
	if again, _ := serializers.Load(conns[0]); again != first {
		t.Error("a second query prepared the statement again")
	}
	e.Close()
	if _, ok := serializers.Load(conns[0]); ok {
		t.Error("the statement outlived its engine")
	}
}
