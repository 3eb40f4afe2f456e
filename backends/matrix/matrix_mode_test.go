package matrix_test

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/backends/matrix"
	"lakehouse/backends/vector"
)

// modeTexts are the texts of the corpora of modeFixture. The exact
// identifiers (E0425, ERR_CONN_RESET) are what lexical search is for.
var modeTexts = map[string][]string{
	"errors": {
		"error E0425 cannot find value in this scope",
		"the build failed with exit status 2",
		"connection reset by peer ERR_CONN_RESET while reading the body",
		"retry the request after a timeout of ten seconds",
		"the value was moved before it was borrowed again",
	},
	"notes": {
		"we saw ERR_CONN_RESET twice on the staging proxy",
		"rename the scope of the token before the release",
		"the release notes list every fixed bug",
		"value types are copied on assignment",
	},
	"raw": {
		"E0425 is the rust compiler's unresolved name error",
		"a plain note with no codes at all",
	},
}

// modeFixture makes the corpora of modeTexts, "errors" and "notes" of
// vectors embedded from their texts by fakeEmbedder (model fake-1), so
// that the dense side knows nothing of words, and "raw" of the same kind of
// vectors given as a caller's own (model ""). Item ids are the texts'
// positions.
func modeFixture(t *testing.T) (*vector.Manager, *fakeEmbedder) {
	t.Helper()
	m := mustOpen(t)
	emb := &fakeEmbedder{}
	ctx := context.Background()
	for name, texts := range modeTexts {
		model := "fake-1"
		if name == "raw" {
			model = ""
		}
		if _, err := m.Create(ctx, name, vector.Spec{Dim: dims, Metric: vector.Cosine, Model: model}); err != nil {
			t.Fatal(err)
		}
		vecs, _ := emb.Embed(ctx, texts)
		items := make([]vector.Item, len(texts))
		for i, text := range texts {
			items[i] = vector.Item{ID: string(rune('0' + i)), Vector: vecs[i], Text: text, Metadata: map[string]any{"n": i}}
		}
		if _, err := m.Upsert(ctx, name, items); err != nil {
			t.Fatal(err)
		}
	}
	emb.calls.Store(0)
	return m, emb
}

// perCorpus searches each corpus alone as search_vectors would, with opts,
// and returns each corpus's hits.
func perCorpus(t *testing.T, m *vector.Manager, q []float32, names []string, opts vector.SearchOptions) map[string][]vector.Hit {
	t.Helper()
	out := map[string][]vector.Hit{}
	for _, name := range names {
		hits, err := m.Search(context.Background(), name, q, opts)
		if err != nil {
			t.Fatalf("search %s alone: %v", name, err)
		}
		out[name] = hits
	}
	return out
}

// byRank is reciprocal rank fusion worked out by hand: the first hit of
// each corpus in order, then the second, ... cut at k.
func byRank(lists map[string][]vector.Hit, names []string, k int) []string {
	var out []string
	for r := 0; len(out) < k; r++ {
		more := false
		for _, name := range names {
			if r < len(lists[name]) && len(out) < k {
				out = append(out, name+":"+lists[name][r].ID)
				more = true
			}
		}
		if !more {
			break
		}
	}
	return out
}

