package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/backends/vector"
)

// searchDepth is how many hits each search through the index asks for.
const searchDepth = 100

// searchModes puts the corpus with its vectors docs into a vector index and
// prints, for each kind of query (texts in qs, vectors in qvecs), the
// MRR@100 and recall@10 of each search mode and of a plain RRF of the dense
// and lexical lists, then how many queries hybrid ranks the right text
// above and below each single mode (a paired count, which tells a real
// difference from a few ties ordered another way), and the median time of
// a search in each mode.
func searchModes(ctx context.Context, model string, corpus []string, docs [][]float32, qs querySet, qvecs [3][][]float32) error {
	dir, err := os.MkdirTemp("", "embedquality-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := vector.Open(dir, vector.Config{})
	if err != nil {
		return err
	}
	defer m.Close()
	if _, err := m.Create(ctx, "corpus", vector.Spec{Dim: len(docs[0]), Metric: vector.Cosine, Model: model}); err != nil {
		return err
	}
	if err := upsertAll(ctx, m, "corpus", corpus, docs, 0, true); err != nil {
		return err
	}
	if err := m.WaitIndexed(ctx, "corpus"); err != nil {
		return err
	}

	modes := []vector.Mode{vector.Dense, vector.Lexical, vector.Hybrid}
	cols := []string{"dense", "lexical", "hybrid", "RRF of dense and lexical"}
	took := make([][]time.Duration, len(modes))
	fmt.Printf("\n%d texts in a vector index (%s vectors), the same queries through its Search, top %d\n\n", len(corpus), model, searchDepth)
	fmt.Printf("| query   |")
	for _, c := range cols {
		fmt.Printf(" %s MRR | %s R@10 |", c, c)
	}
	fmt.Printf("\n|---------|%s\n", strings.Repeat("------:|------:|", len(cols)))
	var paired []string
	for k, texts := range qs.kinds() {
		mrr, r10 := make([]float64, len(cols)), make([]float64, len(cols))
		var above, below [2]int // hybrid against dense, lexical
		for q, text := range texts {
			want := strconv.Itoa(qs.target[q])
			lists := make([][]string, len(modes))
			for i, mode := range modes {
				start := time.Now()
				hits, err := m.Search(ctx, "corpus", qvecs[k][q], vector.SearchOptions{K: searchDepth, Mode: mode, QueryText: text})
				took[i] = append(took[i], time.Since(start))
				if err != nil {
					return fmt.Errorf("%s search for %q: %w", mode, text, err)
				}
				for _, h := range hits {
					lists[i] = append(lists[i], h.ID)
				}
			}
			lists = append(lists, rrf(lists[0], lists[1]))
			ranks := make([]int, len(lists)) // searchDepth+1: not found
			for c, ids := range lists {
				ranks[c] = searchDepth + 1
				if r := slices.Index(ids, want) + 1; r > 0 {
					ranks[c] = r
					mrr[c] += 1 / float64(r)
					if r <= 10 {
						r10[c]++
					}
				}
			}
			for c := range above {
				switch {
				case ranks[2] < ranks[c]:
					above[c]++
				case ranks[2] > ranks[c]:
					below[c]++
				}
			}
		}
		paired = append(paired, fmt.Sprintf("%s: hybrid ranks the right text above dense in %d queries, below in %d; above lexical in %d, below in %d",
			kindNames[k], above[0], below[0], above[1], below[1]))
		fmt.Printf("| %-7s |", kindNames[k])
		for c := range cols {
			fmt.Printf(" %.3f | %.3f |", mrr[c]/float64(len(texts)), r10[c]/float64(len(texts)))
		}
		fmt.Println()
	}
	fmt.Printf("\n%s\n\n", strings.Join(paired, "\n"))
	for i, mode := range modes {
		slices.Sort(took[i])
		fmt.Printf("%s search, top %d: median %v\n", mode, searchDepth, took[i][len(took[i])/2].Round(time.Microsecond))
	}
	return nil
}

// rrf fuses two ranked lists of ids by reciprocal rank: Σ 1/(60 + rank).
func rrf(a, b []string) []string {
	score := map[string]float64{}
	for _, l := range [][]string{a, b} {
		for r, id := range l {
			score[id] += 1 / float64(60+r+1)
		}
	}
	ids := slices.Collect(maps.Keys(score))
	slices.SortFunc(ids, func(x, y string) int {
		if c := cmp.Compare(score[y], score[x]); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	return ids[:min(len(ids), searchDepth)]
}

// upsertAll stores texts[i] with vector vecs[i] as item first+i of index
// name (its text only if withText), 1000 at a time.
func upsertAll(ctx context.Context, m *vector.Manager, name string, texts []string, vecs [][]float32, first int, withText bool) error {
	for lo := 0; lo < len(texts); lo += vector.MaxBatch {
		items := make([]vector.Item, 0, vector.MaxBatch)
		for i := lo; i < min(lo+vector.MaxBatch, len(texts)); i++ {
			it := vector.Item{ID: strconv.Itoa(first + i), Vector: vecs[i]}
			if withText {
				it.Text = texts[i]
			}
			items = append(items, it)
		}
		if _, err := m.Upsert(ctx, name, items); err != nil {
			return err
		}
	}
	return nil
}

// timeOpen writes n items, the corpus repeated as needed with the vectors
// of p, into an index with their texts and into another without, each in
// a folder of its own, and prints how long opening each takes (the fastest
// of three) and the heap it holds: the difference is what indexing the
// texts for lexical search costs at open. Then it times lexical searches
// (top 10) of queries on the index with texts. The indexes stay flat, so
// that no graph work competes.
func timeOpen(ctx context.Context, p embed.Provider, corpus []string, n int, queries []string) error {
	vecs, err := embedAll(ctx, p, corpus)
	if err != nil {
		return err
	}
	cfg := vector.Config{FlatThreshold: n + 1}
	fmt.Println()
	for _, withText := range []bool{true, false} {
		dir, err := os.MkdirTemp("", "embedquality-open-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		m, err := vector.Open(dir, cfg)
		if err != nil {
			return err
		}
		if _, err := m.Create(ctx, "corpus", vector.Spec{Dim: len(vecs[0]), Metric: vector.Cosine, Model: p.Model()}); err != nil {
			return err
		}
		for first := 0; first < n; first += len(corpus) {
			c := min(len(corpus), n-first)
			if err := upsertAll(ctx, m, "corpus", corpus[:c], vecs[:c], first, withText); err != nil {
				return err
			}
		}
		if err := m.Close(); err != nil {
			return err
		}
		best := time.Duration(math.MaxInt64)
		var heap uint64
		for range 3 {
			before := heapAlloc()
			start := time.Now()
			m, err := vector.Open(dir, cfg)
			if err != nil {
				return err
			}
			best = min(best, time.Since(start))
			heap = heapAlloc() - before
			if err := m.Close(); err != nil {
				return err
			}
		}
		if withText {
			m, err := vector.Open(dir, cfg)
			if err != nil {
				return err
			}
			took := make([]time.Duration, 0, len(queries))
			for _, q := range queries {
				start := time.Now()
				if _, err := m.Search(ctx, "corpus", nil, vector.SearchOptions{Mode: vector.Lexical, QueryText: q}); err != nil {
					return err
				}
				took = append(took, time.Since(start))
			}
			m.Close()
			slices.Sort(took)
			fmt.Printf("lexical search of %d items, top 10: median %v\n", n, took[len(took)/2].Round(time.Microsecond))
		}
		what := "without texts"
		if withText {
			what = "with texts (so a lexical index)"
		}
		fmt.Printf("open an index of %d items %s: %v (the fastest of three), heap %d MiB\n", n, what, best.Round(time.Millisecond), heap>>20)
	}
	return nil
}

// heapAlloc returns the bytes of the heap in use after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
