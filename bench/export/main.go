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
//
// Each run prints one JSON line; -report prints them as markdown tables.
// bench/export/run.sh runs the sides alternately.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"lakehouse/backends/sqlengine"
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
	res, err := run(*side, *format, *rows, *threads, *memory, *dir)
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
	cpu0 := cpuTime()
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
	default:
		return nil, fmt.Errorf("unknown side %q", side)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	res.Bytes, res.Seconds, res.CPU = fi.Size(), elapsed.Seconds(), (cpuTime() - cpu0).Seconds()
	res.PeakMiB, err = peakRSS()
	return res, err
}

// noViews is a catalog without datasets: the query reads none.
type noViews struct{}

func (noViews) Views() (uint64, []sqlengine.View) { return 1, nil }

// cpuTime returns the user and system time the process has used. On a
// loaded machine it moves less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS reads VmHWM, in MiB.
func peakRSS() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// sideNames describe each side in the tables.
var sideNames = map[string]string{
	"copy":     "DuckDB COPY to a file",
	"export":   "Engine.Export to a file",
	"arrowapi": "duckdb-go Arrow API → IPC (tag duckdb_arrow)",
}

func printReport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var all []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		all = append(all, r)
	}
	if err := sc.Err(); err != nil {
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
		c, e := median(rates[key{format, "copy"}]), median(rates[key{format, "export"}])
		if c == 0 || e == 0 {
			continue
		}
		baseline := ""
		if format == "arrow" {
			baseline = " (COPY writes parquet)"
		}
		cc, ce := median(cpus[key{format, "copy"}]), median(cpus[key{format, "export"}])
		fmt.Printf("| %s%s | %s | %s | %.2f× | %.2f s / %.2f s (%.2f×) | %.0f MiB | %.0f MiB |\n", format, baseline, rate(c), rate(e), e/c,
			cc, ce, cc/ce, median(peaks[key{format, "copy"}]), median(peaks[key{format, "export"}]))
	}
	if a := median(rates[key{"arrow", "arrowapi"}]); a > 0 {
		k := key{"arrow", "arrowapi"}
		fmt.Printf("\nduckdb-go Arrow API (tag duckdb_arrow), median: %s rows/s (%.2f× COPY to parquet), CPU time %.2f s, peak RSS %.0f MiB\n",
			rate(a), a/median(rates[key{"arrow", "copy"}]), median(cpus[k]), median(peaks[k]))
	}
	return nil
}

// rate formats rows per second in millions.
func rate(r float64) string { return fmt.Sprintf("%.2fM", r/1e6) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.SortFunc(s, cmp.Compare)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
