// Command export measures Engine.Export against DuckDB writing the same
// result itself with COPY, one side and format per process, so that each
// figure has its own peak RSS (VmHWM).
//
// Both sides open the database the same way (sqlengine.Open: the sandbox,
// the threads, the memory limit) and write to a file in the same folder:
//
//	-side copy     COPY (query) TO 'file' (FORMAT csv|parquet); for arrow,
//	               which DuckDB cannot write, FORMAT parquet
//	-side export   Engine.Export(query, format) into an *os.File
//	-side arrowapi duckdb-go's Arrow API (build tag duckdb_arrow) written as
//	               an Arrow IPC stream with arrow-go; it materialises the
//	               whole result first
//	-side gateway  POST /v1/sql with Accept set to the format, to an mcpd
//	               (-mcpd) started on loopback with the same threads and
//	               memory limit, the answer written to a file; the peak RSS
//	               and CPU are mcpd's
//
// Each run prints one JSON line; -report prints them as markdown tables.
// -cpuprofile writes a Go CPU profile of the run (DuckDB's own threads show
// as external code).
// bench/export/run.sh runs the sides alternately.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"lakehouse/backends/sqlengine"
	"lakehouse/bench/internal/proc"
)

// query is the benchmark's result: rows of four columns, BIGINT,
// DECIMAL(21,1), VARCHAR and DATE.
const query = `SELECT i, i*2.5 AS x, 'row '||i AS s, DATE '2020-01-01' + (i %% 1000)::INT AS d FROM range(%d) t(i)`

