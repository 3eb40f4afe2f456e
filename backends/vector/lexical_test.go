package vector

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/internal/disk/disktest"
)

// lexicalHits runs a lexical search of query on index name.
func lexicalHits(t *testing.T, m *Manager, name, query string, opts SearchOptions) []Hit {
	t.Helper()
	opts.Mode, opts.QueryText = Lexical, query
	hits, err := m.Search(context.Background(), name, nil, opts)
	if err != nil {
		t.Fatalf("lexical search %q: %v", query, err)
	}
	return hits
}

// TestBM25_HandComputed checks BM25 (k1 = 1.2, b = 0.75) against scores
// worked out by hand, and again after a delete changes the statistics.
func TestBM25_HandComputed(t *testing.T) {
	m := mustOpen(t, t.TempDir(), Config{})
	mustCreate(t, m, "docs", 2, L2)
	mustUpsert(t, m, "docs", []Item{
		{ID: "d1", Vector: []float32{1, 0}, Text: "The quick brown fox"},
		{ID: "d2", Vector: []float32{0, 1}, Text: "the lazy dog"},
		{ID: "d3", Vector: []float32{1, 1}, Text: "Quick, QUICK dog!"},
		{ID: "d4", Vector: []float32{2, 1}}, // no text: never found by words
	})
	check := func(what string, want []string, scores []float64) {
		t.Helper()
		hits := lexicalHits(t, m, "docs", "dog quick", SearchOptions{})
		if got := hitIDs(hits); !slices.Equal(got, want) {
			t.Fatalf("%s: hits %v, want %v", what, got, want)
		}
		for i, h := range hits {
			if math.Abs(float64(h.Score)-scores[i]) > 1e-5 || h.Lexical != h.Score || h.Distance != -h.Score {
				t.Errorf("%s: %s has score %v (lexical %v, distance %v), want %.6f", what, h.ID, h.Score, h.Lexical, h.Distance, scores[i])
			}
		}
	}
	// N = 3 texts of 4, 3 and 3 words: avgdl = 10/3. "quick" and "dog" are
	// in 2 texts each: idf = ln(1 + (3-2+0.5)/(2+0.5)) = ln 1.6 = 0.470004.
	// The length norm k1·(1 − b + b·dl/avgdl) is 1.38 for 4 words and 1.11
	// for 3, and a word's part is idf · tf·2.2 / (tf + norm):
	//   d3: quick ×2: 0.470004 · 4.4/3.11 + dog: 0.470004 · 2.2/2.11 = 1.155008
	//   d2: dog: 0.470004 · 2.2/2.11 = 0.490051
	//   d1: quick: 0.470004 · 2.2/2.38 = 0.434457
	check("three texts", []string{"d3", "d2", "d1"}, []float64{1.155008, 0.490051, 0.434457})

	// Without d2: N = 2, avgdl = 3.5; idf(quick) = ln(1 + 0.5/2.5) = 0.182322,
	// idf(dog) = ln(1 + 1.5/1.5) = 0.693147; norm = 1.2·(0.25 + 0.75·3/3.5)
	// = 1.071429 for 3 words and 1.328571 for 4:
	//   d3: 0.182322 · 4.4/3.071429 + 0.693147 · 2.2/2.071429 = 0.997356
	//   d1: 0.182322 · 2.2/2.328571 = 0.172255
	if _, err := m.Delete(context.Background(), "docs", []string{"d2"}); err != nil {
		t.Fatal(err)
	}
	check("after deleting d2", []string{"d3", "d1"}, []float64{0.997356, 0.172255})
}

