package main

import (
	"context"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"lakehouse/backends/vector"
	"lakehouse/bench/internal/proc"
)

const indexName = "bench"

type efResult struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	QPS    float64 `json:"qps"`     // queries per second of wall time, the fastest pass
	QPSCPU float64 `json:"qps_cpu"` // queries per CPU-second of the process, the thriftiest pass: what a busy machine moves least
}

// buildReport is lakehouse-build.json.
type buildReport struct {
	Params        params     `json:"params"`
	Quant         string     `json:"quant"`
	Tail          int        `json:"tail"`
	UpsertSeconds float64    `json:"upsert_seconds"`
	BuildSeconds  float64    `json:"build_seconds"`
	BuildCPU      float64    `json:"build_cpu_seconds"`
	SnapshotSecs  float64    `json:"snapshot_seconds"`
	PeakRSSBuild  int64      `json:"peak_rss_build_bytes"`
	RSSServing    int64      `json:"rss_serving_bytes"`
	HeapLive      int64      `json:"heap_live_bytes"`
	DiskBytes     int64      `json:"disk_bytes"`
	Results       []efResult `json:"results"`
}

// build builds the index from base.f32 on one thread. The first n-tail
// vectors are upserted and linked, then snapshotted; the last tail vectors
// are upserted and linked after the snapshot, so that they are in the log
// only and the open phase replays them. Build time is the upserts and the
// linking, without the explicit snapshot (the automatic ones the index takes
// while it grows are in).
func build(o options) {
	p := readParams(o.out)
	tail := o.tail
	if tail < 0 {
		tail = p.N / 100
	}
	tail = min(tail, p.N)
	queries := readFloats(filepath.Join(o.out, "queries.f32"))
	truth := readInts(filepath.Join(o.out, "truth.i32"))

	// Everything runs on one thread, like hnswlib's side: the index's
	// background goroutines share it.
	runtime.GOMAXPROCS(1)
	rep := buildReport{Params: p, Quant: o.quant, Tail: tail}
	dir := filepath.Join(o.out, o.side()+"-index")
	check(os.RemoveAll(dir))
	ctx := context.Background()
	m, err := vector.Open(dir, vector.Config{M: benchM, EfConstruction: benchEfC})
	check(err)
	spec := vector.Spec{Dim: p.Dim, Metric: vector.Cosine, Model: "synthetic"}
	if o.quant != "none" {
		spec.Quantization = vector.Quantization(o.quant)
	}
	_, err = m.Create(ctx, indexName, spec)
	check(err)

	base := filepath.Join(o.out, "base.f32")
	cpu0 := proc.CPUTime()
	start := time.Now()
	upsertRange(m, base, p.Dim, 0, p.N-tail)
	upserted := time.Since(start)
	check(m.WaitIndexed(ctx, indexName))
	first := time.Since(start)
	log.Printf("lakehouse: upserted %d vectors in %.1fs; graph complete after %.1fs", p.N-tail, upserted.Seconds(), first.Seconds())

	cpu1 := proc.CPUTime()
	t := time.Now()
	check(m.Snapshot(ctx, indexName))
	rep.SnapshotSecs = time.Since(t).Seconds()
	snapCPU := proc.CPUTime() - cpu1

	t = time.Now()
	upsertRange(m, base, p.Dim, p.N-tail, p.N)
	upserted += time.Since(t)
	check(m.WaitIndexed(ctx, indexName))
	rep.UpsertSeconds = upserted.Seconds()
	rep.BuildSeconds = (first + time.Since(t)).Seconds()
	rep.BuildCPU = (proc.CPUTime() - cpu0 - snapCPU).Seconds()
	rep.PeakRSSBuild = status()["VmHWM"]
	log.Printf("lakehouse: %d vectors linked in %.1fs (%.1f CPU-s), snapshot %.1fs, peak RSS %.0f MiB, the last %d in the log only",
		p.N, rep.BuildSeconds, rep.BuildCPU, rep.SnapshotSecs, mib(rep.PeakRSSBuild), tail)

	for _, ef := range o.efs {
		r := measure(m, p, queries, truth, ef)
		rep.Results = append(rep.Results, r)
		log.Printf("lakehouse: ef=%-4d recall@%d=%.4f  %.0f queries/s", ef, p.K, r.Recall, r.QPS)
	}
	rep.RSSServing = status()["VmRSS"]
	rep.HeapLive = int64(memoryMetrics(true)["/gc/heap/live:bytes"])
	check(m.Close())
	rep.DiskBytes = diskUsage(dir)
	log.Printf("lakehouse: RSS serving %.0f MiB, Go heap live %.0f MiB, on disk %.0f MB", mib(rep.RSSServing), mib(rep.HeapLive), float64(rep.DiskBytes)/1e6)
	writeJSON(filepath.Join(o.out, o.side()+"-build.json"), rep)
}

// upsertRange upserts vectors [from, to) of the file base, 1000 a call,
// with their slot numbers as ids.
func upsertRange(m *vector.Manager, base string, dim, from, to int) {
	const per = 1000
	items := make([]vector.Item, 0, per)
	eachBatch(base, dim, from, to, per, func(first int, vecs []float32) {
		items = items[:0]
		for j := range len(vecs) / dim {
			items = append(items, vector.Item{ID: strconv.Itoa(first + j), Vector: vecs[j*dim : (j+1)*dim]})
		}
		_, err := m.Upsert(context.Background(), indexName, items)
		check(err)
	})
}

// timedRuns is how often each side answers the queries; the fastest run
// counts, which keeps a busy moment of a shared machine out of the figure.
const timedRuns = 3

// measure runs every query once to warm up, then timedRuns times, one at a
// time, and compares the results with truth.
func measure(m *vector.Manager, p params, queries []float32, truth []int32, ef int) efResult {
	ctx := context.Background()
	nq := len(queries) / p.Dim
	opts := vector.SearchOptions{K: p.K, Ef: ef}
	for i := range nq {
		_, err := m.Search(ctx, indexName, queries[i*p.Dim:(i+1)*p.Dim], opts)
		check(err)
	}
	hits := make([][]vector.Hit, nq)
	elapsed, cpu := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for range timedRuns {
		start, cpu0 := time.Now(), proc.CPUTime()
		for i := range nq {
			hits[i], _ = m.Search(ctx, indexName, queries[i*p.Dim:(i+1)*p.Dim], opts)
		}
		elapsed, cpu = min(elapsed, time.Since(start)), min(cpu, proc.CPUTime()-cpu0)
	}
	return efResult{Ef: ef, Recall: recall(p, hits, truth), QPS: float64(nq) / elapsed.Seconds(), QPSCPU: float64(nq) / cpu.Seconds()}
}

// recall is the share of the true top k that hits found.
func recall(p params, hits [][]vector.Hit, truth []int32) float64 {
	found := 0
	for i, hs := range hits {
		want := truth[i*p.K : (i+1)*p.K]
		for _, h := range hs {
			id, _ := strconv.Atoi(h.ID)
			if slices.Contains(want, int32(id)) {
				found++
			}
		}
	}
	return float64(found) / float64(len(hits)*p.K)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
