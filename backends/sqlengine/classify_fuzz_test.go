package sqlengine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/errs"
)

// classifySeeds are statements for FuzzClassify: reads of every kind the
// engine allows, and writes, settings, host information and side effects
// of every kind it must refuse, plainly and in disguise (comments, case,
// EXPLAIN, several statements, SQL passed as text). "DATA" stands for the
// sandbox's dataset folder.
var classifySeeds = []string{
	// Reads.
	"SELECT 1",
	"select * from fz",
	"FROM sales",
	"FROM sales SELECT region, sum(qty) GROUP BY ALL ORDER BY 1",
	"WITH t AS (SELECT 1 AS a) SELECT * FROM t",
	"VALUES (1, 'a'), (2, 'b')",
	"DESCRIBE sales",
	"SHOW TABLES",
	"SUMMARIZE sales",
	"PIVOT sales ON region IN ('north', 'south') USING sum(qty)",
	"UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b",
	"SELECT * FROM read_parquet('DATA/sales.parquet')",
	"SELECT * FROM range(1000000) ORDER BY 1 DESC",
	"EXPLAIN SELECT 1",
	"EXPLAIN ANALYZE SELECT * FROM sales",
	"EXPLAIN (FORMAT JSON) SELECT 1",
	"PRAGMA version",
	"PRAGMA show_tables",
	"CALL pragma_version()",
	"SELECT 1;",
	" ;; SELECT 1 ;; ",
	"SELECT 1 -- trailing comment",
	"SELECT 1 /* unterminated",
	"SELECT $$)$$",
	"SELECT ')' AS \"(\"",
	// Writes and changes to the database.
	"INSERT INTO fz VALUES (9)",
	"INSERT OR REPLACE INTO fz VALUES (1)",
	"UPDATE fz SET x = 2",
	"DELETE FROM fz",
	"TRUNCATE fz",
	"MERGE INTO fz USING (SELECT 5 AS x) s ON fz.x = s.x WHEN NOT MATCHED THEN INSERT VALUES (s.x)",
	"DROP TABLE fz",
	"DROP VIEW sales",
	"ALTER TABLE fz ADD COLUMN y INT",
	"ALTER TABLE fz RENAME TO fz2",
	"CREATE TABLE z AS SELECT 1",
	"CREATE TEMP TABLE t (x INT)",
	"CREATE OR REPLACE VIEW sales AS SELECT 0",
	"CREATE MACRO m(a) AS a",
	"CREATE SEQUENCE s",
	"CREATE TYPE mood AS ENUM ('a')",
	"CREATE SCHEMA s2",
	"CREATE INDEX i ON fz (x)",
	"CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')",
	"COMMENT ON TABLE fz IS 'x'",
	"COPY fz TO 'DATA/out.csv'",
	"COPY (SELECT 1) TO 'DATA/out.parquet' (FORMAT parquet)",
	"COPY fz FROM 'DATA/sales.parquet'",
	"EXPORT DATABASE 'DATA/export'",
	"IMPORT DATABASE 'DATA/export'",
	"ATTACH ':memory:' AS m2",
	"ATTACH 'DATA/new.duckdb' AS d",
	"DETACH memory",
	"USE system",
	"SET threads = 2",
	"RESET threads",
	"SET VARIABLE v = 1",
	"SET lock_configuration = false",
	"CHECKPOINT",
	"FORCE CHECKPOINT",
	"VACUUM",
	"ANALYZE",
	"INSTALL httpfs",
	"LOAD httpfs",
	"UPDATE EXTENSIONS",
	"BEGIN TRANSACTION",
	"PREPARE p AS DELETE FROM fz",
	"EXECUTE p",
	"DEALLOCATE p",
	"PRAGMA enable_profiling",
	"PRAGMA threads = 1",
	"PRAGMA import_database('DATA/export')",
	"PRAGMA copy_database('memory', 'system')",
	"PRAGMA add_parquet_key('k', '0123456789112345')",
	"CALL enable_logging()",
	"CALL checkpoint()",
	"SELECT * FROM checkpoint()",
	"SELECT * FROM force_checkpoint()",
	"SELECT * FROM truncate_duckdb_logs()",
	"SELECT * FROM disable_logging()",
	"SELECT * FROM disable_profiling()",
	"SELECT setseed(0.5)",
	"SELECT nextval('s')",
	// Disguises.
	"/* c */ DELETE FROM fz",
	"-- c\nDELETE FROM fz",
	"dElEtE fRoM fz",
	"SELECT 1; DELETE FROM fz",
	"DELETE FROM fz; SELECT 1",
	"SELECT 1; SELECT 2",
	"EXPLAIN ANALYZE DELETE FROM fz",
	"EXPLAIN ANALYZE CREATE TABLE z AS SELECT 1",
	"EXPLAIN (ANALYZE, FORMAT 'a)b') INSERT INTO fz VALUES (1)",
	"EXPLAIN ANALYZE (DELETE FROM fz)",
	"EXPLAIN EXPLAIN ANALYZE DELETE FROM fz",
	"EXPLAIN /* ) */ ANALYZE COPY fz TO 'DATA/x.csv'",
	"WITH x AS (DELETE FROM fz RETURNING *) SELECT * FROM x",
	"SELECT * FROM (DELETE FROM fz RETURNING *)",
	"DESCRIBE DELETE FROM fz",
	"SUMMARIZE DELETE FROM fz",
	"PIVOT sales ON region USING sum(qty)",
	"SELECT * FROM query('DELETE FROM fz')",
	"SELECT * FROM query_table('fz')",
	"SELECT json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
	"SELECT * FROM json_execute_serialized_sql(json_serialize_sql('DELETE FROM fz'))",
	"SELECT 1) ; DELETE FROM fz; SELECT * FROM (SELECT 1",
	"SELECT 1 /*) ; DELETE FROM fz; --*/",
	"SELECT * FROM arrow_scan(0, 0, 0)",
	// What belongs to the host.
	"SELECT current_setting('temp_directory')",
	"SELECT current_setting('allowed_directories')",
	"SELECT * FROM duckdb_settings()",
	"FROM duckdb_databases()",
	"SELECT * FROM duckdb_temporary_files()",
	"SELECT * FROM pragma_database_list",
	"SELECT * FROM pg_settings",
	"PRAGMA database_list",
	"SELECT * FROM glob('DATA/*')",
	"SELECT * FROM read_text('/etc/passwd')",
	"SELECT * FROM read_csv('DATA/../../etc/passwd')",
	"SELECT getenv('HOME')",
	"SELECT * FROM read_text('~/notes.txt')",
	"SELECT * FROM duckdb_logs",
	"SELECT * FROM duckdb_dependencies()",
	"SELECT * FROM duckdb_columns()",
	"SELECT filename FROM sales",
	"SELECT * FROM read_parquet('DATA/*.parquet', filename = true)",
	"SELECT file_name FROM parquet_metadata('DATA/sales.parquet')",
	"EXPLAIN SELECT * FROM sales",
	"EXPLAIN ANALYZE SELECT * FROM sales",
	"SELECT * FROM glob('/**/*.parquet')",
	"SELECT * FROM glob('*')",
	"SELECT * FROM duckdb_memory()",
}

