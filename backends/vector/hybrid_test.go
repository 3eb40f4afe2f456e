package vector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// modeIndex makes an l2 index of 2-d vectors: "near", next to the origin,
// whose text shares no word with the query "E0425"; "named", far away,
// whose text has it; and fillers f0... in between, with neither.
func modeIndex(t *testing.T, m *Manager) {
	rng := rand.New(rand.NewPCG(9, 10))
	items := []Item{
		{ID: "near", Vector: []float32{0, 0.1}, Text: "unrelated words here"},
		{ID: "named", Vector: []float32{5, 5}, Text: "error E0425: unresolved name"},
	}
	for i := range 40 {
		v := []float32{1 + 2*rng.Float32(), 1 + 2*rng.Float32()}
		items = append(items, Item{ID: fmt.Sprintf("f%d", i), Vector: v, Text: "filler text number " + fmt.Sprint(i)})
	}
	mustCreate(t, m, "modes", 2, L2)
	mustUpsert(t, m, "modes", items)
	mustWait(t, m, "modes")
}

func search(t *testing.T, m *Manager, q []float32, opts SearchOptions) []Hit {
	t.Helper()
	hits, err := m.Search(context.Background(), "modes", q, opts)
	if err != nil {
		t.Fatalf("search %+v: %v", opts, err)
	}
	return hits
}

// TestSearch_Modes: dense ranks by vector, lexical by words, hybrid puts
// the text that holds the whole query first and the nearest text without
// it next, and an empty mode picks by what the query has. Hybrid hits
// carry the true vector distance and BM25 score.
func TestSearch_Modes(t *testing.T) {
	engines(t, func(t *testing.T, m *Manager, _ bool) {
		modeIndex(t, m)
		origin := []float32{0, 0}
		if got := hitIDs(search(t, m, origin, SearchOptions{K: 1, Mode: Dense, QueryText: "E0425"})); !slices.Equal(got, []string{"near"}) {
			t.Fatalf("dense: %v, want [near]", got)
		}
		lex := search(t, m, nil, SearchOptions{K: 10, Mode: Lexical, QueryText: "E0425"})
		if got := hitIDs(lex); !slices.Equal(got, []string{"named"}) {
			t.Fatalf("lexical: %v, want [named] alone: no other text has the word", got)
		}
		hyb := search(t, m, origin, SearchOptions{K: 5, Mode: Hybrid, QueryText: "E0425"})
		if got := hitIDs(hyb[:2]); !slices.Equal(got, []string{"named", "near"}) {
			t.Fatalf("hybrid: top 2 %v, want [named near]", got)
		}
		for i, h := range hyb {
			if h.Score < 0 || h.Score > 1 || i > 0 && h.Score > hyb[i-1].Score {
				t.Fatalf("hybrid scores out of [0, 1] or of order: %+v", hyb)
			}
		}
		for _, h := range hyb {
			switch h.ID {
			case "named":
				if math.Abs(float64(h.Distance)-math.Sqrt(50)) > 1e-5 || h.Lexical != lex[0].Score {
					t.Fatalf("hybrid hit named: distance %v, lexical %v; want %v, %v", h.Distance, h.Lexical, math.Sqrt(50), lex[0].Score)
				}
			case "near":
				if math.Abs(float64(h.Distance)-0.1) > 1e-6 || h.Lexical != 0 {
					t.Fatalf("hybrid hit near: distance %v, lexical %v; want 0.1, 0", h.Distance, h.Lexical)
				}
			}
		}
		for _, c := range []struct {
			q    []float32
			text string
			like Mode
		}{{origin, "E0425", Hybrid}, {nil, "E0425", Lexical}, {origin, "", Dense}} {
			got := search(t, m, c.q, SearchOptions{K: 5, QueryText: c.text})
			want := search(t, m, c.q, SearchOptions{K: 5, QueryText: c.text, Mode: c.like})
			if !slices.Equal(hitIDs(got), hitIDs(want)) || got[0].Score != want[0].Score {
				t.Fatalf("no mode, vector %v, text %q: %v, want as %s: %v", c.q, c.text, hitIDs(got), c.like, hitIDs(want))
			}
		}
	})
}

