package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// hnswBuild and hnswLoad are what bench/vector/hnswlib.cpp writes.
type hnswBuild struct {
	SIMD         string     `json:"simd"`
	BuildSeconds float64    `json:"build_seconds"`
	BuildCPU     float64    `json:"build_cpu_seconds"`
	PeakRSSBuild int64      `json:"peak_rss_build_bytes"`
	RSSServing   int64      `json:"rss_serving_bytes"`
	SaveSeconds  float64    `json:"save_seconds"`
	DiskBytes    int64      `json:"disk_bytes"`
	Results      []efResult `json:"results"`
}

type hnswLoad struct {
	LoadSeconds float64    `json:"load_seconds"`
	FirstSearch float64    `json:"first_search_seconds"`
	PeakRSSOpen int64      `json:"peak_rss_open_bytes"`
	RSSServing  int64      `json:"rss_serving_bytes"`
	Results     []efResult `json:"results"`
}

// table prints the side-by-side table of the four result files in out, and
// where lakehouse's bytes go, as markdown.
func table(out string) {
	var lb buildReport
	var lo openReport
	var hb hnswBuild
	var hl hnswLoad
	readJSON(filepath.Join(out, "lakehouse-build.json"), &lb)
	readJSON(filepath.Join(out, "lakehouse-open.json"), &lo)
	readJSON(filepath.Join(out, "hnswlib-build.json"), &hb)
	readJSON(filepath.Join(out, "hnswlib-load.json"), &hl)
	p := lb.Params
	n := float64(p.N)

	fmt.Printf("%d x %d-d vectors, %d queries, recall@%d; M=%d, ef_construction=%d, one thread on both sides (hnswlib: %s); lakehouse's last %d vectors are in the log only, replayed at open\n\n",
		p.N, p.Dim, p.Queries, p.K, benchM, benchEfC, hb.SIMD, lb.Tail)
	fmt.Println("| figure | lakehouse | hnswlib | ratio |")
	fmt.Println("|---|---|---|---|")
	row := func(label string, a, b float64, format string) {
		ratio := "–"
		if b > 0 && !math.IsNaN(a) {
			ratio = fmt.Sprintf("%.2f×", a/b)
		}
		cell := func(v float64) string {
			if math.IsNaN(v) {
				return "–"
			}
			return fmt.Sprintf(format, v)
		}
		fmt.Printf("| %s | %s | %s | %s |\n", label, cell(a), cell(b), ratio)
	}
	m := func(b int64) float64 { return mib(b) }
	row("build, wall (s)", lb.BuildSeconds, hb.BuildSeconds, "%.1f")
	row("build, CPU (s)", lb.BuildCPU, hb.BuildCPU, "%.1f")
	row("peak RSS during build (MiB)", m(lb.PeakRSSBuild), m(hb.PeakRSSBuild), "%.0f")
	row("RSS serving after build (MiB)", m(lb.RSSServing), m(hb.RSSServing), "%.0f")
	row("save: Snapshot / saveIndex + fsync (s)", lb.SnapshotSecs, hb.SaveSeconds, "%.2f")
	row("on disk (MB)", float64(lb.DiskBytes)/1e6, float64(hb.DiskBytes)/1e6, "%.1f")
	row("open: Open / loadIndex returns (s)", lo.OpenSeconds, hl.LoadSeconds, "%.2f")
	row("open: first search answered (s)", lo.FirstSearch, hl.FirstSearch, "%.2f")
	row("open: graph complete (s)", lo.GraphReady, math.NaN(), "%.2f")
	row("peak RSS during open (MiB)", m(lo.PeakRSSOpen), m(hl.PeakRSSOpen), "%.0f")
	row("RSS serving after open (MiB)", m(lo.RSSServing), m(hl.RSSServing), "%.0f")
	row("RSS serving after open, bytes per vector", float64(lo.RSSServing)/n, float64(hl.RSSServing)/n, "%.0f")
	for i, a := range lb.Results {
		var b, ao, bo efResult
		if i < len(hb.Results) {
			b = hb.Results[i]
		}
		if i < len(lo.Results) {
			ao = lo.Results[i]
		}
		if i < len(hl.Results) {
			bo = hl.Results[i]
		}
		row(fmt.Sprintf("ef %d: recall@%d", a.Ef, p.K), a.Recall, b.Recall, "%.4f")
		row(fmt.Sprintf("ef %d: queries/s after build", a.Ef), a.QPS, b.QPS, "%.0f")
		row(fmt.Sprintf("ef %d: queries/s after open", a.Ef), ao.QPS, bo.QPS, "%.0f")
		row(fmt.Sprintf("ef %d: queries per CPU-second after open", a.Ef), ao.QPSCPU, bo.QPSCPU, "%.0f")
	}

	raw := float64(p.Dim * 4)
	layout := raw + float64(2*benchM*4)
	fmt.Printf("\nWhere lakehouse's bytes go, reopened and serving (Go runtime after a GC), per vector; raw = dim×4 = %.0f B, hnswlib's layout estimate = raw + 2M×4 = %.0f B\n\n", raw, layout)
	fmt.Println("| part | MiB | bytes/vector | × raw | × hnswlib layout |")
	fmt.Println("|---|---|---|---|---|")
	acct := func(label string, b int64) {
		per := float64(b) / n
		fmt.Printf("| %s | %.1f | %.0f | %.2f | %.2f |\n", label, mib(b), per, per/raw, per/layout)
	}
	mem := lo.Memory
	acct("**RSS (VmRSS)**", lo.RSSServing)
	acct("· RssFile (the binary, mapped files)", lo.RSSFile)
	acct("· RssAnon", lo.RSSAnon)
	acct("Go runtime, mapped and not released", mem.Total-mem.HeapReleased)
	acct("· heap, live objects", mem.HeapLive)
	acct("· heap, not yet swept", mem.HeapObjects-mem.HeapLive)
	acct("· heap, free pages kept", mem.HeapFree)
	acct("· heap, unused room in spans", mem.HeapUnused)
	acct("· runtime (stacks, metadata, other)", mem.Runtime)
	acct("heap released to the OS (not in RSS)", mem.HeapReleased)
	acct("**index's live heap** (live less the heap before Open)", mem.HeapLive-lo.HeapBaseline)
	for _, r := range lo.Model {
		acct("· "+r.Part+" ("+strings.TrimSpace(r.How)+")", r.Bytes)
	}
	acct("hnswlib: RSS serving after load", hl.RSSServing)
	acct("hnswlib: peak RSS during build", hb.PeakRSSBuild)
	acct("lakehouse: peak RSS during build", lb.PeakRSSBuild)
	acct("lakehouse: Go heap live after build, serving", lb.HeapLive)
}