// TestAnalyze: words are split as the embedders split them, and counted.
func TestAnalyze(t *testing.T) {
	d := analyze("ERR_CONN_RESET: don't retry E0425, err err")
	want := []termCount{{"conn", 1}, {"do", 1}, {"e0425", 1}, {"err", 3}, {"not", 1}, {"reset", 1}, {"retry", 1}}
	if !slices.Equal(d.terms, want) || d.length != 9 {
		t.Fatalf("analyze = %v (%d words), want %v (9 words)", d.terms, d.length, want)
	}
	if got := queryTerms("Dog dog DOG cat"); !slices.Equal(got, []string{"cat", "dog"}) {
		t.Fatalf("queryTerms = %v", got)
	}
}

// lexWords is the vocabulary of the texts the tests below write: few
// enough words that texts share them and scores depend on every text.
var lexWords = strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon")

// textChurn is churn with texts: it upserts items of random texts from
// lexWords (replacing some, with new texts, and leaving some without text),
// deletes some, and records the outcome in md. It returns how many items
// it upserted.
func textChurn(t *testing.T, m *Manager, name string, md model, rng *rand.Rand, rounds int) (upserted int) {
	t.Helper()
	ctx := context.Background()
	for range rounds {
		var batch []Item
		for range 1 + rng.IntN(30) {
			it := Item{ID: fmt.Sprintf("t%d", rng.IntN(300)), Vector: []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64())}}
			if rng.IntN(8) > 0 {
				words := make([]string, 1+rng.IntN(12))
				for j := range words {
					words[j] = lexWords[rng.IntN(len(lexWords))]
				}
				it.Text = strings.Join(words, " ")
				it.Metadata = map[string]any{"even": len(words)%2 == 0}
			}
			batch = append(batch, it)
		}
		mustUpsert(t, m, name, batch)
		upserted += len(batch)
		for _, it := range batch {
			md[it.ID] = it
		}
		if rng.IntN(2) == 0 {
			var del []string
			for range 1 + rng.IntN(15) {
				del = append(del, fmt.Sprintf("t%d", rng.IntN(300)))
			}
			if _, err := m.Delete(ctx, name, del); err != nil {
				t.Fatal(err)
			}
			for _, id := range del {
				delete(md, id)
			}
		}
	}
	return upserted
}

