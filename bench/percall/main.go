// Command percall measures the overhead of one MCP tool call: the latency
// of `SELECT 42` through mcpd's query_sql against the same statement
// through two Node SQLite servers' query tools, with one client (go-sdk's)
// in one run, and then where mcpd's time goes.
//
// Sides, each one real server process with a fresh data directory:
//
//	mcpd-stdio     mcpd (built from ./mcpd) over stdio
//	mcpd-http      mcpd --http 127.0.0.1:0, streamable HTTP at /mcp
//	dbhub          npm @bytebase/dbhub on a SQLite file (node:sqlite), execute_sql
//	mini-sqlite    bench/percall/sqlite-server.mjs (official TS SDK, node:sqlite), query
//
// After -warmup unreported calls per side, each of -rounds rounds runs
// -batch calls per side, the sides in an order that rotates from round to
// round, so a busy moment of the machine falls on every side alike. Calls
// are sequential (one in flight). For each side it prints p50, p90, p99
// and mean latency, and the server process's CPU time per call (user +
// system from /proc/PID/stat, all its threads) and peak RSS.
//
// With -perf DIR, Linux perf then records the real mcpd processes (over
// stdio and HTTP) for -perf-calls calls each, and their top symbols are
// printed, DuckDB's C++ included (see perf.go).
//
// With -pprof, it measures nothing and prints instead the CPU per call by
// component of a CPU profile that go test made of mcpd's own benchmark
// (see profile.go and run.sh).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/bench/internal/proc"
)

var (
	mcpdBin       = flag.String("mcpd", "", "mcpd binary (run.sh builds it)")
	nodeBin       = flag.String("node", "", "Node 22 binary (empty: no Node sides)")
	npmDir        = flag.String("npm", "", "npm prefix with @bytebase/dbhub and @modelcontextprotocol/sdk")
	mini          = flag.String("mini", "", "bench/percall/sqlite-server.mjs (empty: no mini-sqlite side)")
	sidesFlag     = flag.String("sides", "mcpd-stdio,mcpd-http,dbhub,mini-sqlite", "sides to run, comma-separated")
	warmup        = flag.Int("warmup", 300, "unreported calls per side before the first round")
	rounds        = flag.Int("rounds", 6, "rounds")
	batch         = flag.Int("batch", 500, "calls per side per round")
	perfCalls     = flag.Int("perf-calls", 5000, "calls under perf, per side")
	stmt          = flag.String("sql", "SELECT 42", "the statement")
	perfDir       = flag.String("perf", "", "record the real servers of -perf-sides with Linux perf into this folder (empty: no perf)")
	perfSidesFlag = flag.String("perf-sides", "mcpd-stdio,mcpd-http", "sides that -perf records")
	pprofFile     = flag.String("pprof", "", "print the breakdown of this CPU profile of mcpd's BenchmarkQuerySQL/select42 (made by run.sh) and exit")
	pprofBase     = flag.String("pprof-base", "", "-pprof: the profile of the same benchmark with -benchtime 1x, subtracted")
	pprofBin      = flag.String("pprof-bin", "", "-pprof: the test binary that made the profiles")
	pprofCalls    = flag.Int("pprof-calls", 5000, "-pprof: calls in -pprof beyond those in -pprof-base")
)

