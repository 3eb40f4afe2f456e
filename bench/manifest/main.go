// Command manifest measures how a dataset's manifest and queries behave as
// small appends pile up: it creates a dataset and appends to it until it has
// -appends versions of -rows rows each, through the ingest engine as
// ingest_dataset does, then reports the bytes the catalog stores, the
// latency of the first and the last 100 appends, the time to open the
// catalog again, and the time of count(*) over the current version's files.
//
// It uses only the catalog, ingest and store APIs that existed before the
// manifest log, so bench/manifest/run.sh builds the same program against the
// code before that change and against the working tree. DuckDB reads the
// files with read_parquet, as the SQL engine's views do.
//
// Usage:
//
//	manifest [-appends 1000] [-rows 10] [-label name]   one run; prints a JSON line
//	manifest -report results.jsonl                       a table of the mean of each side's runs
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/store"
)

// result is what one run measured.
type result struct {
	Label         string  `json:"label"`
	Appends       int     `json:"appends"`
	Rows          int     `json:"rows"`
	ManifestBytes int64   `json:"manifest_bytes"`
	Objects       int     `json:"manifest_objects"`
	CurrentFiles  int     `json:"current_files"`
	First100MS    float64 `json:"first100_mean_ms"`
	Last100MS     float64 `json:"last100_mean_ms"`
	First100P50   float64 `json:"first100_p50_ms"`
	Last100P50    float64 `json:"last100_p50_ms"`
	AllAppendsS   float64 `json:"all_appends_s"`
	OpenMS        float64 `json:"open_ms"`
	CountMS       float64 `json:"count_p50_ms"`
}

func main() {
	appends := flag.Int("appends", 1000, "versions to make: a create, then appends")
	rows := flag.Int("rows", 10, "rows per ingest")
	label := flag.String("label", "run", "name of this side in the report")
	report := flag.String("report", "", "print the table of the JSON lines in this file and exit")
	flag.Parse()
	log.SetFlags(0)
	if *report != "" {
		if err := printReport(*report); err != nil {
			log.Fatal(err)
		}
		return
	}
	res, err := run(*appends, *rows)
	if err != nil {
		log.Fatal(err)
	}
	res.Label = *label
	out, err := json.Marshal(res)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
}

// run makes the dataset in a fresh folder and measures it.
func run(appends, rows int) (*result, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "manifest-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		return nil, err
	}
	in, err := ingest.New(ingest.Config{TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir()}, cat, st)
	if err != nil {
		return nil, err
	}
	res := &result{Appends: appends, Rows: rows}

	latencies := make([]time.Duration, appends)
	start := time.Now()
	for i := range appends {
		var b strings.Builder
		b.WriteString("id,label\n")
		for r := range rows {
			id := i*rows + r
			fmt.Fprintf(&b, "%d,row %d\n", id, id)
		}
		mode := ingest.ModeAppend
		if i == 0 {
			mode = ingest.ModeCreate
		}
		t0 := time.Now()
		if _, err := in.Ingest(ctx, ingest.Request{Name: "events", Content: b.String(), Mode: mode}, nil); err != nil {
			return nil, fmt.Errorf("ingest %d: %w", i+1, err)
		}
		latencies[i] = time.Since(t0)
	}
	res.AllAppendsS = time.Since(start).Seconds()
	n := min(100, appends)
	res.First100MS, res.First100P50 = meanP50(latencies[:n])
	res.Last100MS, res.Last100P50 = meanP50(latencies[appends-n:])
	// Close waits for whatever the ingester still does in the background.
	if err := in.Close(); err != nil {
		return nil, err
	}

	for after := ""; ; {
		items, next, err := st.List(ctx, catalog.ManifestPrefix, after, 0)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			res.ManifestBytes += it.Size
			res.Objects++
		}
		if next == "" {
			break
		}
		after = next
	}

	t0 := time.Now()
	reopened, err := catalog.Open(ctx, st)
	if err != nil {
		return nil, err
	}
	res.OpenMS = ms(time.Since(t0))
	m, err := reopened.Get("events")
	if err != nil {
		return nil, err
	}
	res.CurrentFiles = len(m.Current().Files)

	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Every answer is checked on a sample of versions, so that neither
	// side is timed while giving wrong answers.
	for _, v := range m.Versions {
		if v.Version%100 != 0 && v.Version > 3 && v.Version != len(m.Versions) {
			continue
		}
		if _, err := count(db, st, &v, rows); err != nil {
			return nil, err
		}
	}
	cur := m.Current()
	var times []time.Duration
	for range 21 {
		d, err := count(db, st, cur, rows)
		if err != nil {
			return nil, err
		}
		times = append(times, d)
	}
	_, res.CountMS = meanP50(times[1:]) // the first run warms the file cache
	return res, nil
}

