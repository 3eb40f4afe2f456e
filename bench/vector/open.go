package main

import (
	"context"
	"log"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	"lakehouse/backends/vector"
)

// openReport is lakehouse-open.json.
type openReport struct {
	Params       params     `json:"params"`
	Replayed     int        `json:"replayed"` // vectors in the log, not in the snapshot
	OpenSeconds  float64    `json:"open_seconds"`
	FirstSearch  float64    `json:"first_search_seconds"` // from the call to Open until the first search answered
	GraphReady   float64    `json:"graph_ready_seconds"`  // until every replayed vector is linked too
	FirstRecall  float64    `json:"first_recall"`         // of that first search, at ef 64
	PeakRSSOpen  int64      `json:"peak_rss_open_bytes"`
	RSSServing   int64      `json:"rss_serving_bytes"`
	RSSAnon      int64      `json:"rss_anon_bytes"`
	RSSFile      int64      `json:"rss_file_bytes"`
	HeapBaseline int64      `json:"heap_baseline_bytes"` // live heap before Open: the queries, the truth, the runtime
	Memory       memStats   `json:"memory"`              // the Go runtime's view, after a GC, while serving
	Model        []modelRow `json:"model"`               // the index's memory, part by part
	Results      []efResult `json:"results"`
}

// memStats is the Go runtime's view of the process's memory
// (runtime/metrics, /memory/classes/...), in bytes.
type memStats struct {
	HeapLive     int64 `json:"heap_live"`     // /gc/heap/live: objects marked live by the last GC
	HeapObjects  int64 `json:"heap_objects"`  // live plus not yet swept
	HeapFree     int64 `json:"heap_free"`     // free heap pages kept, which may count in RSS
	HeapUnused   int64 `json:"heap_unused"`   // room in in-use spans (fragmentation)
	HeapReleased int64 `json:"heap_released"` // returned to the OS: not in RSS
	Runtime      int64 `json:"runtime"`       // stacks, span and other metadata, profiling buckets, other
	Total        int64 `json:"total"`         // everything the runtime mapped
}

// A modelRow is one part of the index's memory.
type modelRow struct {
	Part  string `json:"part"`
	Bytes int64  `json:"bytes"`
	How   string `json:"how"`
}

// reopen opens the index the build phase left, in this fresh process, as a
// restarted server would: Open reads the snapshot and replays the log, and
// the first search answers right after (the replayed vectors not yet linked
// are scanned exactly meanwhile).
func reopen(o options) {
	p := readParams(o.out)
	var b buildReport
	readJSON(filepath.Join(o.out, o.side()+"-build.json"), &b)
	queries := readFloats(filepath.Join(o.out, "queries.f32"))
	truth := readInts(filepath.Join(o.out, "truth.i32"))
	runtime.GOMAXPROCS(1)
	rep := openReport{Params: p, Replayed: b.Tail}
	rep.HeapBaseline = int64(memoryMetrics(true)["/gc/heap/live:bytes"])
	ctx := context.Background()

	dir := filepath.Join(o.out, o.side()+"-index")
	t := time.Now()
	m, err := vector.Open(dir, vector.Config{M: benchM, EfConstruction: benchEfC})
	check(err)
	rep.OpenSeconds = time.Since(t).Seconds()
	hits, err := m.Search(ctx, indexName, queries[:p.Dim], vector.SearchOptions{K: p.K, Ef: 64})
	check(err)
	rep.FirstSearch = time.Since(t).Seconds()
	check(m.WaitIndexed(ctx, indexName))
	rep.GraphReady = time.Since(t).Seconds()
	rep.FirstRecall = recall(p, [][]vector.Hit{hits}, truth[:p.K])
	if un := m.Unavailable(); len(un) > 0 {
		log.Fatalf("index unavailable after reopening: %v", un)
	}
	log.Printf("lakehouse: Open returned after %.2fs, first search answered after %.2fs, graph complete after %.2fs (%d vectors replayed from the log)",
		rep.OpenSeconds, rep.FirstSearch, rep.GraphReady, rep.Replayed)

	for _, ef := range o.efs {
		r := measure(m, p, queries, truth, ef)
		rep.Results = append(rep.Results, r)
		log.Printf("lakehouse (reopened): ef=%-4d recall@%d=%.4f  %.0f queries/s", ef, p.K, r.Recall, r.QPS)
	}
	st := status()
	rep.PeakRSSOpen, rep.RSSServing, rep.RSSAnon, rep.RSSFile = st["VmHWM"], st["VmRSS"], st["RssAnon"], st["RssFile"]
	rep.Memory = readMemStats()
	info, err := m.Info(indexName)
	check(err)
	rep.Model = model(info.Memory, rep.Memory.HeapLive-rep.HeapBaseline)
	runtime.KeepAlive(m)
	log.Printf("lakehouse: RSS serving %.0f MiB (peak %.0f MiB), %.0f bytes a vector", mib(rep.RSSServing), mib(rep.PeakRSSOpen), float64(rep.RSSServing)/float64(p.N))
	check(m.Close())
	writeJSON(filepath.Join(o.out, o.side()+"-open.json"), rep)
}

// memoryMetrics reads /gc/heap/live and the /memory/classes metrics, after
// a GC if gc, so that the live heap is exact.
func memoryMetrics(gc bool) map[string]uint64 {
	if gc {
		runtime.GC()
	}
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if d.Name == "/gc/heap/live:bytes" || strings.HasPrefix(d.Name, "/memory/classes/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	out := map[string]uint64{}
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			out[s.Name] = s.Value.Uint64()
		}
	}
	return out
}

func readMemStats() memStats {
	m := memoryMetrics(true)
	g := func(name string) int64 { return int64(m[name]) }
	s := memStats{
		HeapLive:     g("/gc/heap/live:bytes"),
		HeapObjects:  g("/memory/classes/heap/objects:bytes"),
		HeapFree:     g("/memory/classes/heap/free:bytes"),
		HeapUnused:   g("/memory/classes/heap/unused:bytes"),
		HeapReleased: g("/memory/classes/heap/released:bytes"),
		Total:        g("/memory/classes/total:bytes"),
	}
	s.Runtime = s.Total - s.HeapObjects - s.HeapFree - s.HeapUnused - s.HeapReleased
	return s
}

// model is the index's memory part by part, as the index accounts for it
// (vector.Memory): its vectors outside the Go heap, in the snapshot file's
// pages or anonymous memory (a quantised index: its codes, and the floats
// no snapshot holds yet), and the rest in the heap, whose live bytes
// (live: the heap after Open less the heap before) are set beside them.
func model(mem vector.Memory, live int64) []modelRow {
	rows := []modelRow{
		{"vectors, outside the Go heap", mem.Vectors, "accounted: snapshot pages or anonymous memory"},
		{"graph links", mem.Links, "accounted"},
		{"ids and the id map", mem.IDs, "accounted"},
		{"texts, metadata, postings", mem.Texts + mem.Metadata + mem.Postings, "accounted"},
	}
	inHeap := mem.Total - mem.Vectors
	return append(rows, modelRow{"rest of the live heap", live - inHeap, "index live heap less the heap parts above"})
}
