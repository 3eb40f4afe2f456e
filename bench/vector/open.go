package main

import (
	"context"
	"log"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
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
	Model        []modelRow `json:"model"`               // the index's live heap, part by part
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

// A modelRow is one part of the index's memory, from its layout in
// backends/vector: exact where the layout fixes it, measured on a replica
// where a Go map or string sizes it, expected where randomness does.
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
	readJSON(filepath.Join(o.out, "lakehouse-build.json"), &b)
	queries := readFloats(filepath.Join(o.out, "queries.f32"))
	truth := readInts(filepath.Join(o.out, "truth.i32"))
	runtime.GOMAXPROCS(1)
	rep := openReport{Params: p, Replayed: b.Tail}
	rep.HeapBaseline = int64(memoryMetrics(true)["/gc/heap/live:bytes"])
	ctx := context.Background()

	dir := filepath.Join(o.out, "lakehouse-index")
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
	rep.Model = model(p, rep.Memory.HeapLive-rep.HeapBaseline)
	runtime.KeepAlive(m)
	log.Printf("lakehouse: RSS serving %.0f MiB (peak %.0f MiB), %.0f bytes a vector", mib(rep.RSSServing), mib(rep.PeakRSSOpen), float64(rep.RSSServing)/float64(p.N))
	check(m.Close())
	writeJSON(filepath.Join(o.out, "lakehouse-open.json"), rep)
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

// model splits the index's live heap (live, the heap after Open less the
// heap before) into its parts, from the layout of backends/vector
// (segment.go, hnsw.go, lexical.go): what is left is the rest (the
// lexicon's maps, the log's buffers, the heap the Manager keeps).
func model(p params, live int64) []modelRow {
	n, dim, m := int64(p.N), int64(p.Dim), int64(benchM)
	// Upper layers: a node reaches layer l >= 1 with probability M^-l, so
	// it has 1/(M-1) upper layers on average, of M+1 words each.
	upper := int64(float64(n) * float64(m+1) * 4 / float64(m-1))
	ids, idMap := replicaIDs(p.N)
	rows := []modelRow{
		{"vectors (float32)", n * dim * 4, "exact: n x dim x 4"},
		{"graph, layer 0", n * (2*m + 1) * 4, "exact: n x (2M+1) x 4 (count + 2M links)"},
		{"graph, upper layers", upper, "expected: n x (M+1) x 4 / (M-1)"},
		{"graph, level and upper offset", n * 5, "exact: n x (1 + 4)"},
		{"ids (strings)", ids, "measured on a replica: header in the slice + bytes"},
		{"id -> slot map", idMap, "measured on a replica map[string]uint32 of n ids"},
		{"per-slot extras, lexicon, tombstones", n*(8+4+4) + n/8, "exact: *extra 8 + lexicon fwdAt 4 + docLen 4 + 1 bit"},
	}
	var sum int64
	for _, r := range rows {
		sum += r.Bytes
	}
	rows = append(rows, modelRow{"rest", live - sum, "index live heap less the parts above"})
	return rows
}

// replicaIDs measures what n ids like the bench's take as a []string, and
// then as the keys of a map[string]uint32 made for n, as the index's
// segment makes them when it reads a snapshot.
func replicaIDs(n int) (ids, idMap int64) {
	live := func() int64 { return int64(memoryMetrics(true)["/gc/heap/live:bytes"]) }
	l0 := live()
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	l1 := live()
	mp := make(map[string]uint32, n)
	for i, id := range s {
		mp[id] = uint32(i)
	}
	l2 := live()
	runtime.KeepAlive(s)
	runtime.KeepAlive(mp)
	return l1 - l0, l2 - l1
}