// TestSearch_HybridWeight checks the fused score against the design
// notes' formula, computed by hand: BM25 decides alone when a text holds
// every word of the query, and the dense side weighs 0.3 × the share of
// the query's idf that the best-matching text lacks.
func TestSearch_HybridWeight(t *testing.T) {
	engines(t, func(t *testing.T, m *Manager, _ bool) {
		mustCreate(t, m, "modes", 2, Cosine)
		items := []Item{
			{ID: "both", Vector: []float32{1, 0}, Text: "alpha beta"},
			{ID: "alpha", Vector: []float32{0.6, 0.8}, Text: "alpha gamma delta"},
			{ID: "none", Vector: []float32{0, 1}, Text: "gamma"},
		}
		mustUpsert(t, m, "modes", items)
		mustWait(t, m, "modes")
		const n = 3
		unknown := idf(0, n)
		for _, c := range []struct {
			text  string
			ideal float64 // Σ idf over the words of the query
			want  float64 // the dense weight
		}{
			{"alpha beta", idf(2, n) + idf(1, n), 0},
			{"alpha zzzz", idf(2, n) + unknown, 0.3 * unknown / (idf(2, n) + unknown)},
			{"zzzz", unknown, 0.3},
		} {
			q := []float32{0.8, 0.6}
			hits := search(t, m, q, SearchOptions{K: 3, Mode: Hybrid, QueryText: c.text})
			if len(hits) != 3 {
				t.Fatalf("%q: %d hits, want 3", c.text, len(hits))
			}
			for _, h := range hits {
				sim := 1 - float64(h.Distance)
				want := (1-c.want)*float64(h.Lexical)/((BM25K1+1)*c.ideal) + c.want*max(sim, 0)
				if math.Abs(float64(h.Score)-want) > 1e-5 {
					t.Errorf("%q: %s scores %v, want %v (lexical %v, similarity %v, dense weight %v)", c.text, h.ID, h.Score, want, h.Lexical, sim, c.want)
				}
			}
		}
	})
}

// TestSearch_Only: a search for given ids scores them in every mode as
// the search scores them among its top k, returns those beyond the top k
// too (no better than its last hit), and keeps to the filter, to live
// items and, under lexical, to texts holding a query word.
func TestSearch_Only(t *testing.T) {
	engines(t, func(t *testing.T, m *Manager, _ bool) {
		rng := rand.New(rand.NewPCG(13, 14))
		var items []Item
		for i := range 80 {
			text := "plain words"
			if i%3 == 0 {
				text += " rare"
			}
			v := []float32{rng.Float32(), rng.Float32(), rng.Float32()}
			items = append(items, Item{ID: fmt.Sprint(i), Vector: v, Text: text, Metadata: map[string]any{"even": i%2 == 0}})
		}
		mustCreate(t, m, "modes", 3, Cosine)
		mustUpsert(t, m, "modes", items)
		mustWait(t, m, "modes")
		if _, err := m.Delete(context.Background(), "modes", []string{"6"}); err != nil {
			t.Fatal(err)
		}
		q := []float32{0.9, 0.1, 0.3}
		for _, mode := range []Mode{Dense, Lexical, Hybrid} {
			opts := SearchOptions{K: 10, Mode: mode, QueryText: "rare words", Filter: Filter{"even": true}}
			top := search(t, m, q, opts)
			scores := map[string]float32{}
			for _, h := range top {
				scores[h.ID] = h.Score
			}
			// Two of the top, every third item beyond it, a filtered-out
			// one, a deleted one and an unknown one.
			only := []string{top[1].ID, top[4].ID, "1", "6", "nope"}
			for i := 0; i < 80; i += 3 {
				if _, ok := scores[fmt.Sprint(i)]; !ok {
					only = append(only, fmt.Sprint(i))
				}
			}
			opts.Only = only
			got := search(t, m, q, opts)
			want := 0 // even ones but 6; under lexical, only those holding a word: all do
			for _, id := range only {
				var i int
				if _, err := fmt.Sscan(id, &i); err == nil && i%2 == 0 && i != 6 {
					want++
				}
			}
			if len(got) != want {
				t.Fatalf("%s: only %v returned %d hits (%v), want %d", mode, only, len(got), hitIDs(got), want)
			}
			for i, h := range got {
				if i > 0 && h.Score > got[i-1].Score {
					t.Fatalf("%s: hits out of order: %v", mode, got)
				}
				if s, ok := scores[h.ID]; ok && s != h.Score {
					t.Errorf("%s: %s scores %v asked for, %v among the top", mode, h.ID, h.Score, s)
				}
				if _, ok := scores[h.ID]; !ok && h.Score > top[len(top)-1].Score && mode != Dense {
					t.Errorf("%s: %s, beyond the top, scores %v, above its last hit (%v)", mode, h.ID, h.Score, top[len(top)-1].Score)
				}
			}
		}
		// Under lexical, an item holding no word of the query has no score.
		if got := search(t, m, nil, SearchOptions{Mode: Lexical, QueryText: "rare", Only: []string{"1", "3"}}); !slices.Equal(hitIDs(got), []string{"3"}) {
			t.Errorf("lexical only [1 3] for rare: %v, want [3]", hitIDs(got))
		}
		if _, err := m.Search(context.Background(), "modes", q, SearchOptions{Only: make([]string, MaxK+1)}); !errors.Is(err, errs.Invalid) {
			t.Errorf("only with %d ids: %v, want Invalid", MaxK+1, err)
		}
	})
}

