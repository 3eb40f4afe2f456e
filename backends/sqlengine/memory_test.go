package sqlengine

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/internal/sysmem"
)

// childEnv, when set, makes the test binary run one query as a child
// process (see runChild) instead of the tests.
const childEnv = "SQLENGINE_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// childSpec is what a child process runs.
type childSpec struct {
	MemoryLimit string `json:"memory_limit"`
	Query       string `json:"query"`
	MaxRows     int    `json:"max_rows"`
}

// childResult is what it reports.
type childResult struct {
	Rows      int    `json:"rows"`
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
	Kind      string `json:"kind,omitempty"` // the errs kind of Error; "" for a fault
}

// runChild runs the query of spec (JSON) on a fresh engine, writes a
// childResult line to stdout and then waits for stdin to close, so that the
// parent can read the child's peak memory while the child still exists.
func runChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "sqlengine-child-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	e, err := New(Config{TempDir: filepath.Join(dir, "tmp"), MemoryLimit: s.MemoryLimit}, dir, &testCatalog{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer e.Close()
	var out childResult
	res, err := e.Query(context.Background(), s.Query, s.MaxRows)
	if err != nil {
		out.Error = err.Error()
		if k := errs.KindOf(err); k != nil {
			out.Kind = k.Error()
		}
	} else {
		out.Rows, out.Truncated = res.RowCount, res.Truncated
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 2
	}
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// runInChild runs query in a child process and returns its result and its
// peak resident memory (VmHWM) in bytes.
func runInChild(t *testing.T, memoryLimit, query string, maxRows int) (childResult, int64) {
	t.Helper()
	spec, _ := json.Marshal(childSpec{MemoryLimit: memoryLimit, Query: query, MaxRows: maxRows})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}()
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("child ended without a result (%v): it crashed", err)
	}
	var res childResult
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return res, vmHWM(t, status)
}

// vmHWM returns the VmHWM line of a /proc/<pid>/status, in bytes.
func vmHWM(t *testing.T, status []byte) int64 {
	t.Helper()
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestEngine_Query_PeakMemory runs the queries that once took gigabytes,
// each in a child process: every one finishes or fails with a caller's
// error, and the child's peak memory stays under 800 MB.
func TestEngine_Query_PeakMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/<pid>/status")
	}
	const maxPeak = 800 << 20
	for _, tc := range []struct {
		name, memoryLimit, query string
	}{
		{"scan 300M rows, 512MB", "512MB", "SELECT * FROM range(300000000)"},
		{"string_agg over 100M, 512MB", "512MB", "SELECT string_agg(i::VARCHAR, ',') FROM range(100000000) t(i)"},
		{"scan 300M rows, default limit", "", "SELECT * FROM range(300000000)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, peak := runInChild(t, tc.memoryLimit, tc.query, 1)
			t.Logf("%s: %+v, VmHWM %d MiB", tc.query, res, peak>>20)
			if res.Error != "" && res.Kind == "" {
				t.Errorf("failed with a fault, not a caller's error: %s", res.Error)
			}
			if res.Error == "" && (res.Rows != 1 || !res.Truncated) {
				t.Errorf("rows = %d, truncated = %v; want 1, true", res.Rows, res.Truncated)
			}
			if peak > maxPeak {
				t.Errorf("peak memory %d MiB, want under %d MiB", peak>>20, maxPeak>>20)
			}
		})
	}
}

// TestEngine_Query_OutOfMemory checks what a query that needs more than the
// memory limit says: the limit, the key that raises it, and no advice that
// cannot be followed here (SET is refused).
func TestEngine_Query_OutOfMemory(t *testing.T) {
	e, _ := newTestEngine(t, Config{MemoryLimit: "64MB"}, t.TempDir())
	const q = "SELECT string_agg(i::VARCHAR, ',') FROM range(30000000) t(i)"
	_, err := e.Query(context.Background(), q, 1)
	wantErr(t, q, err, errs.Invalid, "Out of Memory", "more memory than sql.memory_limit allows (64MB; env LAKEHOUSE_SQL_MEMORY_LIMIT)")
	if err != nil && strings.Contains(err.Error(), "SET ") {
		t.Errorf("error gives advice that cannot be followed: %s", err)
	}
	mustQuery(t, e, "SELECT 42", 0)
}

// TestOpen_DefaultMemoryLimit checks that a database without a configured
// memory_limit gets a quarter of the usable memory, not DuckDB's 80%.
func TestOpen_DefaultMemoryLimit(t *testing.T) {
	usable := sysmem.Usable()
	if usable == 0 {
		t.Skip("the usable memory cannot be read here")
	}
	db, err := Open(Config{TempDir: filepath.Join(t.TempDir(), "tmp")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// DuckDB shows the limit rounded ("5.8 GiB"); compare with how it shows
	// a quarter of the usable memory.
	ref, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var got, want string
	if err := db.QueryRow("SELECT current_setting('memory_limit')").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Exec(fmt.Sprintf("SET memory_limit = '%dMiB'", usable/4>>20)); err != nil {
		t.Fatal(err)
	}
	if err := ref.QueryRow("SELECT current_setting('memory_limit')").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("memory_limit = %s, want a quarter of %d MiB: %s", got, usable>>20, want)
	}
}