// FuzzClassify checks the classifier that decides what query_sql may run
// (prepareRead), on a real sandbox opened with [Open] and holding a table,
// a view over a Parquet file in its dataset folder, and a temp folder. Its
// seeds include a call of every table function and pragma DuckDB has.
//
//   - prepareRead refuses with an errs.Invalid error or DuckDB's own
//     (never internal or fatal) error, or accepts;
//   - whatever it accepted is then run through the engine's own path (run:
//     classify, cap the rows, execute) and never changes the database:
//     after every statement, accepted or not, the tables and their rows,
//     views, macros, sequences, types, schemas, indexes, attached databases,
//     variables, prepared statements and settings are as before, and no
//     file appeared or changed in the dataset folder (secrets and
//     extensions cannot be listed in the sandbox: listing them reads the
//     home folder);
//   - neither the rows of an accepted statement nor the error of any shows
//     the sandbox's absolute path (the folder that holds its dataset and
//     temp folders) or the home folder, unless the statement names it;
//   - no statement leaves the database invalidated.
func FuzzClassify(f *testing.F) {
	if testing.Short() {
		f.Skip("opens DuckDB and runs some 300 statements")
	}
	root := filepath.Join(f.TempDir(), "sandbox")
	sb := newFuzzSandbox(f, root)
	f.Cleanup(func() { sb.close() })
	for _, s := range classifySeeds {
		f.Add(s)
	}
	// Every table function and pragma DuckDB has, called plainly: any of
	// them may change state or show the host, as enable_logging() did.
	for _, s := range catalogSeeds(f, sb) {
		f.Add(s)
	}
	before := sb.fingerprint(f)
	f.Fuzz(func(t *testing.T, query string) {
		query = strings.ReplaceAll(query, "DATA", sb.data)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var accepted bool
		var res *Result
		var prepErr, runErr error
		err := sb.conn.Raw(func(dc any) error {
			dconn := dc.(driver.Conn)
			stmt, _, err := prepareRead(ctx, dconn, query)
			if prepErr = err; err != nil {
				return nil
			}
			stmt.Close()
			accepted = true
			res, runErr = run(ctx, dconn, query, 20)
			return nil
		})
		if err != nil {
			t.Fatalf("connection: %v", err)
		}
		if prepErr != nil && ctx.Err() == nil {
			var dErr *duckdb.Error
			if errs.KindOf(prepErr) != errs.Invalid && !errors.As(prepErr, &dErr) {
				t.Fatalf("%q: refused with a fault, not a caller's mistake: %v", query, prepErr)
			}
		}
		for _, err := range []error{prepErr, runErr} {
			var dErr *duckdb.Error
			if errors.As(err, &dErr) && (dErr.Type == duckdb.ErrorTypeInternal || dErr.Type == duckdb.ErrorTypeFatal) {
				t.Fatalf("%q: DuckDB failed with an internal error, which invalidates the database: %v", query, err)
			}
		}
		if after := sb.fingerprint(t); after != before {
			// The next statement gets a database as it was at the start.
			sb.close()
			sb = newFuzzSandbox(t, root)
			t.Fatalf("%q (accepted %v, refused with %v, ran with error %v) changed the database:\n%s", query, accepted, prepErr, runErr, diffLines(before, after))
		}
		// Neither rows nor errors show where the server keeps its files.
		shown := fmt.Sprint(prepErr, runErr)
		if res != nil {
			shown += fmt.Sprint(res.Columns, res.Rows)
		}
		for _, p := range sb.hostPaths {
			if strings.Contains(shown, p) && !strings.Contains(query, p) {
				t.Fatalf("%q (accepted %v) showed the host path %s: %.300s", query, accepted, p, shown)
			}
		}
	})
}

