package matrix_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/matrix"
	"lakehouse/backends/vector"
)

const dims = 8

// fakeEmbedder embeds a text as a vector drawn from a generator seeded by
// the text, and counts its calls.
type fakeEmbedder struct{ calls atomic.Int32 }

var _ embed.Provider = (*fakeEmbedder)(nil)

func (*fakeEmbedder) Model() string { return "fake-1" }
func (*fakeEmbedder) Dim() int      { return dims }

func (e *fakeEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	e.calls.Add(1)
	out := make([][]float32, len(texts))
	for i, text := range texts {
		h := fnv.New64a()
		h.Write([]byte(text))
		out[i] = randomVector(rand.New(rand.NewPCG(h.Sum64(), 1)))
	}
	return out, nil
}

func randomVector(rng *rand.Rand) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// corpus describes one index of a fixture.
type corpus struct {
	name   string
	metric vector.Metric
	model  string
	n      int
}

func mustOpen(t *testing.T) *vector.Manager {
	t.Helper()
	m, err := vector.Open(t.TempDir(), vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// fixture opens a Manager with the corpora of specs, each of n random items
// whose metadata hold "group" (id mod 3) and whose text is "<corpus> <i>".
// It returns the items too.
func fixture(t *testing.T, specs ...corpus) (*vector.Manager, map[string][]vector.Item) {
	t.Helper()
	m := mustOpen(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	items := map[string][]vector.Item{}
	for _, c := range specs {
		if _, err := m.Create(ctx, c.name, vector.Spec{Dim: dims, Metric: c.metric, Model: c.model}); err != nil {
			t.Fatal(err)
		}
		batch := make([]vector.Item, c.n)
		for i := range batch {
			batch[i] = vector.Item{ID: fmt.Sprint(i), Vector: randomVector(rng), Text: fmt.Sprintf("%s %d", c.name, i), Metadata: map[string]any{"group": i % 3}}
		}
		if _, err := m.Upsert(ctx, c.name, batch); err != nil {
			t.Fatal(err)
		}
		items[c.name] = batch
	}
	return m, items
}

func search(t *testing.T, mx *matrix.Matrix, q matrix.Query) matrix.Result {
	t.Helper()
	res, err := mx.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return res
}

func keys(hits []matrix.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Corpus+":"+h.ID)
	}
	return out
}

func cosineDistance(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return 1 - dot/math.Sqrt(na*nb)
}

// TestSearch_DistanceEqualsBruteForce checks a distance merge over three
// corpora of one metric and model against the global top k computed by
// comparing the query with every item of every corpus.
func TestSearch_DistanceEqualsBruteForce(t *testing.T) {
	m, items := fixture(t, corpus{"a", vector.Cosine, "fake-1", 300}, corpus{"b", vector.Cosine, "fake-1", 200}, corpus{"c", vector.Cosine, "fake-1", 100})
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 5 {
		q := randomVector(rng)
		type scored struct {
			key string
			d   float64
		}
		var all []scored
		for name, list := range items {
			for _, it := range list {
				all = append(all, scored{name + ":" + it.ID, cosineDistance(q, it.Vector)})
			}
		}
		slices.SortFunc(all, func(x, y scored) int { return cmp.Compare(x.d, y.d) })
		const k = 15
		res := search(t, mx, matrix.Query{Vector: q, K: k})
		if res.Merge != matrix.MergeDistance {
			t.Fatalf("default merge = %s, want distance for corpora of one metric and model", res.Merge)
		}
		var want []string
		for _, s := range all[:k] {
			want = append(want, s.key)
		}
		if got := keys(res.Hits); !slices.Equal(got, want) {
			t.Fatalf("round %d: hits %v, want %v", round, got, want)
		}
		for i, h := range res.Hits {
			if math.Abs(float64(h.Distance)-all[i].d) > 1e-5 || math.Abs(h.Merged-(1-all[i].d)) > 1e-5 || h.Rank != i+1 {
				t.Errorf("hit %d: distance %v merged %v rank %d, want distance %v merged %v", i, h.Distance, h.Merged, h.Rank, all[i].d, 1-all[i].d)
			}
		}
	}
}

// TestSearch_RRFOverDifferentMetricsAndModels checks that corpora of
// different metrics, or of different models, refuse a distance merge with
// an error that suggests rrf, and that rrf (their default) ranks each hit
// 1/(60 + its rank in its own corpus's search).
func TestSearch_RRFOverDifferentMetricsAndModels(t *testing.T) {
	m, _ := fixture(t,
		corpus{"cos", vector.Cosine, "", 50}, corpus{"euclid", vector.L2, "", 50},
		corpus{"inner", vector.Dot, "", 50}, corpus{"other", vector.Cosine, "other-model", 50})
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	q := randomVector(rand.New(rand.NewPCG(5, 6)))
	for _, names := range [][]string{{"cos", "euclid", "inner"}, {"cos", "other"}} {
		_, err := mx.Search(context.Background(), matrix.Query{Vector: q, Corpora: names, Merge: matrix.MergeDistance})
		if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "rrf") || !strings.Contains(err.Error(), names[1]) {
			t.Errorf("distance merge over %v: %v, want an invalid-input error naming the corpora and suggesting rrf", names, err)
		}
		res := search(t, mx, matrix.Query{Vector: q, Corpora: names, K: 12, PerCorpusK: 6})
		if res.Merge != matrix.MergeRRF || len(res.Hits) != 12 {
			t.Fatalf("over %v: merge %s, %d hits; want rrf and 12", names, res.Merge, len(res.Hits))
		}
		// Ranks within each corpus, from each corpus searched alone.
		rank := map[string]int{}
		for _, name := range names {
			alone, err := m.Search(context.Background(), name, q, vector.SearchOptions{K: 6})
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range alone {
				rank[name+":"+h.ID] = i + 1
			}
		}
		// By hand: rank 1 of every corpus in order, then rank 2, ...
		var want []string
		for r := 1; len(want) < 12; r++ {
			for _, name := range names {
				for key, kr := range rank {
					if kr == r && strings.HasPrefix(key, name+":") && len(want) < 12 {
						want = append(want, key)
					}
				}
			}
		}
		if got := keys(res.Hits); !slices.Equal(got, want) {
			t.Errorf("over %v: hits %v, want %v", names, got, want)
		}
		for _, h := range res.Hits {
			if w := 1 / float64(60+rank[h.Corpus+":"+h.ID]); math.Abs(h.Merged-w) > 1e-12 {
				t.Errorf("%s:%s merged %v, want %v", h.Corpus, h.ID, h.Merged, w)
			}
		}
	}
}