type result struct {
	Side    string  `json:"side"`
	Format  string  `json:"format"`
	Round   int     `json:"round"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	CPU     float64 `json:"cpu_seconds"` // user + system time of the process during the run
	PeakMiB float64 `json:"peak_rss_mib"`
}

// arrowAPI writes the result of q to path as an Arrow IPC stream through
// duckdb-go's Arrow API; nil unless built with the duckdb_arrow tag.
var arrowAPI func(ctx context.Context, cfg sqlengine.Config, dir, q, path string) (rows int64, err error)

func main() {
	side := flag.String("side", "export", "copy, export or arrowapi")
	format := flag.String("format", "csv", "csv, parquet or arrow")
	rows := flag.Int("rows", 10_000_000, "rows of the result")
	threads := flag.Int("threads", 0, "DuckDB threads, both sides; 0 = all CPUs")
	memory := flag.String("memory", "4GB", "DuckDB memory_limit, both sides")
	dir := flag.String("dir", "", "folder to write into (required)")
	round := flag.Int("round", 1, "round number, for the report")
	report := flag.String("report", "", "print the JSON lines of this file as markdown and exit")
	flag.StringVar(&mcpdPath, "mcpd", "", "the mcpd binary, for -side gateway")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *report != "" {
		if err := printReport(*report); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
	}
	res, err := run(*side, *format, *rows, *threads, *memory, *dir)
	pprof.StopCPUProfile()
	if err != nil {
		log.Fatalf("%s %s: %v", *side, *format, err)
	}
	res.Round = *round
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func run(side, format string, rows, threads int, memory, dir string) (*result, error) {
	ctx := context.Background()
	f, err := sqlengine.ParseFormat(format)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf(query, rows)
	out := filepath.Join(dir, side+"."+format)
	defer os.Remove(out)
	cfg := sqlengine.Config{TempDir: filepath.Join(dir, side+"-tmp"), Threads: threads, MemoryLimit: memory}
	defer os.RemoveAll(cfg.TempDir)
	res := &result{Side: side, Format: format}

	var elapsed time.Duration
	cpu0 := proc.CPUTime()
	switch side {
	case "copy":
		db, err := sqlengine.Open(cfg, []string{dir})
		if err != nil {
			return nil, err
		}
		defer db.Close()
		duck := "csv"
		if f != sqlengine.CSV {
			duck = "parquet"
		}
		start := time.Now()
		r, err := db.ExecContext(ctx, "COPY ("+q+") TO "+sqlengine.QuoteString(out)+" (FORMAT "+duck+")")
		elapsed = time.Since(start)
		if err != nil {
			return nil, err
		}
		if res.Rows, err = r.RowsAffected(); err != nil {
			return nil, err
		}
	case "export":
		data := filepath.Join(dir, "datasets")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, err
		}
		e, err := sqlengine.New(cfg, data, noViews{})
		if err != nil {
			return nil, err
		}
		defer e.Close()
		file, err := os.Create(out)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		exp, err := e.Export(ctx, q, f, file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		elapsed = time.Since(start)
		if err != nil {
			return nil, err
		}
		res.Rows = exp.Rows
	case "arrowapi":
		if arrowAPI == nil {
			return nil, fmt.Errorf("-side arrowapi needs a build with -tags duckdb_arrow")
		}
		start := time.Now()
		res.Rows, err = arrowAPI(ctx, cfg, dir, q, out)
		elapsed = time.Since(start)
		if err != nil {
			return nil, err
		}
	case "gateway":
		return gateway(ctx, f, q, out, threads, memory, dir)
	default:
		return nil, fmt.Errorf("unknown side %q", side)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	res.Bytes, res.Seconds, res.CPU = fi.Size(), elapsed.Seconds(), (proc.CPUTime() - cpu0).Seconds()
	res.PeakMiB, err = proc.PeakRSS("self")
	return res, err
}

// mcpdPath is the mcpd binary of -side gateway.
var mcpdPath string

// gateway measures -side gateway: mcpd's /v1/sql streaming the result of
// q in format f into the file out.
func gateway(ctx context.Context, f sqlengine.Format, q, out string, threads int, memory, dir string) (*result, error) {
	if mcpdPath == "" {
		return nil, fmt.Errorf("-side gateway needs -mcpd")
	}
	data := filepath.Join(dir, "gateway-data")
	defer os.RemoveAll(data)
	cmd := exec.CommandContext(ctx, mcpdPath, "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LAKEHOUSE_DATA="+data, "LAKEHOUSE_CONFIG=",
		"LAKEHOUSE_SQL_THREADS="+strconv.Itoa(threads), "LAKEHOUSE_SQL_MEMORY_LIMIT="+memory)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	base, err := listening(stderr)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]string{"sql": q})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/sql", bytes.NewReader(body))
	req.Header.Set("Accept", f.ContentType())
	file, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer os.Remove(out)
	cpu0, err := processCPU(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(file, resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/v1/sql: %s", resp.Status)
	}
	res := &result{Side: "gateway", Format: string(f), Bytes: n, Seconds: elapsed.Seconds()}
	if res.Rows, err = strconv.ParseInt(resp.Trailer.Get("Lakehouse-Rows"), 10, 64); err != nil {
		return nil, fmt.Errorf("no row count in the trailer: %v", err)
	}
	cpu1, err := processCPU(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	res.CPU = (cpu1 - cpu0).Seconds()
	res.PeakMiB, err = proc.PeakRSS(strconv.Itoa(cmd.Process.Pid))
	return res, err
}

// listening reads mcpd's stderr until it says where it listens.
func listening(stderr io.Reader) (string, error) {
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
			addr, _, _ := strings.Cut(rest, ": ")
			go io.Copy(io.Discard, stderr)
			return strings.TrimSuffix(addr, ":"), nil
		}
	}
	return "", fmt.Errorf("mcpd did not say where it listens")
}

// processCPU is the user and system time process pid has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields 14 and 15 (utime, stime, in clock ticks) follow the command
	// name, which is in parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil
}

// noViews is a catalog without datasets: the query reads none.
type noViews struct{}

func (noViews) Views() (uint64, []sqlengine.View) { return 1, nil }

// sideNames describe each side in the tables.
var sideNames = map[string]string{
	"copy":     "DuckDB COPY to a file",
	"export":   "Engine.Export to a file",
	"arrowapi": "duckdb-go Arrow API → IPC (tag duckdb_arrow)",
	"gateway":  "mcpd POST /v1/sql over loopback to a file",
}

func printReport(path string) error {
	all, err := proc.ReadLines[result](path)
	if err != nil {
		return err
	}

	fmt.Println("| format | side | round | rows | time | CPU time | rows/s | output | peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range all {
		fmt.Printf("| %s | %s | %d | %d | %.2f s | %.2f s | %s | %.0f MiB | %.0f MiB |\n",
			r.Format, sideNames[r.Side], r.Round, r.Rows, r.Seconds, r.CPU, rate(float64(r.Rows)/r.Seconds), float64(r.Bytes)/(1<<20), r.PeakMiB)
	}

	// The median of each side and format, and Export's share of COPY's rate.
	type key struct{ format, side string }
	rates := map[key][]float64{}
	cpus := map[key][]float64{}
	peaks := map[key][]float64{}
	for _, r := range all {
		k := key{r.Format, r.Side}
		rates[k] = append(rates[k], float64(r.Rows)/r.Seconds)
		cpus[k] = append(cpus[k], r.CPU)
		peaks[k] = append(peaks[k], r.PeakMiB)
	}
	fmt.Println()
	fmt.Println("| format | COPY rows/s | Export rows/s | Export / COPY | CPU time COPY / Export | COPY peak RSS | Export peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, format := range []string{"csv", "parquet", "arrow"} {
		c, e := proc.Median(rates[key{format, "copy"}]), proc.Median(rates[key{format, "export"}])
		if c == 0 || e == 0 {
			continue
		}
		baseline := ""
		if format == "arrow" {
			baseline = " (COPY writes parquet)"
		}
		cc, ce := proc.Median(cpus[key{format, "copy"}]), proc.Median(cpus[key{format, "export"}])
		fmt.Printf("| %s%s | %s | %s | %.2f× | %.2f s / %.2f s (%.2f×) | %.0f MiB | %.0f MiB |\n", format, baseline, rate(c), rate(e), e/c,
			cc, ce, cc/ce, proc.Median(peaks[key{format, "copy"}]), proc.Median(peaks[key{format, "export"}]))
	}
	for _, format := range []string{"csv", "parquet", "arrow"} {
		k := key{format, "gateway"}
		if g := proc.Median(rates[k]); g > 0 {
			fmt.Printf("\nmcpd /v1/sql, %s, median: %s rows/s (%.2f× COPY), mcpd CPU time %.2f s, mcpd peak RSS %.0f MiB\n",
				format, rate(g), g/proc.Median(rates[key{format, "copy"}]), proc.Median(cpus[k]), proc.Median(peaks[k]))
		}
	}
	if a := proc.Median(rates[key{"arrow", "arrowapi"}]); a > 0 {
		k := key{"arrow", "arrowapi"}
		fmt.Printf("\nduckdb-go Arrow API (tag duckdb_arrow), median: %s rows/s (%.2f× COPY to parquet), CPU time %.2f s, peak RSS %.0f MiB\n",
			rate(a), a/proc.Median(rates[key{"arrow", "copy"}]), proc.Median(cpus[k]), proc.Median(peaks[k]))
	}
	return nil
}

// rate formats rows per second in millions.
func rate(r float64) string { return fmt.Sprintf("%.2fM", r/1e6) }