// TestSearch_Modes searches by each mode through the matrix and checks it
// against each corpus searched alone in that mode: lexical finds the exact
// identifier the dense side misses, needs no embedding and reaches a corpus
// of raw vectors; hybrid is each corpus's own fusion, sorted by its score
// across corpora; dense with query text is the search by its vector.
func TestSearch_Modes(t *testing.T) {
	m, emb := modeFixture(t)
	mx := &matrix.Matrix{Corpora: m, Embedder: emb}
	ctx := context.Background()
	const query = "E0425"
	vecs, _ := emb.Embed(ctx, []string{query})
	emb.calls.Store(0)

	// Lexical: no embedding, the raw corpus too, rrf by default.
	all := []string{"errors", "notes", "raw"}
	res := search(t, mx, matrix.Query{Text: query, Mode: vector.Lexical, Corpora: all, K: 5})
	if n := emb.calls.Load(); n != 0 {
		t.Errorf("lexical search embedded %d times, want 0", n)
	}
	alone := perCorpus(t, m, nil, all, vector.SearchOptions{K: 10, Mode: vector.Lexical, QueryText: query})
	if want := byRank(alone, all, 5); res.Mode != vector.Lexical || res.Merge != matrix.MergeRRF || !slices.Equal(keys(res.Hits), want) {
		t.Errorf("lexical: mode %s merge %s hits %v, want lexical, rrf, %v", res.Mode, res.Merge, keys(res.Hits), want)
	}
	if got := keys(res.Hits); !slices.Equal(got, []string{"errors:0", "raw:0"}) {
		t.Errorf("lexical hits %v, want the two texts holding E0425", got)
	}
	for _, h := range res.Hits {
		if h.Lexical <= 0 || h.Distance != -h.Score {
			t.Errorf("lexical hit %s:%s: lexical %v, distance %v, score %v", h.Corpus, h.ID, h.Lexical, h.Distance, h.Score)
		}
	}

	// Dense misses it: the fake embedder knows no words.
	two := []string{"errors", "notes"}
	dense := search(t, mx, matrix.Query{Text: query, Mode: vector.Dense, Corpora: two, K: 1})
	byVector := search(t, mx, matrix.Query{Vector: vecs[0], Corpora: two, K: 1})
	if keys(dense.Hits)[0] == "errors:0" || !slices.Equal(keys(dense.Hits), keys(byVector.Hits)) || dense.Merge != matrix.MergeDistance || byVector.Mode != vector.Dense {
		t.Errorf("dense: %v (%s), by vector %v (%s); want the vector's hits, not errors:0, merged by distance", keys(dense.Hits), dense.Merge, keys(byVector.Hits), byVector.Mode)
	}

	// Hybrid, the default with text: each corpus's fusion, one sort by
	// score over these cosine corpora; the identifier first.
	emb.calls.Store(0)
	res = search(t, mx, matrix.Query{Text: query, Corpora: two, K: 6, PerCorpusK: 3})
	if n := emb.calls.Load(); n != 1 || res.Mode != vector.Hybrid || res.Merge != matrix.MergeDistance {
		t.Fatalf("hybrid: %d embeddings, mode %s, merge %s; want 1, hybrid, distance", n, res.Mode, res.Merge)
	}
	var want []matrix.Hit
	for name, hits := range perCorpus(t, m, vecs[0], two, vector.SearchOptions{K: 3, Mode: vector.Hybrid, QueryText: query}) {
		for _, h := range hits {
			want = append(want, matrix.Hit{Corpus: name, Hit: h})
		}
	}
	slices.SortFunc(want, func(a, b matrix.Hit) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Distance, b.Distance)) // equal scores: texts without the word, by meaning
	})
	if !slices.Equal(keys(res.Hits), keys(want)) || keys(res.Hits)[0] != "errors:0" {
		t.Fatalf("hybrid hits %v, want %v, errors:0 first", keys(res.Hits), keys(want))
	}
	for i, h := range res.Hits {
		if h.Score != want[i].Score || h.Distance != want[i].Distance || h.Merged != float64(h.Score) {
			t.Errorf("hybrid hit %d: score %v distance %v merged %v, want %v and %v as alone", i, h.Score, h.Distance, h.Merged, want[i].Score, want[i].Distance)
		}
	}
	// Under rrf, the same lists by rank.
	res = search(t, mx, matrix.Query{Text: query, Corpora: two, K: 6, PerCorpusK: 3, Merge: matrix.MergeRRF})
	if w := byRank(perCorpus(t, m, vecs[0], two, vector.SearchOptions{K: 3, Mode: vector.Hybrid, QueryText: query}), two, 6); !slices.Equal(keys(res.Hits), w) {
		t.Errorf("hybrid rrf %v, want %v", keys(res.Hits), w)
	}

	// The raw corpus takes text only lexically.
	_, err := mx.Search(ctx, matrix.Query{Text: query, Corpora: all})
	if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), `"raw"`) || !strings.Contains(err.Error(), "mode lexical") {
		t.Errorf("hybrid over a raw corpus: %v, want an error naming it and suggesting mode lexical", err)
	}
}

