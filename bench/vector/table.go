package main

import (
	"fmt"
	"math"
	"os"
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

// table prints the side-by-side table of the result files in out, float
// and (if it ran) int8 lakehouse against hnswlib, and where lakehouse's
// bytes go, as markdown.
func table(out string) {
	var lb, qb buildReport
	var lo, qo openReport
	var hb hnswBuild
	var hl hnswLoad
	readJSON(filepath.Join(out, "lakehouse-build.json"), &lb)
	readJSON(filepath.Join(out, "lakehouse-open.json"), &lo)
	readJSON(filepath.Join(out, "hnswlib-build.json"), &hb)
	readJSON(filepath.Join(out, "hnswlib-load.json"), &hl)
	quant := fileExists(filepath.Join(out, "lakehouse-int8-open.json"))
	if quant {
		readJSON(filepath.Join(out, "lakehouse-int8-build.json"), &qb)
		readJSON(filepath.Join(out, "lakehouse-int8-open.json"), &qo)
	}
	p := lb.Params
	n := float64(p.N)

	fmt.Printf("%d x %d-d vectors, %d queries, recall@%d; M=%d, ef_construction=%d, one thread on every side (hnswlib: %s); lakehouse's last %d vectors are in the log only, replayed at open\n\n",
		p.N, p.Dim, p.Queries, p.K, benchM, benchEfC, hb.SIMD, lb.Tail)
	fmt.Println("| figure | lakehouse | lakehouse int8 | hnswlib | lakehouse / hnswlib | int8 / float |")
	fmt.Println("|---|---|---|---|---|---|")
	row := func(label string, a, q, b float64, format string) {
		cell := func(v float64) string {
			if math.IsNaN(v) || !quant && v == q {
				return "–"
			}
			return fmt.Sprintf(format, v)
		}
		ratio := func(x, y float64) string {
			if y <= 0 || math.IsNaN(x) || math.IsNaN(y) {
				return "–"
			}
			return fmt.Sprintf("%.2f×", x/y)
		}
		qr := "–"
		if quant {
			qr = ratio(q, a)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", label, cell(a), cell(q), cell(b), ratio(a, b), qr)
	}
	m := func(b int64) float64 { return mib(b) }
	row("build, wall (s)", lb.BuildSeconds, qb.BuildSeconds, hb.BuildSeconds, "%.1f")
	row("build, CPU (s)", lb.BuildCPU, qb.BuildCPU, hb.BuildCPU, "%.1f")
	row("peak RSS during build (MiB)", m(lb.PeakRSSBuild), m(qb.PeakRSSBuild), m(hb.PeakRSSBuild), "%.0f")
	row("RSS serving after build (MiB)", m(lb.RSSServing), m(qb.RSSServing), m(hb.RSSServing), "%.0f")
	row("save: Snapshot / saveIndex + fsync (s)", lb.SnapshotSecs, qb.SnapshotSecs, hb.SaveSeconds, "%.2f")
	row("on disk (MB)", float64(lb.DiskBytes)/1e6, float64(qb.DiskBytes)/1e6, float64(hb.DiskBytes)/1e6, "%.1f")
	row("open: Open / loadIndex returns (s)", lo.OpenSeconds, qo.OpenSeconds, hl.LoadSeconds, "%.2f")
	row("open: first search answered (s)", lo.FirstSearch, qo.FirstSearch, hl.FirstSearch, "%.2f")
	row("open: graph complete (s)", lo.GraphReady, qo.GraphReady, math.NaN(), "%.2f")
	row("peak RSS during open (MiB)", m(lo.PeakRSSOpen), m(qo.PeakRSSOpen), m(hl.PeakRSSOpen), "%.0f")
	row("RSS serving after open (MiB)", m(lo.RSSServing), m(qo.RSSServing), m(hl.RSSServing), "%.0f")
	row("· of it anonymous (MiB)", m(lo.RSSAnon), m(qo.RSSAnon), math.NaN(), "%.0f")
	row("· of it file pages: the binary, the snapshot's vectors (MiB)", m(lo.RSSFile), m(qo.RSSFile), math.NaN(), "%.0f")
	row("RSS serving after open, bytes per vector", float64(lo.RSSServing)/n, float64(qo.RSSServing)/n, float64(hl.RSSServing)/n, "%.0f")
	at := func(rs []efResult, i int) efResult {
		if i < len(rs) {
			return rs[i]
		}
		return efResult{Recall: math.NaN(), QPS: math.NaN(), QPSCPU: math.NaN()}
	}
	for i, a := range lb.Results {
		q, b, ao, qo, bo := at(qb.Results, i), at(hb.Results, i), at(lo.Results, i), at(qo.Results, i), at(hl.Results, i)
		row(fmt.Sprintf("ef %d: recall@%d", a.Ef, p.K), a.Recall, q.Recall, b.Recall, "%.4f")
		row(fmt.Sprintf("ef %d: queries/s after build", a.Ef), a.QPS, q.QPS, b.QPS, "%.0f")
		row(fmt.Sprintf("ef %d: queries/s after open", a.Ef), ao.QPS, qo.QPS, bo.QPS, "%.0f")
		row(fmt.Sprintf("ef %d: queries per CPU-second after open", a.Ef), ao.QPSCPU, qo.QPSCPU, bo.QPSCPU, "%.0f")
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
	sides := []struct {
		name string
		o    openReport
		b    buildReport
	}{{"lakehouse", lo, lb}}
	if quant {
		sides = append(sides, struct {
			name string
			o    openReport
			b    buildReport
		}{"lakehouse int8", qo, qb})
	}
	for _, sd := range sides {
		mem := sd.o.Memory
		acct("**"+sd.name+": RSS (VmRSS)**", sd.o.RSSServing)
		acct("· RssFile (the binary, mapped files)", sd.o.RSSFile)
		acct("· RssAnon", sd.o.RSSAnon)
		acct("Go runtime, mapped and not released", mem.Total-mem.HeapReleased)
		acct("· heap, live objects", mem.HeapLive)
		acct("· heap, free pages kept", mem.HeapFree)
		acct("· runtime (stacks, metadata, other)", mem.Runtime)
		acct("index's live heap (live less the heap before Open)", mem.HeapLive-sd.o.HeapBaseline)
		for _, r := range sd.o.Model {
			acct("· "+r.Part+" ("+strings.TrimSpace(r.How)+")", r.Bytes)
		}
		acct(sd.name+": peak RSS during build", sd.b.PeakRSSBuild)
		acct(sd.name+": Go heap live after build, serving", sd.b.HeapLive)
	}
	acct("hnswlib: RSS serving after load", hl.RSSServing)
	acct("hnswlib: peak RSS during build", hb.PeakRSSBuild)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
