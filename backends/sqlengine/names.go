package sqlengine

// A read-only statement can still call a function or name a view that
// should not run here. Three kinds are refused:
//
//   - What belongs to the host. DuckDB describes itself through settings and
//     catalog functions, and part of what it says is the server's:
//     allowed_directories and temp_directory are absolute paths into the data
//     directory, duckdb_databases() and duckdb_temporary_files() list files,
//     duckdb_extensions() the extension folder below the home directory, and
//     the definitions of the dataset views (duckdb_views(), sqlite_master,
//     ...) name their Parquet files by path.
//   - SQL handed over as text. query(), query_table(),
//     json_execute_serialized_sql() and the macros over them run a statement
//     or read a table named in a string, which no check sees before it runs.
//   - Changes. Table functions such as enable_profiling() and checkpoint()
//     change settings or state, which lock_configuration does not stop.
//
// The decision is made on DuckDB's own parse of the statement:
// json_serialize_sql gives its syntax tree, and every function the tree
// calls and every table it names is looked up in refusedTables and
// refusedScalars. The built-in views and macros over those functions
// (pg_settings, pragma_database_list, ...) are listed too;
// TestRefused_Wrappers checks DuckDB's catalog for any that is missing.
//
// json_serialize_sql serializes query nodes only. A statement that DuckDB
// prepares as a SELECT but cannot serialize is a PRAGMA that DuckDB rewrote
// into a query; it runs only when it is one of readPragmas. The pragma's
// name is the word after PRAGMA, and anything else fails closed.

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/errs"
)

// Why a function, view or macro is refused, and what to do instead.
const (
	dataHint       = "; list_datasets, DESCRIBE and SHOW TABLES tell what data there is"
	showsSettings  = "it shows DuckDB's settings, which hold the server's file paths" + dataHint
	showsDatabases = "it shows the attached databases and their files" + dataHint
	showsFiles     = "it shows files of the server by their paths" + dataHint
	showsViews     = "it shows the definitions of the views, which name the server's files" + dataHint
	runsText       = "it runs SQL given as text, which cannot be checked before it runs; write that SQL as the statement itself"
	namesText      = "it reads a table named in a string, which cannot be checked before it runs; name the table in the statement itself"
	changesState   = "it changes the database's settings or state, and only reads run here"
	plansText      = "it plans SQL given as text, and the plan shows settings and the files of views; EXPLAIN shows a plan"
)

// refusedTables maps the lower-case name of each table function, view and
// table macro that is refused to the reason; a name that holds a dot is
// refused only when written with that schema. refusedScalars does the same
// for scalar functions. They are apart because one name can be both:
// histogram is a table macro over query_table and also an aggregate, which
// is fine.
var (
	refusedTables = map[string]string{
		"duckdb_settings":             showsSettings,
		"pg_settings":                 showsSettings,
		"duckdb_profiling_settings":   showsSettings,
		"duckdb_databases":            showsDatabases,
		"pragma_database_list":        showsDatabases,
		"pg_database":                 showsDatabases,
		"duckdb_temporary_files":      showsFiles,
		"duckdb_extensions":           showsFiles,
		"duckdb_external_file_cache":  showsFiles,
		"duckdb_views":                showsViews,
		"information_schema.views":    showsViews,
		"pg_views":                    showsViews,
		"sqlite_master":               showsViews,
		"sqlite_schema":               showsViews,
		"sqlite_temp_master":          showsViews,
		"sqlite_temp_schema":          showsViews,
		"query":                       runsText,
		"json_execute_serialized_sql": runsText,
		"query_table":                 namesText,
		"histogram_values":            namesText,
		"histogram":                   namesText,
		"checkpoint":                  changesState,
		"force_checkpoint":            changesState,
		"enable_profiling":            changesState,
		"disable_profiling":           changesState,
		"enable_logging":              changesState,
		"disable_logging":             changesState,
		"truncate_duckdb_logs":        changesState,
		"enable_peg_parser":           changesState,
		"disable_peg_parser":          changesState,
	}
	refusedScalars = map[string]string{
		"current_setting":     showsSettings,
		"pg_get_viewdef":      showsViews,
		"json_serialize_plan": plansText,
	}
)

// readPragmas are the PRAGMAs that may run: each reads the catalog or
// DuckDB's build, and none shows a path.
var readPragmas = map[string]bool{
	"collations":           true,
	"database_size":        true,
	"functions":            true,
	"platform":             true,
	"show":                 true,
	"show_databases":       true,
	"show_tables":          true,
	"show_tables_expanded": true,
	"storage_info":         true,
	"table_info":           true,
	"user_agent":           true,
	"version":              true,
}

// checkQuery refuses a statement that DuckDB prepared as a SELECT when it
// uses a refused name. It returns the statement's syntax tree as
// json_serialize_sql writes it, or "" for a PRAGMA, whose rows cannot be
// capped by wrapping it (see rowcap.go).
func checkQuery(ctx context.Context, conn driver.Conn, query string) (string, error) {
	tree, parseErr, err := serialize(ctx, conn, query)
	if err != nil {
		return "", err
	}
	if parseErr != "" {
		return "", checkPragma(query, parseErr)
	}
	return tree, checkTree(tree)
}

