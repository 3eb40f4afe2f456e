// Package sqlengine runs read-only SQL over an agent's datasets with DuckDB.
//
// Datasets are Parquet files owned by the catalog. The engine shows each one
// as a view under its name (its current version) and each past version as a
// view named "name@vN", which users query as a quoted identifier:
//
//	SELECT * FROM "sales@v2"
//
// Design notes:
//
//   - Sandbox. [Open] starts a fresh in-memory DuckDB that cannot install or
//     auto-load extensions, can touch files only below the allowed
//     directories and its own temp folder, and then locks its configuration
//     so no statement can undo any of that. DuckDB allows its temp folder
//     without being told (".tmp" in the working directory unless set), so
//     every database gets a folder that Open has just made (see tempdir.go).
//   - Refused names. Settings, temp files, attached databases, extensions
//     and view definitions carry the server's absolute paths, and a few
//     table functions change settings despite the lock; statements that use
//     them are refused by DuckDB's own parse of the statement (names.go).
//   - Read-only by DuckDB's parser. A query is prepared with the driver's
//     non-context Prepare, which refuses more than one statement without
//     running any of them, and is allowed only when DuckDB reports a SELECT
//     (which includes WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT and the
//     PRAGMAs DuckDB rewrites to SELECT) or an EXPLAIN of a SELECT. No regular
//     expression decides what may run.
//   - Bounded results. [Engine.Query] returns at most maxRows rows and says
//     when there were more. The cap reaches DuckDB, which stops after
//     maxRows+1 rows (rowcap.go), and every database has a memory limit, a
//     quarter of the memory by default (memory.go).
//   - Slots. At most Config.MaxConns queries run at once; the others wait,
//     within their own timeout, and can be told that they are waiting.
//   - Context everywhere. The query's context reaches DuckDB, which
//     interrupts the running query when it is cancelled or times out.
//   - JSON-safe values. Every value is converted so that encoding/json holds
//     it exactly (see jsonvalue.go).
package sqlengine

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// DefaultMaxConns is the number of queries that may run at once when
// Config.MaxConns is 0.
const DefaultMaxConns = 4

// DefaultMaxRows is the number of rows [Engine.Query] returns when its
// maxRows argument is 0 or less.
const DefaultMaxRows = 100

// Config tunes DuckDB. TempDir is required; the zero value of every other
// field means its default.
type Config struct {
	// TempDir is the folder DuckDB spills to when a query needs more memory
	// than MemoryLimit. DuckDB lets every query read its temp folder, so it
	// must be one of the server's own, inside the data directory: Open
	// removes whatever is there and makes the folder afresh.
	TempDir string

	Threads int // DuckDB threads; 0 = number of CPUs

	// MemoryLimit is DuckDB's memory_limit, e.g. "2GB". "" means a quarter
	// of the machine's memory, or of the cgroup's limit when that is lower
	// (see memory.go), so that DuckDB leaves the rest of the process room;
	// DuckDB's own default is 80%. A query that needs more fails, or spills
	// to TempDir where it can.
	MemoryLimit string

	MaxConns int // queries that run at once (and pool size); 0 = DefaultMaxConns (4)
}

// maxConns is the number of queries that may run at once.
func (c Config) maxConns() int {
	if c.MaxConns == 0 {
		return DefaultMaxConns
	}
	return c.MaxConns
}

// dsn opens an in-memory database that never fetches or loads extensions on
// its own: httpfs and friends are not available offline, and a query must
// not be able to pull code in.
const dsn = "?autoinstall_known_extensions=false&autoload_known_extensions=false"

// Open opens a fresh in-memory DuckDB database sandboxed to allowedDirs.
//
// Extensions are never installed or loaded automatically; files can be read
// and written only below allowedDirs and cfg.TempDir, which Open empties;
// all other external access is off; and the configuration is locked, so no
// later statement can change any of it. The pool holds at most cfg.MaxConns
// connections, all on the same database.
func Open(cfg Config, allowedDirs []string) (*sql.DB, error) {
	if cfg.Threads < 0 {
		return nil, fmt.Errorf("sqlengine: config threads = %d: must be 0 (all CPUs) or more", cfg.Threads)
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("sqlengine: config max_conns = %d: must be 0 (default %d) or more", cfg.MaxConns, DefaultMaxConns)
	}
	tempDir, err := makeTempDir(cfg.TempDir)
	if err != nil {
		return nil, err
	}

	// Directories are compared by prefix, so make each absolute and end it
	// with a slash: "/data/ds" must not also allow "/data/ds-other".
	dirs := make([]string, 0, len(allowedDirs))
	for _, d := range allowedDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("sqlengine: allowed directory %q: %w", d, err)
		}
		if !strings.HasSuffix(abs, "/") {
			abs += "/"
		}
		dirs = append(dirs, QuoteString(abs))
	}

	// The order matters: allowed_directories and temp_directory cannot
	// change once external access is off, and nothing can change once the
	// configuration is locked. DuckDB adds the temp folder to the allowed
	// directories by itself.
	settings := []string{
		"SET allowed_directories = [" + strings.Join(dirs, ", ") + "]",
		"SET temp_directory = " + QuoteString(tempDir),
		// Secrets kept on disk live under the home folder, which a statement
		// that merely mentions a secret would then look for, and name.
		"SET allow_persistent_secrets = false",
		"SET enable_external_access = false",
	}
	if cfg.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", cfg.Threads))
	}
	if limit := cfg.memoryLimit(); limit != "" {
		settings = append(settings, "SET memory_limit = "+QuoteString(limit))
	}
	settings = append(settings, "SET lock_configuration = true")

	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlengine: open duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(cfg.maxConns())
	db.SetMaxIdleConns(cfg.maxConns())

	// The settings are global to the database, so one connection suffices.
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlengine: open duckdb: %w", err)
	}
	for _, s := range settings {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			conn.Close()
			db.Close()
			return nil, fmt.Errorf("sqlengine: configure duckdb (%s): %w", s, err)
		}
	}
	if err := conn.Close(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlengine: open duckdb: %w", err)
	}
	return db, nil
}

// QuoteIdent quotes name as a DuckDB identifier.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteString quotes s as a DuckDB string literal.
func QuoteString(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}
