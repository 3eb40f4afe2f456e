package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/sqlengine"
	"lakehouse/backends/vector"
)

// Benchmarks of the targets, each against raw DuckDB doing the same
// work in the same run. bench/run.sh runs them and prints the figures.

const benchRows = 1_000_000

var (
	benchCSVOnce sync.Once
	benchCSVPath string
)

// benchCSV writes a 1M-row CSV of about 100 MB once per run.
func benchCSV(b *testing.B) string {
	benchCSVOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mcpd-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchCSVPath = filepath.Join(dir, "orders.csv")
		f, err := os.Create(benchCSVPath)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		r := rand.New(rand.NewPCG(1, 2))
		regions := []string{"north", "south", "east", "west", "central"}
		fmt.Fprintln(w, "id,ordered_at,region,customer,quantity,unit_price,discount,note")
		start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range benchRows {
			fmt.Fprintf(w, "%d,%s,%s,customer-%06d,%d,%.2f,%.3f,order note number %d with some text\n",
				i, start.Add(time.Duration(r.IntN(365*24*3600))*time.Second).Format("2006-01-02 15:04:05"),
				regions[r.IntN(len(regions))], r.IntN(100000), 1+r.IntN(20), 1+r.Float64()*500, r.Float64()*0.3, i)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	})
	return benchCSVPath
}