// TestSearch_MergeByMode checks which merges each mode allows and chooses:
// distance is refused in lexical, and in hybrid over corpora that are not
// all cosine, each time suggesting rrf; it is hybrid's default over cosine
// corpora; lexical defaults to rrf; weighted normalises the mode's scores.
func TestSearch_MergeByMode(t *testing.T) {
	m, emb := modeFixture(t)
	ctx := context.Background()
	vecs, _ := emb.Embed(ctx, []string{"x"})
	if _, err := m.Create(ctx, "euclid", vector.Spec{Dim: dims, Metric: vector.L2, Model: "fake-1"}); err != nil {
		t.Fatal(err)
	}
	m.Upsert(ctx, "euclid", []vector.Item{{ID: "e", Vector: vecs[0], Text: "value of the scope"}})
	mx := &matrix.Matrix{Corpora: m, Embedder: emb}

	for _, c := range []struct {
		name string
		q    matrix.Query
		want []string
	}{
		{"lexical", matrix.Query{Text: "value", Mode: vector.Lexical, Merge: matrix.MergeDistance}, []string{"mode lexical", "BM25", "rrf"}},
		{"hybrid, l2 and cosine", matrix.Query{Text: "value", Corpora: []string{"errors", "euclid"}, Merge: matrix.MergeDistance}, []string{"fused score", "euclid (l2", "errors (cosine", "rrf"}},
	} {
		_, err := mx.Search(ctx, c.q)
		for _, w := range c.want {
			if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an invalid-input error mentioning %q", c.name, err, w)
			}
		}
	}
	for _, c := range []struct {
		q    matrix.Query
		want matrix.Merge
	}{
		{matrix.Query{Text: "value", Mode: vector.Lexical}, matrix.MergeRRF},
		{matrix.Query{Text: "value", Corpora: []string{"errors", "euclid"}}, matrix.MergeRRF},
		{matrix.Query{Text: "value", Corpora: []string{"errors", "notes"}}, matrix.MergeDistance},
		{matrix.Query{Text: "value", Corpora: []string{"errors", "euclid"}, Mode: vector.Dense}, matrix.MergeRRF},
	} {
		if res := search(t, mx, c.q); res.Merge != c.want {
			t.Errorf("%+v: merge %s, want %s", c.q, res.Merge, c.want)
		}
	}

	// Weighted over lexical: BM25 min-max normalised per corpus.
	two := []string{"errors", "notes"}
	res := search(t, mx, matrix.Query{Text: "value scope ERR_CONN_RESET", Mode: vector.Lexical, Corpora: two, Weights: map[string]float64{"notes": 2}})
	wantMerged := map[string]float64{}
	for name, hits := range perCorpus(t, m, nil, two, vector.SearchOptions{K: 20, Mode: vector.Lexical, QueryText: "value scope ERR_CONN_RESET"}) {
		hi, lo := float64(hits[0].Score), float64(hits[len(hits)-1].Score)
		for _, h := range hits {
			wantMerged[name+":"+h.ID] = map[string]float64{"errors": 1, "notes": 2}[name] * (float64(h.Score) - lo) / (hi - lo)
		}
	}
	if len(res.Hits) != len(wantMerged) || res.Merge != matrix.MergeWeighted {
		t.Fatalf("weighted lexical: %d hits by %s, want %d by weighted", len(res.Hits), res.Merge, len(wantMerged))
	}
	for _, h := range res.Hits {
		if w := wantMerged[h.Corpus+":"+h.ID]; math.Abs(h.Merged-w) > 1e-6 {
			t.Errorf("weighted lexical %s:%s merged %v, want %v", h.Corpus, h.ID, h.Merged, w)
		}
	}
}