// bm25Reference scores every item of md for query from scratch: BM25 over
// the texts of md's items, the reference the index must agree with however
// it got there.
func bm25Reference(md model, query string) map[string]float64 {
	tf := map[string]map[string]int{}
	dl := map[string]int{}
	total := 0
	for id, it := range md {
		words := embed.Words(nil, it.Text)
		if len(words) == 0 {
			continue
		}
		tf[id] = map[string]int{}
		for _, w := range words {
			tf[id][w]++
		}
		dl[id] = len(words)
		total += len(words)
	}
	n := float64(len(tf))
	avgdl := float64(total) / n
	scores := map[string]float64{}
	for _, term := range slices.Compact(slices.Sorted(slices.Values(embed.Words(nil, query)))) {
		df := 0.0
		for id := range tf {
			if tf[id][term] > 0 {
				df++
			}
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for id, counts := range tf {
			if c := float64(counts[term]); c > 0 {
				scores[id] += idf * c * (BM25K1 + 1) / (c + BM25K1*(1-BM25B+BM25B*float64(dl[id])/avgdl))
			}
		}
	}
	return scores
}

// checkLexical compares lexical searches of index name with bm25Reference
// over md, for queries of one to three words of lexWords and a word no
// text has, with and without a filter.
func checkLexical(t *testing.T, m *Manager, name string, md model) {
	t.Helper()
	for _, q := range []string{"alpha", "beta gamma", "delta delta unknownword", "pi rho sigma", "nothingmatches"} {
		for _, filtered := range []bool{false, true} {
			want := bm25Reference(md, q)
			opts := SearchOptions{K: MaxK}
			if filtered {
				opts.Filter = Filter{"even": true}
				maps.DeleteFunc(want, func(id string, _ float64) bool { return md[id].Metadata["even"] != true })
			}
			hits := lexicalHits(t, m, name, q, opts)
			if len(hits) != len(want) {
				t.Fatalf("%s, query %q (filtered %v): %d hits %v, want %d: %v", name, q, filtered, len(hits), hitIDs(hits), len(want), want)
			}
			for i, h := range hits {
				w, ok := want[h.ID]
				if !ok || math.Abs(float64(h.Score)-w) > 1e-4*(1+w) {
					t.Fatalf("%s, query %q: %s scores %v, want %v (found %v)", name, q, h.ID, h.Score, w, ok)
				}
				if i > 0 && h.Score > hits[i-1].Score {
					t.Fatalf("%s, query %q: hits out of order at %d: %v", name, q, i, hits)
				}
			}
			// A few best are the best scores of all, whatever the search
			// left unchecked against the filter on its way.
			opts.K = 3
			top := lexicalHits(t, m, name, q, opts)
			best := slices.Sorted(maps.Values(want))
			slices.Reverse(best)
			if len(top) != min(3, len(best)) {
				t.Fatalf("%s, query %q (filtered %v): %d of the best 3, want %d", name, q, filtered, len(top), min(3, len(best)))
			}
			for i, h := range top {
				if math.Abs(float64(h.Score)-best[i]) > 1e-4*(1+best[i]) {
					t.Fatalf("%s, query %q (filtered %v): best %d scores %v, want %v", name, q, filtered, i, h.Score, best[i])
				}
			}
		}
	}
}

// TestLexical_FollowsWrites: after upserts, replacements with new texts and
// deletes, with tombstones piling up and rebuilds compacting them, lexical
// search scores exactly as BM25 over the live items computed from scratch.
func TestLexical_FollowsWrites(t *testing.T) {
	cfg := Config{FlatThreshold: 100, RebuildFraction: 0.1}
	m := mustOpen(t, t.TempDir(), cfg)
	mustCreate(t, m, "words", 2, L2)
	rng := rand.New(rand.NewPCG(5, 6))
	md := model{}
	upserted := 0
	for range 6 {
		upserted += textChurn(t, m, "words", md, rng, 10)
		checkLexical(t, m, "words", md) // whatever the worker has done so far
		mustWait(t, m, "words")
		checkLexical(t, m, "words", md)
	}
	ix, err := m.lookup("words")
	if err != nil {
		t.Fatal(err)
	}
	ix.mu.RLock()
	slots := ix.seg.n()
	ix.mu.RUnlock()
	if slots >= upserted {
		t.Fatalf("%d slots after %d upserts: the index was never rebuilt", slots, upserted)
	}
}

// TestLexical_Durable: the lexical index agrees with the items after a
// restart, a power cut (only what was fsynced survives) and a reopen of a
// copy taken while the engine was running, as a kill -9 leaves it; with the
// log alone and with snapshots under the logs.
func TestLexical_Durable(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"log only", Config{}},
		{"snapshots", Config{SnapshotBytes: 4 << 10, FlatThreshold: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			pc := disktest.NewPowerCut(t, root)
			m := mustOpen(t, root, tc.cfg)
			mustCreate(t, m, "words", 2, L2)
			rng := rand.New(rand.NewPCG(7, 8))
			md := model{}
			textChurn(t, m, "words", md, rng, 30)

			// Snapshots are left to the crash tests: a file they remove
			// could not be copied.
			waitSnapshot(t, m, "words")
			killed := t.TempDir()
			if err := os.CopyFS(killed, os.DirFS(root)); err != nil {
				t.Fatal(err)
			}
			checkLexical(t, mustOpen(t, killed, tc.cfg), "words", md)
			checkLexical(t, mustOpen(t, pc.Cut(t), tc.cfg), "words", md)

			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m = mustOpen(t, root, tc.cfg)
			checkLexical(t, m, "words", md)
			textChurn(t, m, "words", md, rng, 10) // on top of what was replayed
			checkLexical(t, m, "words", md)
		})
	}
}