// checkTree refuses the query whose syntax tree is tree when it uses a
// refused name.
func checkTree(tree string) error {
	var parsed any
	if err := json.Unmarshal([]byte(tree), &parsed); err != nil {
		return fmt.Errorf("sqlengine: read syntax tree: %w", err)
	}
	var refusal error
	walkNames(parsed, func(name string, table bool) bool {
		why, ok := refusedScalars[name]
		if !ok && table {
			why, ok = refusedTables[name]
		}
		if ok {
			refusal = errs.New(errs.Invalid, "%s is not allowed here: %s", name, why)
		}
		return !ok
	})
	return refusal
}

// serialize asks DuckDB for the syntax tree of query, as JSON, or recalls
// it (see trees). DuckDB's refusal to give one (for a statement that is not
// a query node) comes back as parseErr, with err nil; err is a fault.
func serialize(ctx context.Context, conn driver.Conn, query string) (tree, parseErr string, err error) {
	if tree, parseErr, ok := trees.get(query); ok {
		return tree, parseErr, nil
	}
	stmt, err := serializer(conn)
	if err != nil {
		return "", "", fmt.Errorf("sqlengine: serialize statement: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: query}})
	if err != nil {
		return "", "", fmt.Errorf("sqlengine: serialize statement: %w", err)
	}
	defer rows.Close()
	row := make([]driver.Value, 1)
	if err := rows.Next(row); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("no result")
		}
		return "", "", fmt.Errorf("sqlengine: serialize statement: %w", err)
	}
	tree, _ = row[0].(string)
	var head struct {
		Error   bool   `json:"error"`
		Message string `json:"error_message"`
	}
	if err := json.Unmarshal([]byte(tree), &head); err != nil {
		return "", "", fmt.Errorf("sqlengine: read syntax tree: %w", err)
	}
	if head.Error {
		tree, parseErr = "", head.Message
	}
	trees.put(query, tree, parseErr)
	return tree, parseErr, nil
}

// serializers holds, per driver connection, the statement serialize runs,
// prepared once: preparing it cost more than running it (about 140 µs of
// the 320 µs a check took). A connection serves one caller at a time, and
// so does its statement. Engine.Close closes the statements of the
// connections it handed out.
var serializers sync.Map // driver.Conn -> *duckdb.Stmt

// serializer returns conn's statement of serialize.
func serializer(conn driver.Conn) (*duckdb.Stmt, error) {
	if s, ok := serializers.Load(conn); ok {
		return s.(*duckdb.Stmt), nil
	}
	s, err := prepareOne(conn, "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR")
	if err != nil {
		return nil, err
	}
	serializers.Store(conn, s)
	return s, nil
}

// forgetSerializer closes conn's statement of serialize, if it has one.
func forgetSerializer(conn any) {
	if s, ok := serializers.LoadAndDelete(conn); ok {
		s.(*duckdb.Stmt).Close()
	}
}

// walkNames calls visit with the lower-case name of every function that
// the syntax tree v calls and every table or view it names (a table written
// with its schema also as "schema.name"), until visit returns false; table
// tells a table function, table or view from a scalar or aggregate
// function. DuckDB matches names without regard to case.
func walkNames(v any, visit func(name string, table bool) bool) bool {
	switch v := v.(type) {
	case map[string]any:
		// Function calls, window functions and macros all carry a
		// function_name; the call of a table function sits in a
		// TABLE_FUNCTION node as well.
		if name, ok := v["function_name"].(string); ok && !visit(strings.ToLower(name), false) {
			return false
		}
		switch t, _ := v["type"].(string); t {
		case "BASE_TABLE", "SHOW_REF":
			name, _ := v["table_name"].(string)
			if !visit(strings.ToLower(name), true) {
				return false
			}
			if schema, _ := v["schema_name"].(string); schema != "" && !visit(strings.ToLower(schema+"."+name), true) {
				return false
			}
		case "TABLE_FUNCTION":
			if fn, ok := v["function"].(map[string]any); ok {
				if name, ok := fn["function_name"].(string); ok && !visit(strings.ToLower(name), true) {
					return false
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if !walkNames(v[k], visit) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !walkNames(e, visit) {
				return false
			}
		}
	}
	return true
}

// checkPragma lets a statement that DuckDB would not serialize (saying
// parseErr) run only when it is one of readPragmas.
func checkPragma(query, parseErr string) error {
	w, i := word(query, skipSpace(query, 0))
	if !strings.EqualFold(w, "PRAGMA") {
		return errs.New(errs.Invalid, "cannot check this statement (DuckDB: %s); write it as a plain SELECT", parseErr)
	}
	name, _ := word(query, skipSpace(query, i))
	if !readPragmas[strings.ToLower(name)] {
		return errs.New(errs.Invalid, "PRAGMA %s is not allowed here; the PRAGMAs that run are %s (DESCRIBE, SHOW TABLES and SUMMARIZE answer most questions)",
			name, strings.Join(slices.Sorted(maps.Keys(readPragmas)), ", "))
	}
	return nil
}