// TestSearch_MinScoreByMode checks that min_score reaches each corpus's
// search and means there what it means to search_vectors in that mode:
// the hits are those of the corpora searched alone with it.
func TestSearch_MinScoreByMode(t *testing.T) {
	m, emb := modeFixture(t)
	mx := &matrix.Matrix{Corpora: m, Embedder: emb}
	const query = "the value of the scope"
	vecs, _ := emb.Embed(context.Background(), []string{query})
	two := []string{"errors", "notes"}
	for _, mode := range []vector.Mode{vector.Dense, vector.Lexical, vector.Hybrid} {
		q := vecs[0]
		if mode == vector.Lexical {
			q = nil
		}
		// The minimum is the median score of the corpora's hits, so that
		// it keeps some and drops some whatever the scale of the mode.
		opts := vector.SearchOptions{K: 20, Mode: mode, QueryText: query}
		var scores []float64
		for _, hits := range perCorpus(t, m, q, two, opts) {
			for _, h := range hits {
				scores = append(scores, float64(h.Score))
			}
		}
		slices.Sort(scores)
		floor := scores[len(scores)/2]
		var want []string
		for name, hits := range perCorpus(t, m, q, two, opts) {
			for _, h := range hits {
				if float64(h.Score) >= floor {
					want = append(want, name+":"+h.ID)
				}
			}
		}
		if len(want) == 0 || len(want) == len(scores) {
			t.Fatalf("%s: min %v keeps %d of %d; the fixture's scores are all alike", mode, floor, len(want), len(scores))
		}
		res := search(t, mx, matrix.Query{Text: query, Mode: mode, Corpora: two, K: 20, MinScore: &floor})
		got := keys(res.Hits)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s, min_score %v: %v, want %v", mode, floor, got, want)
		}
	}
}

// spy is Corpora that records the options of every corpus search.
type spy struct {
	matrix.Corpora
	mu   sync.Mutex
	opts map[string]vector.SearchOptions
}

func (s *spy) Search(ctx context.Context, name string, q []float32, opts vector.SearchOptions) ([]vector.Hit, error) {
	s.mu.Lock()
	s.opts[name] = opts
	s.mu.Unlock()
	return s.Corpora.Search(ctx, name, q, opts)
}

// TestSearch_OptionsReachCorpora checks what each corpus is asked: the
// mode, the query text, min_score, and k (2k, 5k with a rerank, or
// per_corpus_k, plus the exclusions).
func TestSearch_OptionsReachCorpora(t *testing.T) {
	m, emb := modeFixture(t)
	s := &spy{Corpora: m, opts: map[string]vector.SearchOptions{}}
	mx := &matrix.Matrix{Corpora: s, Embedder: emb}
	min := 0.1
	focus := &matrix.Rerank{Focus: matrix.Focus{Path: "src/scope.rs"}}
	for _, c := range []struct {
		q    matrix.Query
		want int
	}{
		{matrix.Query{K: 4}, 8},
		{matrix.Query{K: 4, Rerank: focus}, 20},
		{matrix.Query{K: 4, Rerank: focus, PerCorpusK: 7, Exclude: []string{"errors:1"}}, 8},
		{matrix.Query{K: 300, Rerank: focus}, vector.MaxK},
	} {
		q := c.q
		q.Text, q.Mode, q.MinScore, q.Corpora = "scope", vector.Lexical, &min, []string{"errors"}
		search(t, mx, q)
		o := s.opts["errors"]
		if o.K != c.want || o.Mode != vector.Lexical || o.QueryText != "scope" || o.MinScore != &min {
			t.Errorf("k %d, per_corpus_k %d, rerank %v: corpus asked %+v, want k %d, mode lexical, the text and min_score", c.q.K, c.q.PerCorpusK, c.q.Rerank != nil, o, c.want)
		}
	}
}

// TestSearch_ModeBadInput checks the mistakes a mode can make.
func TestSearch_ModeBadInput(t *testing.T) {
	m, emb := modeFixture(t)
	mx := &matrix.Matrix{Corpora: m, Embedder: emb}
	q, _ := emb.Embed(context.Background(), []string{"x"})
	bad := 0.0
	for _, c := range []struct {
		name string
		q    matrix.Query
		want string
	}{
		{"lexical without text", matrix.Query{Vector: q[0], Mode: vector.Lexical, Corpora: []string{"errors"}}, "mode lexical ranks by the words of query_text"},
		{"hybrid without text", matrix.Query{Vector: q[0], Mode: vector.Hybrid, Corpora: []string{"errors"}}, "give query_text, or use mode dense"},
		{"unknown mode", matrix.Query{Text: "x", Mode: "fuzzy"}, `mode "fuzzy" is not one of dense`},
		{"no words", matrix.Query{Text: "!!", Mode: vector.Lexical, Corpora: []string{"errors"}}, "no words"},
		{"rerank without path", matrix.Query{Text: "x", Rerank: &matrix.Rerank{}}, "rerank.relevance: focus.path is required"},
		{"rerank threshold", matrix.Query{Text: "x", Rerank: &matrix.Rerank{Focus: matrix.Focus{Path: "a.go"}, Threshold: func() *float64 { bad = 3; return &bad }()}}, "rerank.relevance.threshold = 3"},
	} {
		if _, err := mx.Search(context.Background(), c.q); !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid-input error mentioning %q", c.name, err, c.want)
		}
	}
}

