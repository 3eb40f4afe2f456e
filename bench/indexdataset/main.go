// Command indexdataset measures index_dataset over a large dataset: it
// ingests -rows rows of short texts (CSV through the ingest engine, as
// ingest_dataset does), then calls index_dataset once through an MCP session
// and reports its wall time and the process's peak RSS during the call
// (VmHWM, reset after the ingest).
//
// It uses only APIs that existed before index_dataset moved into
// backends/corpus/dataset (the tools table over the engines), so
// bench/indexdataset/run.sh builds the same program against that code and
// against the working tree. The vector index keeps flat storage (no graph)
// and takes snapshots only past 64 GiB of log, on both sides, so the figure
// is the pipeline's (read, embed, upsert) rather than HNSW building or
// snapshot writing. The embedder is the hash embedder.
//
// Usage:
//
//	indexdataset [-rows 1000000] [-label name] [-args '{"text_column":"body","id_column":"id"}']
//	indexdataset -report results.jsonl
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/embed"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
	"lakehouse/tools"
)

// result is what one run measured.
type result struct {
	Label    string  `json:"label"`
	Args     string  `json:"args"`
	Rows     int     `json:"rows"`
	Seconds  float64 `json:"seconds"`
	PeakMiB  float64 `json:"peak_rss_mib"`
	GoMiB    float64 `json:"go_sys_mib"` // memory the Go runtime took from the OS; the rest of the peak is DuckDB's
	Embedded float64 `json:"embedded"`
	Count    float64 `json:"count"`
}

func main() {
	rows := flag.Int("rows", 1000000, "rows of the dataset")
	label := flag.String("label", "run", "name of this side in the report")
	args := flag.String("args", `{"text_column":"body","id_column":"id"}`, "index_dataset arguments besides dataset")
	report := flag.String("report", "", "print a table of the results in this JSON-lines file")
	flag.Parse()
	if *report != "" {
		printReport(*report)
		return
	}
	res, err := run(*rows, *args)
	if err != nil {
		log.Fatal(err)
	}
	res.Label = *label
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

// words make the texts: every row draws a few, so texts differ and repeat
// words as real ones do.
var words = strings.Fields("river mountain engine ledger harvest violin garden signal harbor winter " +
	"copper lantern meadow rocket canvas orchard thunder velvet compass glacier " +
	"marble falcon pepper quartz saddle timber walnut beacon cobalt desert")

func run(rows int, extra string) (*result, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "indexdataset-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return nil, err
	}
	csv := filepath.Join(src, "notes.csv")
	if err := writeCSV(csv, rows); err != nil {
		return nil, err
	}
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		return nil, err
	}
	in, err := ingest.New(ingest.Config{TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir(), AllowedPaths: []string{src}}, cat, st)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	sql, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, st.Path(strings.TrimSuffix(catalog.DataPrefix, "/")), ingest.Views(cat, st))
	if err != nil {
		return nil, err
	}
	defer sql.Close()
	vec, err := vector.Open(filepath.Join(dir, "vectors"), vector.Config{FlatThreshold: 1 << 30, SnapshotBytes: 64 << 30})
	if err != nil {
		return nil, err
	}
	defer vec.Close()
	emb, err := embed.New(embed.Config{Provider: "hash"})
	if err != nil {
		return nil, err
	}
	if _, err := in.Ingest(ctx, ingest.Request{Name: "notes", Path: csv, Format: "csv"}, nil); err != nil {
		return nil, err
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "bench"}, nil)
	tools.Register(s, tools.All(&tools.Backends{Store: st, Catalog: cat, Views: ingest.Views(cat, st), Ingest: in, SQL: sql, Vectors: vec, Embed: emb}))
	st1, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st1, nil)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	var arguments map[string]any
	if err := json.Unmarshal([]byte(extra), &arguments); err != nil {
		return nil, fmt.Errorf("-args: %w", err)
	}
	arguments["dataset"] = "notes"

	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return nil, fmt.Errorf("reset the peak RSS: %w", err)
	}
	start := time.Now()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "index_dataset", Arguments: arguments})
	elapsed := time.Since(start)
	if err != nil {
		return nil, err
	}
	if res.IsError {
		return nil, fmt.Errorf("index_dataset: %v", res.Content[0].(*mcp.TextContent).Text)
	}
	out := res.StructuredContent.(map[string]any)
	peak, err := peakRSS()
	if err != nil {
		return nil, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &result{Args: extra, Rows: rows, Seconds: elapsed.Seconds(), PeakMiB: peak, GoMiB: float64(ms.Sys) / (1 << 20),
		Embedded: out["embedded"].(float64), Count: out["count"].(float64)}, nil
}

func writeCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "id,lang,body")
	for i := range rows {
		h := uint64(i)*0x9E3779B97F4A7C15 + 1
		fmt.Fprintf(w, "r%d,%s,note %d about the %s and the %s near a %s\n", i, []string{"en", "de", "fr"}[i%3], i,
			words[h%uint64(len(words))], words[(h>>8)%uint64(len(words))], words[(h>>16)%uint64(len(words))])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// peakRSS reads VmHWM, in MiB.
func peakRSS() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
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

func printReport(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("| side | arguments | rows | time | peak RSS | of which Go | embedded | count |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("| %s | `%s` | %d | %.1f s | %.0f MiB | %.0f MiB | %.0f | %.0f |\n", r.Label, r.Args, r.Rows, r.Seconds, r.PeakMiB, r.GoMiB, r.Embedded, r.Count)
	}
}