// TestSearch_Weighted checks that weights choose the weighted merge, and
// that each hit scores its corpus's weight × its score min-max normalised
// over what its corpus returned.
func TestSearch_Weighted(t *testing.T) {
	m, _ := fixture(t, corpus{"a", vector.Cosine, "", 30}, corpus{"b", vector.L2, "", 30})
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	q := randomVector(rand.New(rand.NewPCG(8, 9)))
	weights := map[string]float64{"a": 3}
	res := search(t, mx, matrix.Query{Vector: q, K: 10, PerCorpusK: 5, Weights: weights})
	if res.Merge != matrix.MergeWeighted || len(res.Hits) != 10 {
		t.Fatalf("merge %s, %d hits; want weighted (weights are given) and 10", res.Merge, len(res.Hits))
	}
	want := map[string]float64{}
	for name, w := range map[string]float64{"a": 3, "b": 1} {
		alone, err := m.Search(context.Background(), name, q, vector.SearchOptions{K: 5})
		if err != nil {
			t.Fatal(err)
		}
		hi, lo := float64(alone[0].Score), float64(alone[4].Score)
		for _, h := range alone {
			want[name+":"+h.ID] = w * (float64(h.Score) - lo) / (hi - lo)
		}
	}
	for i, h := range res.Hits {
		if w := want[h.Corpus+":"+h.ID]; math.Abs(h.Merged-w) > 1e-6 || i > 0 && h.Merged > res.Hits[i-1].Merged {
			t.Errorf("hit %d %s:%s merged %v, want %v, in descending order", i, h.Corpus, h.ID, h.Merged, w)
		}
	}
	if top := res.Hits[0]; top.Corpus != "a" || top.Merged != 3 {
		t.Errorf("best hit %s:%s merged %v, want a's best at its weight 3", top.Corpus, top.ID, top.Merged)
	}
}