// TestPlaybook_Modes checks what a playbook entry does in each mode, on
// numbers worked out by hand: under hybrid the answer's fused score s
// becomes 1 − (1 − s) × factor, its distance left as it was; under lexical
// its BM25 is divided by the factor, the distance following; and an answer
// the search missed is injected when the corpus scores it in the mode
// (under lexical, when it holds a query word; the playbook's note says why
// one was not).
func TestPlaybook_Modes(t *testing.T) {
	mx, m := playbookFixture(t, map[string]float64{"entry": 0.1})
	ctx := context.Background()
	// Corpus "words": d and e hold the query word "q", d more often; f
	// does not.
	if _, err := m.Create(ctx, "words", vector.Spec{Dim: dims, Metric: vector.Cosine, Model: "fake-1"}); err != nil {
		t.Fatal(err)
	}
	m.Upsert(ctx, "words", []vector.Item{
		{ID: "d", Vector: at(0.3, 2), Text: "q q q and more"},
		{ID: "e", Vector: at(0.2, 3), Text: "q and more"},
		{ID: "f", Vector: at(0.6, 5), Text: "nothing of it"},
	})
	record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "c", AnswerCorpus: "docs", Score: 1},
		matrix.PlaybookEntry{Query: "entry", AnswerID: "e", AnswerCorpus: "words", Score: 1},
		matrix.PlaybookEntry{Query: "entry", AnswerID: "f", AnswerCorpus: "words", Score: 1})

	// Hybrid over docs: "q" is in no text, so each score is 0.3 × the
	// cosine similarity: a 0.285, b 0.255, c 0.18, boosted to
	// 1 − 0.82 × 0.5 = 0.59.
	q := matrix.Query{Text: "q", Corpora: []string{"docs"}, K: 3, UsePlaybook: true}
	res := search(t, mx, q)
	c, _ := hitOf(res, "docs:c")
	if got := keys(res.Hits); res.Mode != vector.Hybrid || !slices.Equal(got, []string{"docs:c", "docs:a", "docs:b"}) || c.Playbook == nil {
		t.Fatalf("hybrid with the playbook: %v (mode %s), c's move %+v", got, res.Mode, c.Playbook)
	}
	if !near(float64(c.Score), 0.59) || !near(float64(c.Playbook.HitScore), 0.18) || !near(float64(c.Distance), 0.4) || !near(float64(c.Playbook.Distance), 0.4) || c.Playbook.RankBefore != 3 {
		t.Errorf("hybrid c: score %v (was %v), distance %v (was %v), rank before %d; want 0.59 from 0.18, distance 0.40 unmoved, rank 3",
			c.Score, c.Playbook.HitScore, c.Distance, c.Playbook.Distance, c.Playbook.RankBefore)
	}

	// Lexical over words: e's BM25 doubled past d's; f holds no "q", so
	// the search does not return it, and lexical cannot inject it.
	q = matrix.Query{Text: "q", Mode: vector.Lexical, Corpora: []string{"words"}, UsePlaybook: true}
	plain := search(t, mx, matrix.Query{Text: "q", Mode: vector.Lexical, Corpora: []string{"words"}})
	res = search(t, mx, q)
	if got := keys(plain.Hits); !slices.Equal(got, []string{"words:d", "words:e"}) {
		t.Fatalf("lexical without the playbook: %v", got)
	}
	d, e := plain.Hits[0], plain.Hits[1]
	if 2*e.Score <= d.Score {
		t.Fatalf("fixture: e's BM25 %v doubled does not pass d's %v", e.Score, d.Score)
	}
	be, _ := hitOf(res, "words:e")
	if got := keys(res.Hits); !slices.Equal(got, []string{"words:e", "words:d"}) || be.Playbook == nil ||
		!near(float64(be.Score), 2*float64(e.Score)) || be.Distance != -be.Score || be.Playbook.HitScore != e.Score || be.Playbook.Distance != e.Distance {
		t.Errorf("lexical with the playbook: %v, e = %+v; want e first at twice %v", got, be, e.Score)
	}
	if u := res.Playbook; u.Injected != 0 || !strings.Contains(u.Note, "1 recorded answer(s)") || !strings.Contains(u.Note, "mode lexical") {
		t.Errorf("lexical playbook use %+v, want no injection and a note saying why", u)
	}
	// With one hit a corpus, d alone comes back, and lexical injects e,
	// which holds "q", at its BM25 doubled.
	q.PerCorpusK = 1
	res = search(t, mx, q)
	be, _ = hitOf(res, "words:e")
	if got := keys(res.Hits); !slices.Equal(got, []string{"words:e", "words:d"}) || be.Playbook == nil || !be.Playbook.Injected || !near(float64(be.Score), 2*float64(e.Score)) {
		t.Errorf("lexical, one hit a corpus: %v, e = %+v; want e injected first at twice %v", got, be, e.Score)
	}
	// Every mode injects f, within 0.2 of the entry's query, scored as its
	// corpus scores it: hybrid, by meaning alone (it holds no "q").
	plainHybrid := search(t, mx, matrix.Query{Text: "q", Corpora: []string{"words"}, K: 3})
	pf, _ := hitOf(plainHybrid, "words:f")
	for _, mode := range []vector.Mode{vector.Dense, vector.Hybrid} {
		q.Mode, q.K = mode, 3
		f, ok := hitOf(search(t, mx, q), "words:f")
		if !ok || f.Playbook == nil || !f.Playbook.Injected {
			t.Errorf("%s did not inject f: %+v", mode, f)
			continue
		}
		if mode == vector.Hybrid && (f.Playbook.HitScore != pf.Score || !near(float64(f.Score), 1-(1-float64(pf.Score))*0.5)) {
			t.Errorf("hybrid injected f at %v from %v, want from %v (its score in a plain search) to 1 − (1 − it)/2", f.Score, f.Playbook.HitScore, pf.Score)
		}
	}
}

