package sqlengine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpen_Settings(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	db, err := Open(Config{TempDir: filepath.Join(t.TempDir(), "tmp"), Threads: 2, MemoryLimit: "1GB", MaxConns: 2}, []string{a, b + "/", filepath.Join(a, "..", filepath.Base(a), "sub")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var threads, extAccess, locked, autoload, autoinstall string
	var dirs []any
	row := db.QueryRow(`SELECT current_setting('threads')::VARCHAR,
		current_setting('enable_external_access')::VARCHAR,
		current_setting('lock_configuration')::VARCHAR,
		current_setting('autoload_known_extensions')::VARCHAR,
		current_setting('autoinstall_known_extensions')::VARCHAR`)
	if err := row.Scan(&threads, &extAccess, &locked, &autoload, &autoinstall); err != nil {
		t.Fatal(err)
	}
	if threads != "2" || extAccess != "false" || locked != "true" || autoload != "false" || autoinstall != "false" {
		t.Errorf("threads=%s external_access=%s lock=%s autoload=%s autoinstall=%s", threads, extAccess, locked, autoload, autoinstall)
	}
	var got []string
	if err := db.QueryRow(`SELECT current_setting('allowed_directories')`).Scan(&dirs); err == nil {
		for _, d := range dirs {
			got = append(got, d.(string))
		}
	} else {
		t.Fatal(err)
	}
	for _, want := range []string{a + "/", b + "/", filepath.Join(a, "sub") + "/"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("allowed_directories = %q, missing %q", got, want)
		}
	}
	var limit string
	if err := db.QueryRow(`SELECT current_setting('memory_limit')`).Scan(&limit); err != nil || !strings.Contains(limit, "GiB") && !strings.Contains(limit, "MiB") {
		t.Errorf("memory_limit = %q, %v", limit, err)
	}

	// The configuration is locked, even for the owner of the *sql.DB.
	for _, s := range []string{
		"SET enable_external_access = true",
		"SET threads = 1",
		"SET lock_configuration = false",
		"SET allowed_directories = ['/']",
	} {
		if _, err := db.Exec(s); err == nil {
			t.Errorf("%s: no error", s)
		}
	}
	if _, err := db.Exec("SELECT * FROM read_text('/etc/hostname')"); err == nil || !strings.Contains(err.Error(), "Permission Error") {
		t.Errorf("read outside the allowed directories: %v", err)
	}

	// Files below an allowed directory can be written and read back.
	out := filepath.Join(b, "x.parquet")
	if _, err := db.Exec("COPY (SELECT 42 AS v) TO " + QuoteString(out) + " (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("SELECT v FROM read_parquet(" + QuoteString(out) + ")").Scan(&v); err != nil || v != 42 {
		t.Errorf("read back = %d, %v", v, err)
	}
	// A sibling that shares the prefix is not allowed.
	if _, err := db.Exec("COPY (SELECT 1) TO " + QuoteString(strings.TrimSuffix(b, "/")+"-other.csv")); err == nil {
		t.Error("wrote next to an allowed directory")
	}
}

func TestOpen_Pool(t *testing.T) {
	db, err := Open(Config{TempDir: filepath.Join(t.TempDir(), "tmp"), MaxConns: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Stats().MaxOpenConnections; got != 2 {
		t.Errorf("max open connections = %d, want 2", got)
	}
	// All connections share one database.
	ctx := context.Background()
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c1.ExecContext(ctx, "CREATE VIEW shared AS SELECT 1 AS a"); err != nil {
		t.Fatal(err)
	}
	var a int
	if err := c2.QueryRowContext(ctx, "SELECT a FROM shared").Scan(&a); err != nil || a != 1 {
		t.Errorf("view from another connection: %d, %v", a, err)
	}

	db2, err := Open(Config{TempDir: filepath.Join(t.TempDir(), "tmp")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if got := db2.Stats().MaxOpenConnections; got != DefaultMaxConns {
		t.Errorf("default max open connections = %d, want %d", got, DefaultMaxConns)
	}
}

func TestOpen_BadConfig(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "tmp")
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TempDir: tmp, Threads: -1}, "threads = -1"},
		{Config{TempDir: tmp, MaxConns: -2}, "max_conns = -2"},
		{Config{TempDir: tmp, MemoryLimit: "lots"}, "memory_limit = 'lots'"},
		{Config{}, "temp_dir is empty"},
		{Config{TempDir: filepath.Join(notDir, "tmp")}, "temp folder"},
	} {
		db, err := Open(tc.cfg, nil)
		if err == nil {
			db.Close()
			t.Errorf("%+v: no error", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %q does not contain %q", tc.cfg, err, tc.want)
		}
	}
}

func TestNew_BadArgs(t *testing.T) {
	if _, err := New(Config{}, t.TempDir(), nil); err == nil {
		t.Error("nil catalog: no error")
	}
	if _, err := New(Config{}, "", &testCatalog{}); err == nil {
		t.Error("empty dataset directory: no error")
	}
}

func TestQuote(t *testing.T) {
	if got := QuoteIdent(`a"b`); got != `"a""b"` {
		t.Errorf("quoteIdent = %s", got)
	}
	if got := QuoteString(`it's`); got != `'it''s'` {
		t.Errorf("quoteString = %s", got)
	}
}