// TestSearch_FilterReturnsK checks that the filter applies inside each
// corpus's search: every corpus still gives per_corpus_k matching hits, so
// k come back.
func TestSearch_FilterReturnsK(t *testing.T) {
	m, _ := fixture(t, corpus{"a", vector.Cosine, "", 60}, corpus{"b", vector.Cosine, "", 60}, corpus{"c", vector.Cosine, "", 60})
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	q := randomVector(rand.New(rand.NewPCG(1, 1)))
	res := search(t, mx, matrix.Query{Vector: q, K: 12, PerCorpusK: 4, Filter: vector.Filter{"group": 1}})
	if len(res.Hits) != 12 {
		t.Fatalf("%d hits, want 12", len(res.Hits))
	}
	for _, h := range res.Hits {
		if g := fmt.Sprint(h.Metadata["group"]); g != "1" {
			t.Errorf("%s:%s has group %v", h.Corpus, h.ID, g)
		}
	}
	for _, c := range res.Corpora {
		if c.Returned != 4 {
			t.Errorf("corpus %s returned %d, want 4", c.Name, c.Returned)
		}
	}
}

// TestSearch_ExcludeAndMinScore checks that excluded items never come back
// and still leave k hits, and that min_score leaves out hits scoring below
// it in their own corpus.
func TestSearch_ExcludeAndMinScore(t *testing.T) {
	m, items := fixture(t, corpus{"a", vector.Cosine, "", 40}, corpus{"b", vector.Cosine, "", 40})
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	q := randomVector(rand.New(rand.NewPCG(2, 2)))
	first := search(t, mx, matrix.Query{Vector: q, K: 5, PerCorpusK: 5})
	seen := keys(first.Hits)
	res := search(t, mx, matrix.Query{Vector: q, K: 5, PerCorpusK: 5, Exclude: seen})
	if len(res.Hits) != 5 {
		t.Fatalf("%d hits after excluding %v, want 5", len(res.Hits), seen)
	}
	for _, key := range keys(res.Hits) {
		if slices.Contains(seen, key) {
			t.Errorf("excluded %s came back", key)
		}
	}
	for _, c := range res.Corpora {
		if c.Returned != 5 {
			t.Errorf("corpus %s gave %d hits after exclusions, want 5", c.Name, c.Returned)
		}
	}
	// The same ids in the other corpus are other items.
	var onlyA []string
	for _, key := range seen {
		if strings.HasPrefix(key, "a:") {
			onlyA = append(onlyA, key)
		}
	}
	res = search(t, mx, matrix.Query{Vector: q, K: 80, PerCorpusK: 40, Exclude: onlyA})
	if len(res.Hits) != 80-len(onlyA) {
		t.Errorf("%d hits with %d of a excluded, want %d", len(res.Hits), len(onlyA), 80-len(onlyA))
	}

	min := 0.3
	want := 0
	for _, list := range items {
		for _, it := range list {
			if 1-cosineDistance(q, it.Vector) >= min {
				want++
			}
		}
	}
	res = search(t, mx, matrix.Query{Vector: q, K: 80, PerCorpusK: 40, MinScore: &min})
	if len(res.Hits) != want || want == 0 || want == 80 {
		t.Fatalf("%d hits of score ≥ %v, want %d (of 80)", len(res.Hits), min, want)
	}
	for _, h := range res.Hits {
		if float64(h.Score) < min {
			t.Errorf("%s:%s scores %v < %v", h.Corpus, h.ID, h.Score, min)
		}
	}
}

// flaky is Corpora whose Search first calls before (when set) and fails
// for the corpus named fail.
type flaky struct {
	matrix.Corpora
	before func(name string)
	fail   string
}

var _ matrix.Corpora = flaky{}

func (f flaky) Search(ctx context.Context, name string, q []float32, opts vector.SearchOptions) ([]vector.Hit, error) {
	if f.before != nil {
		f.before(name)
	}
	if name == f.fail {
		return nil, errors.New("read segment: input/output error")
	}
	return f.Corpora.Search(ctx, name, q, opts)
}