// TestSearch_Rerank checks a reranked search: the 5 items that mention the
// focus's symbol rank 11th to 15th by meaning, beyond the 2k = 10 hits a
// corpus gives without a rerank, and a rerank for k = 5 still finds them
// all, each with its relevance and reasons, and says how many it dropped.
func TestSearch_Rerank(t *testing.T) {
	m, items := fixture(t, corpus{"code", vector.Cosine, "fake-1", 40})
	ctx := context.Background()
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	q := items["code"][0].Vector
	order, err := m.Search(ctx, "code", q, vector.SearchOptions{K: 40})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, h := range order[10:15] {
		want = append(want, "code:"+h.ID)
		it := items["code"][slices.IndexFunc(items["code"], func(it vector.Item) bool { return it.ID == h.ID })]
		it.Text = "the caller builds one with NewGate"
		m.Upsert(ctx, "code", []vector.Item{it})
	}
	rerank := &matrix.Rerank{Focus: matrix.Focus{Path: "backends/matrix/gate.go", DefinedSymbols: []string{"NewGate"}}}
	plain := search(t, mx, matrix.Query{Vector: q, K: 5})
	if slices.ContainsFunc(keys(plain.Hits), func(k string) bool { return slices.Contains(want, k) }) {
		t.Fatalf("fixture: %v among the first 5 by meaning", keys(plain.Hits))
	}
	res := search(t, mx, matrix.Query{Vector: q, K: 5, Rerank: rerank})
	if got := keys(res.Hits); !slices.Equal(got, want) {
		t.Errorf("reranked %v, want %v (equal relevance: in the merged order)", got, want)
	}
	for _, h := range res.Hits {
		if h.Relevance == nil || len(h.Reasons) == 0 || h.Reasons[0].Signal != matrix.SignalDefinesSymbol {
			t.Errorf("%s:%s relevance %v reasons %+v", h.Corpus, h.ID, h.Relevance, h.Reasons)
		}
	}
	if u := res.Rerank; u == nil || u.Candidates != 25 || u.Dropped != 20 || u.Threshold != matrix.DefaultThreshold {
		t.Errorf("rerank use %+v, want 25 candidates (5k), 20 dropped", u)
	}
	if res.Corpora[0].Returned != 25 {
		t.Errorf("corpus gave %d hits, want 5k = 25", res.Corpora[0].Returned)
	}
}