// catalogSeeds returns a call of each table function and pragma in the
// sandbox's catalog.
func catalogSeeds(tb testing.TB, sb *fuzzSandbox) []string {
	tb.Helper()
	rows, err := sb.conn.QueryContext(context.Background(),
		"SELECT DISTINCT function_name, function_type FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro', 'pragma') ORDER BY ALL")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			tb.Fatal(err)
		}
		if typ == "pragma" {
			out = append(out, "PRAGMA "+name)
		} else {
			out = append(out, "SELECT * FROM "+name+"()")
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// A fuzzSandbox is a database as the engine opens one, on one connection
// that every statement and every fingerprint uses (temporary objects belong
// to a connection).
type fuzzSandbox struct {
	root, data, temp string   // absolute paths
	hostPaths        []string // root and the home folder: what no result may show
	db               *sql.DB
	conn             *sql.Conn
}

// newFuzzSandbox makes a sandbox afresh in the folder dir, so that every
// sandbox made there has the same paths; the caller closes it.
func newFuzzSandbox(tb testing.TB, dir string) *fuzzSandbox {
	tb.Helper()
	root, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	sb := &fuzzSandbox{root: root, data: filepath.Join(root, "data"), temp: filepath.Join(root, "tmp"), hostPaths: []string{root}}
	if home, err := os.UserHomeDir(); err == nil && len(home) > 1 {
		sb.hostPaths = append(sb.hostPaths, home+"/")
	}
	if err := os.Mkdir(sb.data, 0o755); err != nil {
		tb.Fatal(err)
	}
	// The Parquet file is written by a database of its own, unsandboxed.
	plain, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	_, err = plain.Exec("COPY (SELECT * FROM (VALUES ('north', 1::BIGINT), ('south', 2)) v(region, qty)) TO " +
		QuoteString(filepath.Join(sb.data, "sales.parquet")) + " (FORMAT parquet)")
	plain.Close()
	if err != nil {
		tb.Fatal(err)
	}

	sb.db, err = Open(Config{TempDir: sb.temp, Threads: 1, MemoryLimit: "256MB", MaxConns: 1}, []string{sb.data})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if sb.conn, err = sb.db.Conn(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, s := range []string{
		"CREATE TABLE fz (x INTEGER)",
		"INSERT INTO fz VALUES (1), (2), (3)",
		"CREATE VIEW sales AS SELECT * FROM read_parquet(" + QuoteString(filepath.Join(sb.data, "sales.parquet")) + ")",
	} {
		if _, err := sb.conn.ExecContext(ctx, s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	return sb
}

// close closes the sandbox's connection and database.
func (sb *fuzzSandbox) close() {
	if sb.conn != nil {
		sb.conn.Close()
	}
	sb.db.Close()
}

// fingerprint describes the database and the dataset folder, one fact a
// line, for comparing before and after a statement.
func (sb *fuzzSandbox) fingerprint(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	var b strings.Builder
	// One query, so that a fingerprint costs one round trip.
	var parts []string
	for _, q := range []string{
		"SELECT database_name, schema_name, table_name, column_count, estimated_size FROM duckdb_tables()",
		"SELECT * FROM fz",
		"SELECT database_name, schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal",
		"SELECT database_name, schema_name, function_name, function_type FROM duckdb_functions() WHERE NOT internal",
		"SELECT database_name, schema_name, sequence_name FROM duckdb_sequences()",
		"SELECT database_name, schema_name, type_name FROM duckdb_types() WHERE NOT internal",
		"SELECT database_name, schema_name FROM duckdb_schemas()",
		"SELECT database_name, table_name, index_name FROM duckdb_indexes()",
		"SELECT database_name, path, type, readonly FROM duckdb_databases()",
		"SELECT name, value FROM duckdb_variables()",
		"SELECT name FROM duckdb_prepared_statements()",
		"SELECT name, value FROM duckdb_settings()",
		"SELECT current_database() AS db, current_schema() AS schema",
	} {
		parts = append(parts, "SELECT "+QuoteString(q)+" AS q, CAST(r AS VARCHAR) AS fact FROM ("+q+") r")
	}
	rows, err := sb.conn.QueryContext(ctx, strings.Join(parts, "\nUNION ALL\n")+"\nORDER BY ALL")
	if err != nil {
		tb.Fatalf("fingerprint: %v", err)
	}
	for rows.Next() {
		var q, fact string
		if err := rows.Scan(&q, &fact); err != nil {
			tb.Fatalf("fingerprint: %v", err)
		}
		fmt.Fprintf(&b, "%.40s: %s\n", q, fact)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("fingerprint: %v", err)
	}
	rows.Close()
	err = filepath.WalkDir(sb.data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var sum [32]byte
		if d.Type().IsRegular() {
			content, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = sha256.Sum256(content)
		}
		fmt.Fprintf(&b, "file %s %v %d %x\n", p, info.Mode(), info.Size(), sum[:8])
		return nil
	})
	if err != nil {
		tb.Fatalf("fingerprint: %v", err)
	}
	return b.String()
}

// diffLines lists the lines of a and b that the other lacks.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := make(map[string]bool)
		for l := range strings.SplitSeq(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out strings.Builder
	for l := range strings.SplitSeq(a, "\n") {
		if !inb[l] {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for l := range strings.SplitSeq(b, "\n") {
		if !ina[l] {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}