// TestSearch_Partial checks a missing corpus, one dropped between planning
// and searching, and one whose search fails: each fails the search naming
// it, unless partial, which returns the others' hits and the corpus's
// error; a partial search that no corpus answers fails.
func TestSearch_Partial(t *testing.T) {
	m, _ := fixture(t, corpus{"a", vector.Cosine, "", 20}, corpus{"b", vector.Cosine, "", 20}, corpus{"c", vector.Cosine, "", 20})
	q := randomVector(rand.New(rand.NewPCG(4, 4)))
	dropB := func(name string) {
		if name == "b" {
			m.Drop(context.Background(), "b")
		}
	}
	for _, c := range []struct {
		name    string
		corpora matrix.Corpora
		asked   []string
		bad     string // the corpus that fails
		kind    *errs.Kind
		want    string // in its error
	}{
		{"missing", m, []string{"a", "nope", "c"}, "nope", errs.NotFound, "list_indexes shows 3 indexes: a, b, c"},
		{"failing", flaky{Corpora: m, fail: "c"}, []string{"a", "b", "c"}, "c", nil, "input/output error"},
		{"dropped meanwhile", flaky{Corpora: m, before: dropB}, nil, "b", errs.NotFound, `vector index "b" not found`},
	} {
		t.Run(c.name, func(t *testing.T) {
			mx := &matrix.Matrix{Corpora: c.corpora, Embedder: &fakeEmbedder{}}
			_, err := mx.Search(context.Background(), matrix.Query{Vector: q, Corpora: c.asked})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.bad)) || !strings.Contains(err.Error(), c.want) || errs.KindOf(err) != c.kind {
				t.Fatalf("without partial: %v (kind %v), want an error naming %q with %q, of kind %v", err, errs.KindOf(err), c.bad, c.want, c.kind)
			}
			if c.name == "dropped meanwhile" { // dropped by the search above
				if _, err := m.Create(context.Background(), "b", vector.Spec{Dim: dims, Metric: vector.Cosine}); err != nil {
					t.Fatal(err)
				}
			}
			res := search(t, mx, matrix.Query{Vector: q, Corpora: c.asked, K: 10, Partial: true})
			if len(res.Hits) != 10 {
				t.Errorf("%d hits, want 10 from the other corpora", len(res.Hits))
			}
			for _, h := range res.Hits {
				if h.Corpus == c.bad {
					t.Errorf("hit from the failing corpus: %+v", h)
				}
			}
			for _, r := range res.Corpora {
				if failed := r.Err != nil; failed != (r.Name == c.bad) || failed && !strings.Contains(r.Err.Error(), c.want) {
					t.Errorf("corpus %s: error %v", r.Name, r.Err)
				}
			}
		})
	}

	mx := &matrix.Matrix{Corpora: flaky{Corpora: m, fail: "a"}, Embedder: &fakeEmbedder{}}
	_, err := mx.Search(context.Background(), matrix.Query{Vector: q, Corpora: []string{"a", "nope"}, Partial: true})
	if err == nil || !strings.Contains(err.Error(), "no corpus") || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("partial search that no corpus answers: %v", err)
	}
}

// TestSearch_Text checks that query text is embedded once however many
// corpora it searches, and finds what its vector finds; and that a corpus
// of raw vectors or of another model refuses text, naming itself.
func TestSearch_Text(t *testing.T) {
	m, _ := fixture(t, corpus{"a", vector.Cosine, "fake-1", 30}, corpus{"b", vector.L2, "fake-1", 30}, corpus{"c", vector.Dot, "fake-1", 30},
		corpus{"raw", vector.Cosine, "", 5}, corpus{"old", vector.Cosine, "fake-0", 5})
	emb := &fakeEmbedder{}
	mx := &matrix.Matrix{Corpora: m, Embedder: emb}
	names := []string{"a", "b", "c"}
	res := search(t, mx, matrix.Query{Text: "bread", Corpora: names})
	if n := emb.calls.Load(); n != 1 {
		t.Errorf("%d embed calls for 3 corpora, want 1", n)
	}
	vecs, _ := emb.Embed(context.Background(), []string{"bread"})
	byVector := search(t, mx, matrix.Query{Vector: vecs[0], Corpora: names})
	if !slices.Equal(keys(res.Hits), keys(byVector.Hits)) || len(res.Hits) != 10 {
		t.Errorf("by text %v, by its vector %v", keys(res.Hits), keys(byVector.Hits))
	}

	if _, err := mx.Search(context.Background(), matrix.Query{Text: "bread"}); !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), `"old"`) {
		t.Errorf("text over every corpus: %v, want an error naming the first that cannot take text, old", err)
	}
	for _, c := range []struct{ corpus, want string }{{"raw", "query_vector"}, {"old", "fake-0"}} {
		_, err := mx.Search(context.Background(), matrix.Query{Text: "bread", Corpora: []string{"a", c.corpus}})
		if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.corpus)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("text over %s: %v, want an error naming it and %q", c.corpus, err, c.want)
		}
	}
	res = search(t, mx, matrix.Query{Text: "bread", Partial: true})
	for _, r := range res.Corpora {
		if failed := r.Err != nil; failed != (r.Name == "raw" || r.Name == "old") {
			t.Errorf("partial text search, corpus %s: error %v", r.Name, r.Err)
		}
	}
	if res.Merge != matrix.MergeRRF {
		t.Errorf("merge over a, b, c (three metrics) = %s, want rrf", res.Merge)
	}

	var text []string
	for _, c := range mx.List() {
		if c.Text {
			text = append(text, c.Name)
		}
	}
	if !slices.Equal(text, names) {
		t.Errorf("List: corpora that take text = %v, want %v", text, names)
	}
}