// TestSearch_FilterAndK: lexical and hybrid searches keep to the filter;
// lexical returns only items that hold a query word, hybrid k items
// whenever k match the filter, those holding the words first.
func TestSearch_FilterAndK(t *testing.T) {
	engines(t, func(t *testing.T, m *Manager, _ bool) {
		rng := rand.New(rand.NewPCG(11, 12))
		var items []Item
		for i := range 60 {
			text := "shared words"
			if i%10 == 0 {
				text += " rare"
			}
			v := []float32{rng.Float32(), rng.Float32()}
			items = append(items, Item{ID: fmt.Sprintf("i%d", i), Vector: v, Text: text, Metadata: map[string]any{"group": i % 3}})
		}
		mustCreate(t, m, "modes", 2, L2)
		mustUpsert(t, m, "modes", items)
		mustWait(t, m, "modes")
		inGroup0 := func(what string, hits []Hit) {
			t.Helper()
			for _, h := range hits {
				var i int
				fmt.Sscanf(h.ID, "i%d", &i)
				if i%3 != 0 {
					t.Fatalf("%s: %s is not in group 0: %v", what, h.ID, hitIDs(hits))
				}
			}
		}
		g0 := Filter{"group": 0}
		hits := search(t, m, nil, SearchOptions{K: 5, Mode: Lexical, QueryText: "shared", Filter: g0})
		if len(hits) != 5 {
			t.Fatalf("lexical, every text matches: %d hits, want 5", len(hits))
		}
		inGroup0("lexical shared", hits)
		// "rare" is in i0, i10, ..., i50, of which i0 and i30 are in group 0.
		hits = search(t, m, nil, SearchOptions{K: 5, Mode: Lexical, QueryText: "rare", Filter: g0})
		if got := hitIDs(hits); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"i0", "i30"}) {
			t.Fatalf("lexical rare in group 0: %v, want i0 and i30", got)
		}
		hits = search(t, m, []float32{0.5, 0.5}, SearchOptions{K: 5, Mode: Hybrid, QueryText: "rare", Filter: g0})
		if len(hits) != 5 {
			t.Fatalf("hybrid: %d hits, want 5 (20 items match the filter)", len(hits))
		}
		inGroup0("hybrid rare", hits)
		if got := hitIDs(hits[:2]); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"i0", "i30"}) {
			t.Fatalf("hybrid rare in group 0: top 2 %v, want i0 and i30", hitIDs(hits))
		}
	})
}

// TestSearch_MinScore: in every mode, a minimum score leaves out exactly
// the hits below it; without one, a dense search returns k hits even at
// negative scores.
func TestSearch_MinScore(t *testing.T) {
	m := mustOpen(t, t.TempDir(), Config{})
	modeIndex(t, m)
	origin := []float32{0, 0}
	all := search(t, m, origin, SearchOptions{K: 10, Mode: Dense})
	if len(all) != 10 || all[9].Score >= 0 {
		t.Fatalf("dense without min_score: %d hits, last scoring %v; want 10, negative (l2)", len(all), all[len(all)-1].Score)
	}
	for _, mode := range []Mode{Dense, Lexical, Hybrid} {
		opts := SearchOptions{K: 10, Mode: mode, QueryText: "error filler 7"}
		all := search(t, m, origin, opts)
		for _, min := range []float64{float64(all[len(all)/2].Score), float64(all[0].Score) + 1, -100} {
			opts.MinScore = &min
			got := search(t, m, origin, opts)
			want := slices.DeleteFunc(slices.Clone(all), func(h Hit) bool { return float64(h.Score) < min })
			if !slices.Equal(hitIDs(got), hitIDs(want)) {
				t.Fatalf("%s, min_score %v: %v, want %v (of %v)", mode, min, hitIDs(got), hitIDs(want), all)
			}
		}
	}
}

// TestSearch_BadQuery: a mode the query cannot serve, an unknown mode and
// bad values are the caller's mistakes, with a message that says what to
// give instead.
func TestSearch_BadQuery(t *testing.T) {
	m := mustOpen(t, t.TempDir(), Config{})
	modeIndex(t, m)
	nan := math.NaN()
	for _, c := range []struct {
		q    []float32
		opts SearchOptions
		want string
	}{
		{[]float32{0, 0}, SearchOptions{Mode: "fuzzy"}, `unknown search mode "fuzzy"; use dense`},
		{[]float32{0, 0}, SearchOptions{Mode: "Dense"}, `unknown search mode "Dense"`},
		{[]float32{0, 0}, SearchOptions{Mode: Lexical}, "mode lexical ranks by the words of the query text, and there is none"},
		{[]float32{0, 0}, SearchOptions{Mode: Hybrid}, "mode hybrid ranks by the words of the query text"},
		{nil, SearchOptions{Mode: Hybrid, QueryText: "error"}, "the query vector has no vector"},
		{nil, SearchOptions{Mode: Dense, QueryText: "error"}, "use mode lexical"},
		{nil, SearchOptions{Mode: Lexical, QueryText: "?! -"}, "has no words to match"},
		{nil, SearchOptions{QueryText: strings.Repeat("a", MaxText+1)}, "the query text is 1048577 bytes"},
		{[]float32{0, 0}, SearchOptions{MinScore: &nan}, "min_score = NaN"},
	} {
		_, err := m.Search(context.Background(), "modes", c.q, c.opts)
		if errs.KindOf(err) != errs.Invalid || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("search %v %+v: %v (kind %v), want an Invalid error containing %q", c.q, c.opts, err, errs.KindOf(err), c.want)
		}
	}
}
