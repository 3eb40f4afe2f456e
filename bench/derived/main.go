// Command derived measures ingest_dataset with source.sql, a derived
// dataset made in one call, against DuckDB writing the same result itself
// (COPY (query) TO 'file.parquet'), one side and query per process, so that
// each figure has its own peak RSS (VmHWM).
//
//	-side setup    makes the source dataset src (-rows rows: i BIGINT,
//	               x DOUBLE, s VARCHAR) in -dir, through the ingest engine
//	-side copy     opens a sandboxed DuckDB (sqlengine.Open: the same
//	               threads and memory limit), shows src's Parquet files as a
//	               view and runs COPY (query) TO '<dir>/copy.parquet'
//	-side derived  opens the catalog, ingest and SQL engines over -dir, as
//	               mcpd does, and calls ingest_dataset {name, source: {sql}}
//	               once through an in-memory MCP session; the dataset is
//	               dropped afterwards
//
// -query is group (SELECT i % 100000 AS k, count(*), sum(x) ... GROUP BY k,
// 100 000 rows out of 10M) or project (every row and column of src). Each
// run prints one JSON line; -report prints them as a markdown table with
// the ratio of the medians. bench/derived/run.sh alternates the sides.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/bench/internal/proc"
	"lakehouse/tools"
)

// queries are the statements measured, over the dataset src.
var queries = map[string]string{
	"group":   "SELECT i % 100000 AS k, count(*) AS n, sum(x) AS sx FROM src GROUP BY k",
	"project": "SELECT i, x, s FROM src",
}

// source is the statement that makes src.
const source = "SELECT range AS i, (range * 7 %% 1000) / 10.0 AS x, 'row ' || range AS s FROM range(%d)"

