// Package shared measures the datasets of shared mode against local mode,
// in the same run: the ingest of a 1M-row CSV and a GROUP BY over its
// rows, with the Parquet files in the data directory (local), or in a
// bucket of a real versitygw on loopback read through the node's cache,
// cold (the copy removed before the query, so it is fetched) and warm.
// Each round runs every side once, local first in odd rounds and shared
// first in even ones; the figures are medians over the rounds.
//
//	go test -run '^$' -bench Shared -benchtime 5x ./bench/shared
//
// (bench/shared/run.sh). The catalog is the local log on both sides: this
// measures where the files are, not where the manifests are.
package shared

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/internal/s3test"
)

// rows of the CSV ingested, the query measured over them, and how many
// times a round runs it over a warm cache (or local files).
const (
	rows        = 1_000_000
	warmQueries = 5
	query       = "SELECT k, count(*) AS n, sum(x) AS sx, max(s) AS ms FROM %s GROUP BY k ORDER BY k"
)

// side is the engines of one data directory.
type side struct {
	cat   *catalog.Catalog
	in    *ingest.Ingester
	sql   *sqlengine.Engine
	cache *store.Cache // nil for local
}

// open opens the engines over dir, keeping the datasets' files in the
// local store, or (with srv) in a bucket of srv read through a cache.
func open(b *testing.B, dir, csvDir string, srv *s3test.Server) *side {
	b.Helper()
	ctx := context.Background()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var files interface {
		ingest.Store
		ingest.Files
		catalog.Files
	} = st
	s := &side{}
	datasetDir := st.Path("_datasets")
	if srv != nil {
		bucket, err := store.OpenS3(ctx, store.S3Config{Endpoint: srv.Endpoint, Region: s3test.Region, Bucket: srv.Bucket(), PathStyle: true,
			TempDir: b.TempDir(), Credentials: s3test.Credentials()})
		if err != nil {
			b.Fatal(err)
		}
		if s.cache, err = store.OpenCache(filepath.Join(dir, "cache"), bucket, 0); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.cache.Close() })
		files, datasetDir = store.NewCached(bucket, s.cache), s.cache.Dir()
	}
	os.MkdirAll(datasetDir, 0o755)
	if s.cat, err = catalog.Open(ctx, st); err != nil {
		b.Fatal(err)
	}
	s.cat.SetFiles(files)
	if s.in, err = ingest.New(ingest.Config{TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir(), FilesDir: datasetDir,
		AllowedPaths: []string{csvDir}, CompactFiles: -1}, s.cat, files); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.in.Close() })
	if s.sql, err = sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, datasetDir, ingest.Views(s.cat, files)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.sql.Close() })
	return s
}

// writeCSV writes the CSV of the benchmark's rows to path.
func writeCSV(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "i,k,x,s")
	for i := range rows {
		fmt.Fprintf(w, "%d,%d,%d.%02d,item-%d\n", i, i%1000, i%997, i%100, i%5003)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// timed returns how long f took, failing b when it fails.
func timed(b *testing.B, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// round ingests the CSV at csv into a new dataset of s and times it and the
// query over it: once for local, cold then warm for shared.
func (s *side) round(b *testing.B, csv, name string, out map[string][]time.Duration, label string) {
	ctx := context.Background()
	q := fmt.Sprintf(query, name)
	run := func() error {
		res, err := s.sql.Query(ctx, q, 2000)
		if err == nil && res.RowCount != 1000 {
			err = fmt.Errorf("%d groups, want 1000", res.RowCount)
		}
		return err
	}
	var bytes int64
	out[label+" ingest"] = append(out[label+" ingest"], timed(b, func() error {
		res, err := s.in.Ingest(ctx, ingest.Request{Name: name, Path: csv, Format: "csv"}, nil)
		if err == nil {
			bytes = res.Bytes
		}
		return err
	}))
	b.ReportMetric(float64(bytes)/1e6, "parquet-MB")
	warm := label + " group by"
	if s.cache != nil {
		s.cache.Forget(catalog.DataPrefix) // the copy goes: the next query fetches it
		out[label+" group by, cold"] = append(out[label+" group by, cold"], timed(b, run))
		warm += ", warm"
	} else {
		timed(b, run) // as the shared side's cold query, the first reads the file from disk
	}
	for range warmQueries {
		out[warm] = append(out[warm], timed(b, run))
	}
	if _, err := s.in.Drop(ctx, name); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkShared runs one round of every side per iteration and reports
// the medians, in ms, of the ingest and of the query on each.
func BenchmarkShared(b *testing.B) {
	srv := s3test.Start(b)
	csvDir := b.TempDir()
	csv := filepath.Join(csvDir, "rows.csv")
	writeCSV(b, csv)
	local := open(b, b.TempDir(), csvDir, nil)
	shared := open(b, b.TempDir(), csvDir, srv)
	out := map[string][]time.Duration{}
	n := 0
	for b.Loop() {
		n++
		name := fmt.Sprintf("r%d", n)
		if n%2 == 1 {
			local.round(b, csv, name, out, "local")
			shared.round(b, csv, name, out, "shared")
		} else {
			shared.round(b, csv, name, out, "shared")
			local.round(b, csv, name, out, "local")
		}
	}
	for _, label := range slices.Sorted(maps.Keys(out)) {
		d := slices.Clone(out[label])
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, metricName(label))
	}
}

// metricName is label as a benchmark unit: "shared-group-by-cold-ms".
func metricName(label string) string {
	return strings.NewReplacer(" ", "-", ",", "").Replace(label) + "-ms"
}