func main() {
	flag.Parse()
	if *pprofFile != "" {
		if err := printBreakdown(*pprofBin, *pprofFile, *pprofBase, *pprofCalls); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *mcpdBin == "" {
		log.Fatal("need -mcpd (run bench/percall/run.sh)")
	}
	work, err := os.MkdirTemp("", "bench-percall-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()

	var sides []*side
	for _, name := range strings.Split(*sidesFlag, ",") {
		s, err := startSide(ctx, strings.TrimSpace(name), work)
		if err != nil {
			log.Printf("side %s left out: %v", name, err)
			continue
		}
		defer s.close()
		sides = append(sides, s)
	}
	for _, s := range sides {
		for range *warmup {
			s.call(ctx)
		}
		s.lat = s.lat[:0]
	}
	for r := range *rounds {
		for i := range sides {
			s := sides[(i+r)%len(sides)]
			cpu0 := procCPU(s.pid)
			for range *batch {
				s.call(ctx)
			}
			s.cpu += procCPU(s.pid) - cpu0
		}
		fmt.Fprintf(os.Stderr, "round %d of %d done\n", r+1, *rounds)
	}
	fmt.Printf("\n%q, %d calls per side (%d rounds of %d, sides rotated), after %d warm-up calls; one call in flight\n\n", *stmt, *rounds**batch, *rounds, *batch, *warmup)
	fmt.Println("| side | tool | transport | p50 µs | p90 µs | p99 µs | mean µs | server CPU µs/call | server peak RSS MiB |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|")
	for _, s := range sides {
		l := slices.Clone(s.lat)
		slices.Sort(l)
		var sum time.Duration
		for _, d := range l {
			sum += d
		}
		rss, _ := proc.PeakRSS(strconv.Itoa(s.pid))
		fmt.Printf("| %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", s.name, s.tool, s.transport,
			us(pct(l, 50)), us(pct(l, 90)), us(pct(l, 99)), us(sum/time.Duration(len(l))), us(s.cpu)/float64(len(l)), rss)
	}

	if *perfDir != "" {
		if err := perfSides(ctx, sides); err != nil {
			log.Printf("perf: %v", err)
		}
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// A side: one server and the call that is measured on it.
type side struct {
	name, tool, transport string
	cs                    *mcp.ClientSession
	pid                   int
	args                  map[string]any
	lat                   []time.Duration
	cpu                   time.Duration
	wait                  func()
}

func (s *side) call(ctx context.Context) {
	t0 := time.Now()
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: s.tool, Arguments: s.args})
	d := time.Since(t0)
	if err != nil {
		log.Fatalf("%s: %v", s.name, err)
	}
	if res.IsError {
		log.Fatalf("%s: tool error: %v", s.name, res.Content)
	}
	s.lat = append(s.lat, d)
}

func (s *side) close() {
	s.cs.Close()
	if s.wait != nil {
		s.wait()
	}
}

func startSide(ctx context.Context, name, work string) (*side, error) {
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sqlArgs := map[string]any{"sql": *stmt}
	switch name {
	case "mcpd-stdio":
		cmd := exec.Command(*mcpdBin)
		cmd.Env = append(os.Environ(), "LAKEHOUSE_DATA="+filepath.Join(dir, "data"))
		return stdioSide(ctx, name, "query_sql", cmd, dir, sqlArgs)
	case "mcpd-http":
		return httpSide(ctx, name, dir, sqlArgs)
	case "dbhub", "mini-sqlite":
		if *nodeBin == "" || *npmDir == "" {
			return nil, fmt.Errorf("no -node and -npm")
		}
		db := filepath.Join(work, "bench.db")
		if err := makeDB(db); err != nil {
			return nil, err
		}
		if name == "dbhub" {
			cmd := exec.Command(*nodeBin, filepath.Join(*npmDir, "node_modules/@bytebase/dbhub/dist/index.js"), "--transport", "stdio", "--dsn", "sqlite://"+db)
			cmd.Dir = dir
			return stdioSide(ctx, name, "execute_sql", cmd, dir, sqlArgs)
		}
		if *mini == "" {
			return nil, fmt.Errorf("no -mini")
		}
		cmd := exec.Command(*nodeBin, *mini, db)
		cmd.Env = append(os.Environ(), "BENCH_NPM="+*npmDir)
		return stdioSide(ctx, name, "query", cmd, dir, sqlArgs)
	}
	return nil, fmt.Errorf("unknown side %q", name)
}

// makeDB makes a small SQLite file, once, for the Node servers.
func makeDB(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	script := `const {DatabaseSync} = require('node:sqlite'); const db = new DatabaseSync(process.argv[1]);
db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'one')"); db.close();`
	if out, err := exec.Command(*nodeBin, "-e", script, path).CombinedOutput(); err != nil {
		return fmt.Errorf("make SQLite file: %v: %s", err, out)
	}
	return nil
}

func stdioSide(ctx context.Context, name, tool string, cmd *exec.Cmd, dir string, args map[string]any) (*side, error) {
	f, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = f
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench-percall", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		b, _ := os.ReadFile(f.Name())
		return nil, fmt.Errorf("connect: %v\n%s", err, b)
	}
	return &side{name: name, tool: tool, transport: "stdio", cs: cs, pid: cmd.Process.Pid, args: args, wait: func() { f.Close() }}, nil
}

var listening = regexp.MustCompile(`mcpd listening on (http://[0-9.]+:[0-9]+)`)

func httpSide(ctx context.Context, name, dir string, args map[string]any) (*side, error) {
	cmd := exec.Command(*mcpdBin, "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LAKEHOUSE_DATA="+filepath.Join(dir, "data"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	log, _ := os.Create(filepath.Join(dir, "stderr"))
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	}
	var base string
	select {
	case base = <-found:
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("mcpd printed no address in 60 s")
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench-percall", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		stop()
		return nil, err
	}
	return &side{name: name, tool: "query_sql", transport: "streamable HTTP", cs: cs, pid: cmd.Process.Pid, args: args, wait: stop}, nil
}

// procCPU is the user + system time of process pid and all its threads.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck
}

// clkTck is the kernel's USER_HZ, 100 on Linux.
const clkTck = 100
