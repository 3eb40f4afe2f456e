// Command pathway measures the trace memory (backends/pathway) at scale:
// how long adding n traces takes and until the search index has caught up,
// then, in a fresh process, how long the memory takes to open with its
// index on disk, until a query search answers, and the RSS of each phase.
//
// Traces are generated from a seeded vocabulary: a 12-word text, a small
// JSON content and two tags, about the size of an agent's note. The
// embedder is the server's default (hybrid, local).
//
// Usage: go run ./bench/pathway -phase build|open -dir DIR [-n 100000]
// (bench/pathway/run.sh runs both, each in its own process).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/backends/pathway"
	"lakehouse/bench/internal/proc"
)

var (
	phase = flag.String("phase", "build", "build: add -n traces and wait for the index; open: open them and search")
	dir   = flag.String("dir", "", "the pathway folder")
	n     = flag.Int("n", 100000, "traces to add")
	cpu   = flag.String("cpuprofile", "", "write a CPU profile of the phase to this file")
	mem   = flag.String("memprofile", "", "write a heap profile to this file at the end of the phase")
	debug = flag.Bool("v", false, "log the engines' debug messages (how long each part of the open took)")
)

var words = strings.Fields(`upload backup bucket timeout retry chunk parser schema column date format csv json
ingest query index vector search token cache memory disk latency error fixed failed worked slow fast nightly
report dataset table join filter sort limit batch stream socket gateway auth token scope replay snapshot log
compaction merge rebuild graph node edge shard replica lease lock queue worker cron job deploy rollback`)

func main() {
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	if *debug {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	emb, err := embed.New(embed.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	p, err := pathway.Open(*dir, emb, pathway.Config{})
	if err != nil {
		log.Fatal(err)
	}
	opened := time.Since(start)
	switch *phase {
	case "build":
		build(ctx, p)
	case "open":
		// The first query search answers from the index as far as it is
		// loaded; time it, then wait until nothing is pending.
		if _, err := p.Search(ctx, pathway.SearchOptions{Query: "nightly backup upload timeout"}); err != nil {
			log.Fatal(err)
		}
		searched := time.Since(start)
		caughtUp := waitIndexed(ctx, p, start)
		if *mem != "" {
			writeHeap(*mem)
		}
		report(map[string]any{"phase": "open", "open_s": opened.Seconds(), "first_search_s": searched.Seconds(), "index_caught_up_s": caughtUp.Seconds()})
	default:
		log.Fatalf("unknown -phase %q", *phase)
	}
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}
}

// build adds the traces, then waits until the index holds them all.
func build(ctx context.Context, p *pathway.Pathway) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for i := range *n {
		text := make([]string, 12)
		for j := range text {
			text[j] = words[rng.IntN(len(words))]
		}
		content, _ := json.Marshal(map[string]any{"step": i, "tried": strings.Join(text[:6], " "), "result": text[6]})
		tags := []string{words[rng.IntN(len(words))], words[rng.IntN(len(words))]}
		if _, _, err := p.Add(ctx, content, strings.Join(text, " "), tags, ""); err != nil {
			log.Fatalf("add trace %d: %v", i, err)
		}
	}
	added := time.Since(start)
	caughtUp := waitIndexed(ctx, p, start)
	// Until the graph links every trace, searches scan the rest, and a
	// restart would link them again: wait, so that the open phase measures
	// a finished index.
	if err := p.WaitIndexed(ctx); err != nil {
		log.Fatal(err)
	}
	report(map[string]any{"phase": "build", "n": *n, "add_s": added.Seconds(), "index_caught_up_s": caughtUp.Seconds(),
		"index_linked_s": time.Since(start).Seconds()})
}

// waitIndexed returns how long after start the index had no trace pending.
func waitIndexed(ctx context.Context, p *pathway.Pathway, start time.Time) time.Duration {
	for {
		st, err := p.Stats(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if st.IndexPending == 0 {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// report prints r with the process's peak and current RSS, as one JSON line.
func report(r map[string]any) {
	r["peak_rss_mib"], _ = proc.PeakRSS("self")
	r["cpu_s"] = proc.CPUTime().Seconds()
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	os.Stdout.Sync()
}

// writeHeap writes a heap profile as of the last garbage collection.
func writeHeap(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		log.Fatal(err)
	}
}