// TestSearch_BadInput checks that every mistake in a query is an error of
// the caller's kind that says what to do.
func TestSearch_BadInput(t *testing.T) {
	m, _ := fixture(t, corpus{"a", vector.Cosine, "", 5}, corpus{"b", vector.Cosine, "", 5})
	if _, err := m.Create(context.Background(), "tiny", vector.Spec{Dim: 3, Metric: vector.Cosine}); err != nil {
		t.Fatal(err)
	}
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	q := randomVector(rand.New(rand.NewPCG(1, 2)))
	ab := []string{"a", "b"}
	for _, c := range []struct {
		name string
		q    matrix.Query
		kind *errs.Kind
		want string
	}{
		{"unknown corpus", matrix.Query{Vector: q, Corpora: []string{"a", "nope"}}, errs.NotFound, "3 indexes: a, b, tiny"},
		{"k negative", matrix.Query{Vector: q, K: -1}, errs.Invalid, "1 to 1000"},
		{"k too big", matrix.Query{Vector: q, K: 1001}, errs.Invalid, "1 to 1000"},
		{"per_corpus_k too big", matrix.Query{Vector: q, PerCorpusK: 1001}, errs.Invalid, "per_corpus_k"},
		{"both queries", matrix.Query{Vector: q, Text: "x"}, errs.Invalid, "not both"},
		{"no query", matrix.Query{}, errs.Invalid, "query_text"},
		{"wrong dims", matrix.Query{Vector: q, Corpora: []string{"a", "tiny"}}, errs.Invalid, `corpus "tiny": the query vector has 8 dimensions but the index has 3`},
		{"unknown merge", matrix.Query{Vector: q, Corpora: ab, Merge: "best"}, errs.Invalid, "distance, rrf or weighted"},
		{"weights without weighted", matrix.Query{Vector: q, Corpora: ab, Merge: matrix.MergeRRF, Weights: map[string]float64{"a": 2}}, errs.Invalid, "weighted only"},
		{"weight of another corpus", matrix.Query{Vector: q, Corpora: ab, Weights: map[string]float64{"c": 2}}, errs.Invalid, `"c"`},
		{"negative weight", matrix.Query{Vector: q, Corpora: ab, Weights: map[string]float64{"a": -1}}, errs.Invalid, "0 or more"},
		{"unqualified exclusion", matrix.Query{Vector: q, Corpora: ab, Exclude: []string{"42"}}, errs.Invalid, "corpus:id"},
		{"exclusion of another corpus", matrix.Query{Vector: q, Corpora: ab, Exclude: []string{"c:42"}}, errs.Invalid, "does not cover"},
		{"corpus twice", matrix.Query{Vector: q, Corpora: []string{"a", "a"}}, errs.Invalid, "twice"},
		{"bad filter", matrix.Query{Vector: q, Corpora: ab, Filter: vector.Filter{"n": map[string]any{"about": 3}}}, errs.Invalid, "about"},
	} {
		_, err := mx.Search(context.Background(), c.q)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a %v error mentioning %q", c.name, err, c.kind, c.want)
		}
	}

	empty := &matrix.Matrix{Corpora: flaky{Corpora: mustOpen(t)}, Embedder: &fakeEmbedder{}}
	if _, err := empty.Search(context.Background(), matrix.Query{Vector: q}); !errors.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "create_index") {
		t.Errorf("no corpora at all: %v", err)
	}
}