// count times count(*) over the files of version v, which must hold rows
// rows per version.
func count(db *sql.DB, st *store.FS, v *catalog.Version, rows int) (time.Duration, error) {
	paths := make([]string, len(v.Files))
	for i, k := range v.Files {
		paths[i] = "'" + strings.ReplaceAll(st.Path(k), "'", "''") + "'"
	}
	t0 := time.Now()
	var got int
	if err := db.QueryRow("SELECT count(*) FROM read_parquet([" + strings.Join(paths, ", ") + "])").Scan(&got); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if want := v.Version * rows; got != want {
		return 0, fmt.Errorf("version %d: count(*) = %d, want %d", v.Version, got, want)
	}
	return d, nil
}

func meanP50(ds []time.Duration) (mean, p50 float64) {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return ms(sum / time.Duration(len(ds))), ms(sorted[len(sorted)/2])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printReport prints, for the runs in the JSON lines of path, the mean of
// each figure per side, baseline first.
func printReport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var labels []string
	runs := map[string][]result{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if _, ok := runs[r.Label]; !ok {
			labels = append(labels, r.Label)
		}
		runs[r.Label] = append(runs[r.Label], r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	figures := []struct {
		name   string
		get    func(result) float64
		format string
	}{
		{"manifest bytes", func(r result) float64 { return float64(r.ManifestBytes) }, "%.0f"},
		{"manifest objects", func(r result) float64 { return float64(r.Objects) }, "%.0f"},
		{"files of the current version", func(r result) float64 { return float64(r.CurrentFiles) }, "%.0f"},
		{"append latency, first 100, mean ms", func(r result) float64 { return r.First100MS }, "%.1f"},
		{"append latency, first 100, p50 ms", func(r result) float64 { return r.First100P50 }, "%.1f"},
		{"append latency, last 100, mean ms", func(r result) float64 { return r.Last100MS }, "%.1f"},
		{"append latency, last 100, p50 ms", func(r result) float64 { return r.Last100P50 }, "%.1f"},
		{"all appends, s", func(r result) float64 { return r.AllAppendsS }, "%.1f"},
		{"open the catalog, ms", func(r result) float64 { return r.OpenMS }, "%.1f"},
		{"count(*) of the current version, p50 ms", func(r result) float64 { return r.CountMS }, "%.2f"},
	}
	first := runs[labels[0]][0]
	fmt.Printf("%d versions of %d rows; runs per side: ", first.Appends, first.Rows)
	for i, l := range labels {
		if i > 0 {
			fmt.Print(", ")
		}
		fmt.Printf("%s %d", l, len(runs[l]))
	}
	fmt.Printf("\n\n| figure | %s |\n|---|%s\n", strings.Join(labels, " | "), strings.Repeat("---|", len(labels)))
	for _, fig := range figures {
		cells := make([]string, len(labels))
		for i, l := range labels {
			var sum float64
			for _, r := range runs[l] {
				sum += fig.get(r)
			}
			cells[i] = fmt.Sprintf(fig.format, sum/float64(len(runs[l])))
		}
		fmt.Printf("| %s | %s |\n", fig.name, strings.Join(cells, " | "))
	}
	return nil
}