func benchSession(b *testing.B, cfg Config) *mcp.ClientSession {
	b.Helper()
	e, err := openEngines(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return benchConnect(b, newServer(e.backends, false))
}

// benchConnect connects a client session to s over in-memory transports.
func benchConnect(b *testing.B, s *mcp.Server) *mcp.ClientSession {
	b.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

func benchCall(b *testing.B, cs *mcp.ClientSession, tool string, args any) {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil || res.IsError {
		b.Fatalf("%s: %v %s", tool, err, contentText(res))
	}
}

// BenchmarkIngestCSV ingests the 1M-row CSV through ingest_dataset (a new
// dataset each time) and, as the baseline, has raw DuckDB COPY it to zstd
// Parquet.
func BenchmarkIngestCSV(b *testing.B) {
	csv := benchCSV(b)
	fi, _ := os.Stat(csv)
	report := func(b *testing.B) {
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(benchRows/perOp, "rows/s")
		b.ReportMetric(float64(fi.Size())/1e6/perOp, "MB/s")
	}
	b.Run("ingest_dataset", func(b *testing.B) {
		cfg := defaultConfig()
		cfg.DataDir = b.TempDir()
		cfg.Ingest.AllowedPaths = []string{filepath.Dir(csv)}
		cs := benchSession(b, cfg)
		b.ResetTimer()
		for i := range b.N {
			benchCall(b, cs, "ingest_dataset", map[string]any{"name": fmt.Sprintf("orders_%d", i), "source": map[string]any{"path": csv}})
		}
		report(b)
	})
	b.Run("raw_duckdb", func(b *testing.B) {
		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		out := b.TempDir()
		b.ResetTimer()
		for i := range b.N {
			q := fmt.Sprintf("COPY (SELECT * FROM read_csv('%s')) TO '%s/o%d.parquet' (FORMAT parquet, COMPRESSION zstd)", csv, out, i)
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}

// BenchmarkQuerySQL measures query_sql round trips through an in-memory MCP
// session against the same statements on a raw DuckDB connection over the
// same Parquet file.
func BenchmarkQuerySQL(b *testing.B) {
	csv := benchCSV(b)
	cfg := defaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Ingest.AllowedPaths = []string{filepath.Dir(csv)}
	cs := benchSession(b, cfg)
	benchCall(b, cs, "ingest_dataset", map[string]any{"name": "orders", "source": map[string]any{"path": csv}})
	parquet, _ := filepath.Glob(filepath.Join(cfg.DataDir, "objects", "data", "_datasets", "orders", "v1", "*.parquet"))
	if len(parquet) != 1 {
		b.Fatalf("parquet files: %v", parquet)
	}
	raw, err := sqlengine.Open(sqlengine.Config{TempDir: filepath.Join(b.TempDir(), "duckdb-tmp")}, []string{filepath.Dir(parquet[0])})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(fmt.Sprintf("CREATE VIEW orders AS SELECT * FROM read_parquet('%s')", parquet[0])); err != nil {
		b.Fatal(err)
	}
	const groupBy = "SELECT region, count(*) AS n, sum(quantity * unit_price) AS revenue FROM orders GROUP BY region ORDER BY region"

	// The two sides alternate, so that a busy moment of the machine slows
	// both alike and the ratio of their medians stays fair.
	for _, q := range []struct{ name, sql string }{{"select42", "SELECT 42"}, {"groupby_1M", groupBy}} {
		b.Run(q.name, func(b *testing.B) {
			mcpLat, rawLat := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			for range b.N {
				t0 := time.Now()
				benchCall(b, cs, "query_sql", map[string]any{"sql": q.sql})
				t1 := time.Now()
				rows, err := raw.Query(q.sql)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
				mcpLat, rawLat = append(mcpLat, t1.Sub(t0)), append(rawLat, time.Since(t1))
			}
			m, r := p50(mcpLat), p50(rawLat)
			b.ReportMetric(m.Seconds()*1000, "query_sql-p50-ms")
			b.ReportMetric(r.Seconds()*1000, "raw-p50-ms")
			b.ReportMetric(100*(m.Seconds()/r.Seconds()-1), "overhead-%")
		})
	}
}

// p50 returns the median of lat, sorting it.
func p50(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[len(lat)/2]
}

func reportP50(b *testing.B, lat []time.Duration) {
	b.ReportMetric(p50(lat).Seconds()*1000, "p50-ms")
}

// vectorBench opens the engines of a fresh data directory for a vector
// benchmark and returns them with the embedder's dimension.
func vectorBench(b *testing.B) (*engines, int) {
	cfg := defaultConfig()
	cfg.DataDir = b.TempDir()
	e, err := openEngines(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	dims, err := e.backends.Embed.Dims(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return e, dims
}

// BenchmarkSearchVectors times search_vectors by query_text through an
// in-memory MCP session on an index of 100k vectors of the embedder's
// dimension (drawn around 100 seeded cluster centres, as embeddings
// cluster), against the index searched directly with a ready vector.
func BenchmarkSearchVectors(b *testing.B) {
	ctx := context.Background()
	e, dims := vectorBench(b)
	vecs, emb := e.vectors, e.backends.Embed
	if _, err := vecs.Create(ctx, "bench", vector.Spec{Dim: dims, Model: emb.Model()}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	centres := clusterCentres(rng, 100, dims)
	t0 := time.Now()
	const n, batch = 100_000, 1000
	for start := 0; start < n; start += batch {
		if _, err := vecs.Upsert(ctx, "bench", clustered(rng, centres, start, batch)); err != nil {
			b.Fatal(err)
		}
	}
	if err := vecs.WaitIndexed(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.Logf("100k x %d index built in %.1fs", dims, time.Since(t0).Seconds())
	cs := benchConnect(b, newServer(e.backends, false))
	words := []string{"river", "market", "engine", "garden", "signal", "music", "winter", "doctor", "planet", "coffee", "ticket", "forest"}
	phrase := func(i int) string { // distinct texts, so the embedding cache never answers
		return fmt.Sprintf("%s %s %s %d", words[i%12], words[(i/12)%12], words[(i/144)%12], i)
	}
	b.Run("query_text/mcp", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for i := range b.N {
			t0 := time.Now()
			benchCall(b, cs, "search_vectors", map[string]any{"index": "bench", "query_text": phrase(i), "k": 10})
			lat = append(lat, time.Since(t0))
		}
		reportP50(b, lat)
	})
	b.Run("query_vector/direct", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for i := range b.N {
			q, err := emb.Embed(ctx, []string{phrase(1_000_000 + i)})
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if _, err := vecs.Search(ctx, "bench", q[0], vector.SearchOptions{K: 10}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportP50(b, lat)
	})
}

// BenchmarkMatrixSearch times one matrix_search over 4 corpora of 25k
// vectors each (so HNSW graphs) against 4 sequential search_vectors calls
// for the same query_text, through one in-memory MCP session. The sides
// alternate which goes first, so that each pays the embedding cache's miss
// on the query half the time.
func BenchmarkMatrixSearch(b *testing.B) {
	ctx := context.Background()
	e, dims := vectorBench(b)
	vecs, emb := e.vectors, e.backends.Embed
	t0 := time.Now()
	rng := rand.New(rand.NewPCG(3, 4))
	centres := clusterCentres(rng, 100, dims)
	corpora := []string{"docs", "code", "tickets", "notes"}
	const n, batch = 25_000, 1000
	for _, name := range corpora {
		if _, err := vecs.Create(ctx, name, vector.Spec{Dim: dims, Model: emb.Model()}); err != nil {
			b.Fatal(err)
		}
		for start := 0; start < n; start += batch {
			if _, err := vecs.Upsert(ctx, name, clustered(rng, centres, start, batch)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, name := range corpora {
		if err := vecs.WaitIndexed(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("4 x 25k x %d indexes built in %.1fs", dims, time.Since(t0).Seconds())
	cs := benchConnect(b, newServer(e.backends, false))
	words := []string{"river", "market", "engine", "garden", "signal", "music", "winter", "doctor", "planet", "coffee", "ticket", "forest"}
	sides := [2]func(text string){
		func(text string) {
			benchCall(b, cs, "matrix_search", map[string]any{"query_text": text, "corpora": corpora, "k": 10})
		},
		func(text string) {
			for _, name := range corpora {
				benchCall(b, cs, "search_vectors", map[string]any{"index": name, "query_text": text, "k": 10})
			}
		},
	}
	lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprintf("%s %s %s %d", words[i%12], words[(i/12)%12], words[(i/144)%12], i) // new to the cache
		for j := range 2 {
			side := (i + j) % 2
			t0 := time.Now()
			sides[side](text)
			lat[side] = append(lat[side], time.Since(t0))
		}
	}
	m50, s50 := p50(lat[0]), p50(lat[1])
	b.ReportMetric(m50.Seconds()*1000, "matrix_search-p50-ms")
	b.ReportMetric(s50.Seconds()*1000, "sequential-p50-ms")
	b.ReportMetric(p95(lat[0]).Seconds()*1000, "matrix_search-p95-ms")
	b.ReportMetric(p95(lat[1]).Seconds()*1000, "sequential-p95-ms")
	b.ReportMetric(m50.Seconds()/s50.Seconds(), "p50-ratio")
}

// p95 returns the 95th percentile of lat, sorting it.
func p95(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[len(lat)*95/100]
}

// clusterCentres draws n centres of dims normal components: embeddings
// cluster, and vectors drawn around centres make an index of that shape.
func clusterCentres(rng *rand.Rand, n, dims int) [][]float32 {
	centres := make([][]float32, n)
	for i := range centres {
		centres[i] = make([]float32, dims)
		for j := range centres[i] {
			centres[i][j] = float32(rng.NormFloat64())
		}
	}
	return centres
}

// clustered returns n items "item-<start+i>" whose vectors lie around
// random centres.
func clustered(rng *rand.Rand, centres [][]float32, start, n int) []vector.Item {
	items := make([]vector.Item, n)
	for i := range items {
		c := centres[rng.IntN(len(centres))]
		v := make([]float32, len(c))
		for j := range v {
			v[j] = c[j] + 0.7*float32(rng.NormFloat64())
		}
		items[i] = vector.Item{ID: fmt.Sprint("item-", start+i), Vector: v}
	}
	return items
}

// BenchmarkObserverOverhead times the same cheap tool call on a server that
// records it and on one that does not, alternating; the difference of the
// medians is what recording costs a call.
func BenchmarkObserverOverhead(b *testing.B) {
	cfg := defaultConfig()
	cfg.DataDir = b.TempDir()
	e, err := openEngines(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	unobserved := *e.backends
	unobserved.Observer = nil
	observed, bare := benchConnect(b, newServer(e.backends, false)), benchConnect(b, newServer(&unobserved, false))
	args := map[string]any{"prefix": "reports/", "limit": 10}
	with, without := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	for range b.N {
		t0 := time.Now()
		benchCall(b, observed, "list_objects", args)
		t1 := time.Now()
		benchCall(b, bare, "list_objects", args)
		with, without = append(with, t1.Sub(t0)), append(without, time.Since(t1))
	}
	pw, pb := p50(with), p50(without)
	b.ReportMetric(float64(pw.Nanoseconds())/1000, "observed-p50-µs")
	b.ReportMetric(float64(pb.Nanoseconds())/1000, "unobserved-p50-µs")
	b.ReportMetric(float64((pw-pb).Nanoseconds())/1000, "overhead-µs")
}
