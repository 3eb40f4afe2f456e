package sqlengine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// mustOutside makes a folder outside every allowed directory, holding a
// secret text file and a CSV file, and returns it.
func mustOutside(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"secret.txt": "top secret\n", "secret.csv": "a,b\n1,2\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// wantUnreadable checks that no query reaches the files in dir, the target
// of a link, through the link at link.
func wantUnreadable(t *testing.T, e *Engine, link string) {
	t.Helper()
	for _, q := range []string{
		"SELECT content FROM read_text(" + QuoteString(filepath.Join(link, "secret.txt")) + ")",
		"SELECT * FROM read_csv(" + QuoteString(filepath.Join(link, "secret.csv")) + ")",
		"SELECT * FROM glob(" + QuoteString(filepath.Join(link, "*")) + ")",
		"SELECT content FROM read_text('.tmp/secret.txt')",
		"SELECT * FROM glob('.tmp/*')",
	} {
		res, err := e.Query(context.Background(), q, 0)
		if err == nil {
			t.Errorf("%s: read through the link: %s", q, mustJSON(t, res.Rows))
			continue
		}
		wantErr(t, q, err, errs.Invalid, "Permission Error")
	}
}

// TestEngine_Query_TempLinkInWorkDir is the hole DuckDB's default temp
// folder made: ".tmp" in the working directory, which DuckDB allows by
// itself, was a link to a folder outside.
func TestEngine_Query_TempLinkInWorkDir(t *testing.T) {
	outside := mustOutside(t)
	work := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(work, ".tmp")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	wantUnreadable(t, e, filepath.Join(work, ".tmp"))
}

// TestEngine_Query_TempLinkInDataDir plants the link in the dataset area
// instead, which is allowed: DuckDB resolves links before it compares paths.
func TestEngine_Query_TempLinkInDataDir(t *testing.T) {
	outside := mustOutside(t)
	data := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(data, ".tmp")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(data)
	e, _ := newTestEngine(t, Config{}, data)
	wantUnreadable(t, e, filepath.Join(data, ".tmp"))
}

// TestOpen_TempDir checks that DuckDB's temp folder is the configured one,
// made afresh: a link planted there is replaced by a real folder and what it
// pointed to is left alone; an old file there is gone.
func TestOpen_TempDir(t *testing.T) {
	outside := mustOutside(t)
	tmp := filepath.Join(t.TempDir(), "data", "tmp", "duckdb-sql")
	if err := os.MkdirAll(filepath.Dir(tmp), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, tmp); err != nil {
		t.Fatal(err)
	}
	db, err := Open(Config{TempDir: tmp}, []string{t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Lstat(tmp)
	if err != nil || !fi.IsDir() {
		t.Fatalf("temp folder after Open: %v, %v; want a real folder", fi, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret.txt")); err != nil {
		t.Errorf("the link's target was touched: %v", err)
	}
	var got string
	if err := db.QueryRow("SELECT current_setting('temp_directory')").Scan(&got); err != nil || got != tmp {
		t.Errorf("temp_directory = %q, %v; want %q", got, err, tmp)
	}
	var dirs []any
	if err := db.QueryRow("SELECT current_setting('allowed_directories')").Scan(&dirs); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if strings.Contains(d.(string), ".tmp") {
			t.Errorf("allowed_directories holds %q", d)
		}
	}

	// Opening again empties the folder.
	db.Close()
	old := filepath.Join(tmp, "left-over")
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Config{TempDir: tmp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("%s survived Open (stat: %v)", old, err)
	}
}

// TestEngine_Query_Spills sorts about 150 MB with a 64 MB memory limit: the
// sort spills to the temp folder and returns the right rows. Without a
// usable temp folder the same sort fails, which shows that it did spill.
func TestEngine_Query_Spills(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "duckdb-tmp")
	e, _ := newTestEngine(t, Config{TempDir: tmp, MemoryLimit: "64MB", Threads: 2}, t.TempDir())
	const q = `SELECT i, s FROM (
		SELECT i, lpad(i::VARCHAR, 8, '0') || repeat('x', 16) AS s FROM range(5000000) t(i)
	) ORDER BY s DESC OFFSET 4999998`
	res := mustQuery(t, e, q, 0)
	want := `[[1,"00000001xxxxxxxxxxxxxxxx"],[0,"00000000xxxxxxxxxxxxxxxx"]]`
	if got := mustJSON(t, res.Rows); got != want || res.Truncated {
		t.Errorf("rows = %s (truncated %v), want %s", got, res.Truncated, want)
	}

	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Query(context.Background(), q, 0); err == nil {
		t.Error("the sort succeeded without a temp folder: it did not spill, so this test proves nothing")
	}
}