type result struct {
	Side    string  `json:"side"`
	Query   string  `json:"query"`
	Round   int     `json:"round"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	CPU     float64 `json:"cpu_seconds"`
	PeakMiB float64 `json:"peak_rss_mib"`
}

func main() {
	side := flag.String("side", "derived", "setup, copy or derived")
	name := flag.String("query", "group", "group or project")
	rows := flag.Int("rows", 10_000_000, "rows of src (setup)")
	threads := flag.Int("threads", 0, "DuckDB threads, every database; 0 = all CPUs")
	memory := flag.String("memory", "4GB", "DuckDB memory_limit, every database")
	dir := flag.String("dir", "", "data folder (required)")
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
	q, ok := queries[*name]
	if !ok && *side != "setup" {
		log.Fatalf("unknown -query %q", *name)
	}
	cfg := sqlengine.Config{Threads: *threads, MemoryLimit: *memory}
	res, err := run(*side, q, *rows, cfg, *dir)
	if err != nil {
		log.Fatalf("%s %s: %v", *side, *name, err)
	}
	if res == nil {
		return
	}
	res.Query, res.Round = *name, *round
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

// engines are the engines of a data folder, opened as mcpd opens them.
type engines struct {
	st  *store.FS
	cat *catalog.Catalog
	in  *ingest.Ingester
	sql *sqlengine.Engine
}

func open(ctx context.Context, cfg sqlengine.Config, dir string) (*engines, error) {
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		return nil, err
	}
	in, err := ingest.New(ingest.Config{TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir(), DuckDB: cfg, CompactFiles: -1}, cat, st)
	if err != nil {
		return nil, err
	}
	scfg := cfg
	scfg.TempDir = filepath.Join(dir, "duckdb")
	sql, err := sqlengine.New(scfg, st.Path(strings.TrimSuffix(catalog.DataPrefix, "/")), ingest.Views(cat, st))
	if err != nil {
		return nil, err
	}
	return &engines{st, cat, in, sql}, nil
}

func (e *engines) close() {
	e.sql.Close()
	e.in.Close()
	e.st.Close()
}

func run(side, q string, rows int, cfg sqlengine.Config, dir string) (*result, error) {
	ctx := context.Background()
	res := &result{Side: side}
	cpu0 := proc.CPUTime()
	var elapsed time.Duration
	switch side {
	case "setup":
		e, err := open(ctx, cfg, dir)
		if err != nil {
			return nil, err
		}
		defer e.close()
		if e.cat.Lookup("src") != nil {
			return nil, nil
		}
		b := &tools.Backends{Store: e.st, Catalog: e.cat, Views: ingest.Views(e.cat, e.st), Ingest: e.in, SQL: e.sql}
		out, err := callIngest(ctx, b, "src", fmt.Sprintf(source, rows))
		if err != nil {
			return nil, err
		}
		log.Printf("src: %v rows, %v bytes", out["rows"], out["bytes"])
		return nil, nil
	case "copy":
		st, err := store.OpenFS(filepath.Join(dir, "objects"))
		if err != nil {
			return nil, err
		}
		cat, err := catalog.Open(ctx, st)
		if err != nil {
			return nil, err
		}
		m, err := cat.Get("src")
		if err != nil {
			return nil, err
		}
		st.Close()
		ccfg := cfg
		ccfg.TempDir = filepath.Join(dir, "copy-tmp")
		defer os.RemoveAll(ccfg.TempDir)
		db, err := sqlengine.Open(ccfg, []string{dir})
		if err != nil {
			return nil, err
		}
		defer db.Close()
		files := make([]string, len(m.Current().Files))
		for i, k := range m.Current().Files {
			files[i] = sqlengine.QuoteString(st.Path(k))
		}
		if _, err := db.ExecContext(ctx, "CREATE VIEW src AS SELECT * FROM read_parquet(["+strings.Join(files, ", ")+"])"); err != nil {
			return nil, err
		}
		out := filepath.Join(dir, "copy.parquet")
		defer os.Remove(out)
		start := time.Now()
		r, err := db.ExecContext(ctx, "COPY ("+q+") TO "+sqlengine.QuoteString(out)+" (FORMAT parquet)")
		elapsed = time.Since(start)
		if err != nil {
			return nil, err
		}
		if res.Rows, err = r.RowsAffected(); err != nil {
			return nil, err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		res.Bytes = fi.Size()
	case "derived":
		e, err := open(ctx, cfg, dir)
		if err != nil {
			return nil, err
		}
		defer e.close()
		b := &tools.Backends{Store: e.st, Catalog: e.cat, Views: ingest.Views(e.cat, e.st), Ingest: e.in, SQL: e.sql}
		start := time.Now()
		out, err := callIngest(ctx, b, "derived", q)
		elapsed = time.Since(start)
		if err != nil {
			return nil, err
		}
		res.Rows, res.Bytes = int64(out["rows"].(float64)), int64(out["bytes"].(float64))
		defer e.in.Drop(ctx, "derived")
	default:
		return nil, fmt.Errorf("unknown side %q", side)
	}
	res.Seconds, res.CPU = elapsed.Seconds(), (proc.CPUTime() - cpu0).Seconds()
	var err error
	res.PeakMiB, err = proc.PeakRSS("self")
	return res, err
}

// callIngest calls ingest_dataset {name, source: {sql: q}} through an
// in-memory MCP session over the tools of b.
func callIngest(ctx context.Context, b *tools.Backends, name, q string) (map[string]any, error) {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench"}, nil)
	tools.Register(s, tools.All(b))
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ingest_dataset", Arguments: map[string]any{"name": name, "source": map[string]any{"sql": q}}})
	if err != nil {
		return nil, err
	}
	if res.IsError {
		return nil, fmt.Errorf("ingest_dataset: %v", res.Content[0].(*mcp.TextContent).Text)
	}
	return res.StructuredContent.(map[string]any), nil
}

var sideNames = map[string]string{
	"copy":    "DuckDB COPY (query) TO file.parquet",
	"derived": "ingest_dataset source.sql (MCP, in memory)",
}

func printReport(path string) error {
	all, err := proc.ReadLines[result](path)
	if err != nil {
		return err
	}
	fmt.Println("| query | side | round | rows | time | CPU time | output | peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range all {
		fmt.Printf("| %s | %s | %d | %d | %.2f s | %.2f s | %.0f MiB | %.0f MiB |\n",
			r.Query, sideNames[r.Side], r.Round, r.Rows, r.Seconds, r.CPU, float64(r.Bytes)/(1<<20), r.PeakMiB)
	}
	fmt.Println()
	fmt.Println("| query | COPY median | derived median | speed (COPY time / derived time) | CPU (COPY / derived) | COPY peak RSS | derived peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, q := range []string{"group", "project"} {
		var ct, dt, cc, dc, cm, dm []float64
		for _, r := range all {
			if r.Query != q {
				continue
			}
			if r.Side == "copy" {
				ct, cc, cm = append(ct, r.Seconds), append(cc, r.CPU), append(cm, r.PeakMiB)
			} else {
				dt, dc, dm = append(dt, r.Seconds), append(dc, r.CPU), append(dm, r.PeakMiB)
			}
		}
		if len(ct) == 0 || len(dt) == 0 {
			continue
		}
		fmt.Printf("| %s | %.2f s | %.2f s | %.2f× | %.2f× | %.0f MiB | %.0f MiB |\n", q, proc.Median(ct), proc.Median(dt), proc.Median(ct)/proc.Median(dt), proc.Median(cc)/proc.Median(dc), proc.Median(cm), proc.Median(dm))
	}
	return nil
}
