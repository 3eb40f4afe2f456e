package matrix_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/backends/matrix"
	"lakehouse/backends/vector"
)

// planeEmbedder embeds the texts it knows as the vectors given, and any
// other text as fakeEmbedder does.
type planeEmbedder struct {
	fakeEmbedder
	vecs map[string][]float32
}

func (e *planeEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out, _ := e.fakeEmbedder.Embed(ctx, texts)
	for i, t := range texts {
		if v, ok := e.vecs[t]; ok {
			out[i] = v
		}
	}
	return out, nil
}

// at returns the unit vector at cosine distance d from axis 0, turned
// towards axis.
func at(d float64, axis int) []float32 {
	v := make([]float32, dims)
	v[0] = float32(1 - d)
	v[axis] = float32(math.Sqrt(1 - (1-d)*(1-d)))
	return v
}

// playbookFixture is corpus "docs" of items a, b, c at cosine distance
// 0.05, 0.15 and 0.40 from the query "q" (axis 0), corpus "other" of
// items x, y at 0.02 and 0.30, and, for the text of each entry query in
// entries, a vector at the distance given from "q".
func playbookFixture(t *testing.T, entries map[string]float64) (*matrix.Matrix, *vector.Manager) {
	t.Helper()
	m := mustOpen(t)
	ctx := context.Background()
	for name, items := range map[string][]vector.Item{
		"docs":  {{ID: "a", Vector: at(0.05, 1), Text: "A"}, {ID: "b", Vector: at(0.15, 2), Text: "B", Metadata: map[string]any{"lang": "en"}}, {ID: "c", Vector: at(0.40, 3), Text: "C", Metadata: map[string]any{"lang": "en"}}},
		"other": {{ID: "x", Vector: at(0.02, 1)}, {ID: "y", Vector: at(0.30, 2)}},
	} {
		if _, err := m.Create(ctx, name, vector.Spec{Dim: dims, Metric: vector.Cosine, Model: "fake-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Upsert(ctx, name, items); err != nil {
			t.Fatal(err)
		}
	}
	emb := &planeEmbedder{vecs: map[string][]float32{"q": at(0, 1)}}
	for text, d := range entries {
		emb.vecs[text] = at(d, 4)
	}
	return &matrix.Matrix{Corpora: m, Embedder: emb}, m
}

func record(t *testing.T, mx *matrix.Matrix, entries ...matrix.PlaybookEntry) []matrix.Recorded {
	t.Helper()
	res, err := mx.Record(context.Background(), entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("Record: %v", r.Err)
		}
	}
	return res
}

func hitOf(res matrix.Result, key string) (matrix.Hit, bool) {
	i := slices.IndexFunc(res.Hits, func(h matrix.Hit) bool { return h.Corpus+":"+h.ID == key })
	if i < 0 {
		return matrix.Hit{}, false
	}
	return res.Hits[i], true
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-4 }

// TestPlaybook_RecordBoostInject records an answer, checks the boost on
// numbers worked out by hand (distance × (1 − score/2)), and that an answer
// the corpus search did not return is injected only from a query within
// the inject distance.
func TestPlaybook_RecordBoostInject(t *testing.T) {
	mx, _ := playbookFixture(t, map[string]float64{"close": 0.1, "farther": 0.3})
	q := matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"docs"}, K: 3, UsePlaybook: true}

	res := search(t, mx, q)
	if got := keys(res.Hits); !slices.Equal(got, []string{"docs:a", "docs:b", "docs:c"}) || res.Playbook == nil || !strings.Contains(res.Playbook.Note, "does not exist yet") {
		t.Fatalf("before recording: %v, playbook %+v", got, res.Playbook)
	}

	rec := record(t, mx, matrix.PlaybookEntry{Query: "farther", AnswerID: "c", AnswerCorpus: "docs", Score: 0.8, Tags: []string{"t"}})
	if rec[0].Corpus != matrix.DefaultPlaybookCorpus || rec[0].Previous != nil || rec[0].Score != 0.8 {
		t.Errorf("recorded %+v", rec[0])
	}
	// c: 0.40 × (1 − 0.4) = 0.24, past b (0.15).
	res = search(t, mx, q)
	c, _ := hitOf(res, "docs:c")
	mv := c.Playbook
	if got := keys(res.Hits); !slices.Equal(got, []string{"docs:a", "docs:b", "docs:c"}) || mv == nil {
		t.Fatalf("boosted: %v, c's move %+v", got, mv)
	}
	if !near(float64(c.Distance), 0.24) || !near(float64(c.Score), 0.76) || !near(mv.Factor, 0.6) || !near(float64(mv.Distance), 0.4) ||
		!near(mv.QueryDistance, 0.3) || mv.Entry != rec[0].Entry || mv.Query != "farther" || mv.RankBefore != 3 || mv.Injected {
		t.Errorf("c = %+v, move %+v; want distance 0.24 from 0.40 by 0.6", c, mv)
	}
	if res.Playbook.Near != 1 || res.Playbook.Boosted != 1 || res.Playbook.Injected != 0 {
		t.Errorf("use %+v", res.Playbook)
	}

	// A right answer (score 1) halves: 0.40 → 0.20, and with b at 0.15 the
	// order holds; an entry for b then halves b to 0.075, past nothing.
	record(t, mx, matrix.PlaybookEntry{Query: "farther", AnswerID: "c", AnswerCorpus: "docs", Score: 1})
	res = search(t, mx, q)
	if c, _ := hitOf(res, "docs:c"); !near(float64(c.Distance), 0.2) {
		t.Errorf("score 1: c at %v, want 0.20", c.Distance)
	}

	// Cut to 2 hits per corpus, c is not returned: 0.3 away, "farther"
	// does not inject it; 0.1 away, "close" does, and boosts it to 0.20,
	// its rank by its own distance being beyond the cut.
	cut := q
	cut.PerCorpusK, cut.K = 2, 3
	if res = search(t, mx, cut); len(res.Hits) != 2 {
		t.Fatalf("farther entry injected: %v", keys(res.Hits))
	}
	record(t, mx, matrix.PlaybookEntry{Query: "close", AnswerID: "c", AnswerCorpus: "docs", Score: 1})
	res = search(t, mx, cut)
	c, ok := hitOf(res, "docs:c")
	if !ok || !c.Playbook.Injected || !near(float64(c.Distance), 0.2) || c.Text != "C" || c.Playbook.Query != "close" || c.Playbook.RankBefore != 0 || res.Playbook.Injected != 1 {
		t.Fatalf("injected c = %+v (%v), use %+v", c, keys(res.Hits), res.Playbook)
	}
	// Not under a filter it fails, nor when excluded, nor below min_score.
	for _, mod := range []func(*matrix.Query){
		func(q *matrix.Query) { q.Exclude = []string{"docs:c"} },
		func(q *matrix.Query) { s := 0.61; q.MinScore = &s },
		func(q *matrix.Query) { q.Filter = vector.Filter{"lang": "de"} },
	} {
		q := cut
		mod(&q)
		if _, ok := hitOf(search(t, mx, q), "docs:c"); ok {
			t.Errorf("c injected into %+v", q)
		}
	}
	// Under a filter it meets, c is fetched and injected past b, the one
	// hit the search returned.
	filtered := cut
	filtered.PerCorpusK, filtered.Filter = 1, vector.Filter{"lang": "en"}
	if c, ok := hitOf(search(t, mx, filtered), "docs:c"); !ok || c.Playbook == nil || !c.Playbook.Injected {
		t.Errorf("c not injected under a filter it meets: %+v", c)
	}
	// Without use_playbook, nothing moves.
	plain := search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"docs"}, K: 3})
	if c, _ := hitOf(plain, "docs:c"); c.Playbook != nil || !near(float64(c.Distance), 0.4) || plain.Playbook != nil {
		t.Errorf("without use_playbook: %+v", plain)
	}
}

// TestPlaybook_Thresholds puts entries just inside and just outside the
// boost distance (0.5) and the inject distance (0.2).
func TestPlaybook_Thresholds(t *testing.T) {
	const eps = 1e-3
	for _, c := range []struct {
		d             float64
		boost, inject bool
	}{
		{0.5 - eps, true, false}, {0.5 + eps, false, false}, {0.2 - eps, true, true}, {0.2 + eps, true, false},
	} {
		mx, _ := playbookFixture(t, map[string]float64{"entry": c.d})
		record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "c", AnswerCorpus: "docs", Score: 1})
		res := search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"docs"}, K: 3, UsePlaybook: true})
		h, _ := hitOf(res, "docs:c")
		if boosted := h.Playbook != nil; boosted != c.boost {
			t.Errorf("entry at %v: boosted %v, want %v", c.d, boosted, c.boost)
		}
		res = search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"docs"}, K: 3, PerCorpusK: 2, UsePlaybook: true})
		if _, injected := hitOf(res, "docs:c"); injected != c.inject {
			t.Errorf("entry at %v: injected %v, want %v", c.d, injected, c.inject)
		}
	}
	// Other thresholds, from the config.
	mx, _ := playbookFixture(t, map[string]float64{"entry": 0.3})
	mx.Playbook = matrix.PlaybookConfig{BoostDistance: 0.25, InjectDistance: 0.25}
	record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "c", AnswerCorpus: "docs", Score: 1})
	if h, _ := hitOf(search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"docs"}, UsePlaybook: true}), "docs:c"); h.Playbook != nil {
		t.Errorf("boost_distance 0.25, entry at 0.3: boosted %+v", h.Playbook)
	}
}

// TestPlaybook_ReRecordUpdates checks that recording the same query,
// answer and corpus again replaces the entry's score.
func TestPlaybook_ReRecordUpdates(t *testing.T) {
	mx, m := playbookFixture(t, map[string]float64{"entry": 0.1})
	first := record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "c", AnswerCorpus: "docs", Score: 0.2})
	again := record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "c", AnswerCorpus: "docs", Score: 0.9})
	if again[0].Entry != first[0].Entry || again[0].Previous == nil || *again[0].Previous != 0.2 || again[0].Score != 0.9 {
		t.Errorf("again = %+v, first = %+v", again[0], first[0])
	}
	if info, _ := m.Info(matrix.DefaultPlaybookCorpus); info.Count != 1 {
		t.Errorf("playbook holds %d entries, want 1", info.Count)
	}
	h, _ := hitOf(search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"docs"}, UsePlaybook: true}), "docs:c")
	if h.Playbook == nil || h.Playbook.Score != 0.9 || !near(h.Playbook.Factor, 0.55) {
		t.Errorf("move %+v, want score 0.9, factor 0.55", h.Playbook)
	}
	other := record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "b", AnswerCorpus: "docs", Score: 0.9})
	if other[0].Entry == first[0].Entry {
		t.Error("another answer to the same query has the same entry")
	}
}

// TestPlaybook_Fold checks that reported outcomes set an entry's score to
// their success rate, and that it is durable: it is there after reopening.
func TestPlaybook_Fold(t *testing.T) {
	dir := t.TempDir()
	m, err := vector.Open(dir, vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Create(ctx, "docs", vector.Spec{Dim: dims, Metric: vector.Cosine, Model: "fake-1"})
	m.Upsert(ctx, "docs", []vector.Item{{ID: "c", Vector: at(0.4, 3)}})
	mx := &matrix.Matrix{Corpora: m, Embedder: &fakeEmbedder{}}
	var last matrix.Recorded
	for i, ok := range []bool{true, false, true, true} {
		if last, err = mx.Fold(ctx, matrix.Outcome{Query: "how?", AnswerID: "c", AnswerCorpus: "docs", Success: ok}); err != nil {
			t.Fatalf("outcome %d: %v", i, err)
		}
	}
	if last.Reports != 4 || last.Successes != 3 || last.Score != 0.75 || *last.Previous != 2.0/3 {
		t.Errorf("after 4 outcomes: %+v", last)
	}
	if _, err := mx.Fold(ctx, matrix.Outcome{Query: "how?", AnswerID: "gone", AnswerCorpus: "docs"}); !errors.Is(err, errs.NotFound) {
		t.Errorf("outcome of an unknown answer: %v", err)
	}
	m.Close()

	m, err = vector.Open(dir, vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	items, err := m.Get(matrix.DefaultPlaybookCorpus, []string{last.Entry})
	if err != nil || len(items) != 1 || items[0].Metadata["score"] != json.Number("0.75") || items[0].Metadata["reports"] != json.Number("4") || items[0].Text != "how?" {
		t.Fatalf("after reopening: %+v, %v", items, err)
	}
}

// TestOutcomeOf checks which event fields make an outcome.
func TestOutcomeOf(t *testing.T) {
	all := map[string]any{"query_text": "q", "answer_id": "1", "answer_corpus": "docs", "other": 3}
	if o, ok, err := matrix.OutcomeOf(all, true); !ok || err != nil || o != (matrix.Outcome{Query: "q", AnswerID: "1", AnswerCorpus: "docs", Success: true}) {
		t.Errorf("all fields: %+v %v %v", o, ok, err)
	}
	all["playbook_corpus"] = "playbook_x"
	if o, _, _ := matrix.OutcomeOf(all, false); o.Corpus != "playbook_x" || o.Success {
		t.Errorf("with playbook_corpus: %+v", o)
	}
	if _, ok, err := matrix.OutcomeOf(map[string]any{"other": 1}, true); ok || err != nil {
		t.Errorf("no outcome fields: %v %v", ok, err)
	}
	for _, f := range []map[string]any{{"query_text": "q", "answer_id": "1"}, {"query_text": "q", "answer_id": 1, "answer_corpus": "d"}} {
		if _, ok, err := matrix.OutcomeOf(f, true); ok || !errors.Is(err, errs.Invalid) {
			t.Errorf("fields %v: %v %v, want an invalid-input error", f, ok, err)
		}
	}
}

// TestPlaybook_NotSearchedAsUserCorpus checks that a search naming no
// corpora leaves playbooks out, as List tells, and that naming one
// searches it.
func TestPlaybook_NotSearchedAsUserCorpus(t *testing.T) {
	mx, _ := playbookFixture(t, map[string]float64{"entry": 0.1})
	record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "c", AnswerCorpus: "docs", Score: 1})
	res := search(t, mx, matrix.Query{Text: "q"})
	if len(res.Corpora) != 2 || slices.ContainsFunc(res.Hits, func(h matrix.Hit) bool { return matrix.IsPlaybook(h.Corpus) }) {
		t.Errorf("default corpora %+v", res.Corpora)
	}
	for _, c := range mx.List() {
		if c.Playbook != (c.Name == matrix.DefaultPlaybookCorpus) {
			t.Errorf("List: %+v", c)
		}
	}
	res = search(t, mx, matrix.Query{Text: "entry", Corpora: []string{matrix.DefaultPlaybookCorpus}, K: 1})
	if len(res.Hits) != 1 || res.Hits[0].Text != "entry" {
		t.Errorf("playbook searched by name: %+v", res.Hits)
	}
}

// TestPlaybook_Merges checks the boost under rrf and weighted: an answer
// boosted to the top of its corpus ties with the other corpus's best and
// wins the tie.
func TestPlaybook_Merges(t *testing.T) {
	mx, _ := playbookFixture(t, map[string]float64{"entry": 0.1})
	// Halved: a 0.05 → 0.025 and b 0.15 → 0.075, while other's x stays at
	// 0.02 and y at 0.30.
	record(t, mx, matrix.PlaybookEntry{Query: "entry", AnswerID: "a", AnswerCorpus: "docs", Score: 1},
		matrix.PlaybookEntry{Query: "entry", AnswerID: "b", AnswerCorpus: "docs", Score: 1})
	for _, how := range []matrix.Merge{matrix.MergeRRF, matrix.MergeWeighted} {
		plain := search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"other", "docs"}, Merge: how})
		res := search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"other", "docs"}, Merge: how, UsePlaybook: true})
		if got := keys(plain.Hits)[0]; got != "other:x" {
			t.Errorf("%s without playbook: first %s, want other:x (the first corpus)", how, got)
		}
		if got := keys(res.Hits)[:2]; !slices.Equal(got, []string{"docs:a", "other:x"}) || res.Hits[0].Playbook.RankBefore != 2 {
			t.Errorf("%s with playbook: %v (%+v), want docs:a first, by the tie-break", how, keys(res.Hits), res.Hits[0].Playbook)
		}
	}
	// Under distance the global sort moves by the factors alone: x stays
	// first.
	res := search(t, mx, matrix.Query{Text: "q", Mode: vector.Dense, Corpora: []string{"other", "docs"}, UsePlaybook: true})
	if got := keys(res.Hits); !slices.Equal(got, []string{"other:x", "docs:a", "docs:b", "other:y", "docs:c"}) {
		t.Errorf("distance with playbook: %v", got)
	}
	if a, _ := hitOf(res, "docs:a"); !near(float64(a.Distance), 0.025) {
		t.Errorf("a at %v, want 0.025", a.Distance)
	}
}

// TestBoost checks the boost of a distance on numbers worked out by hand.
func TestBoost(t *testing.T) {
	for _, c := range []struct {
		d    float32
		f    float64
		want float32
	}{
		{0.4, 1 - 0.5*1, 0.2}, {0.4, 1 - 0.5*0, 0.4}, {0.4, 1 - 0.5*0.5, 0.3}, {0, 0.5, 0}, {-2, 0.5, -4}, {1.6, 0.8, 1.28},
	} {
		if got := matrix.Boost(c.d, c.f); math.Abs(float64(got-c.want)) > 1e-6 {
			t.Errorf("Boost(%v, %v) = %v, want %v", c.d, c.f, got, c.want)
		}
	}
}

// TestPlaybook_BadInput checks that mistakes are the caller's errors,
// per entry, and that one bad entry leaves the others recorded.
func TestPlaybook_BadInput(t *testing.T) {
	mx, m := playbookFixture(t, nil)
	m.Create(context.Background(), "playbook_l2", vector.Spec{Dim: dims, Metric: vector.L2, Model: "fake-1"})
	ok := matrix.PlaybookEntry{Query: "q", AnswerID: "a", AnswerCorpus: "docs", Score: 1}
	with := func(f func(*matrix.PlaybookEntry)) matrix.PlaybookEntry { e := ok; f(&e); return e }
	cases := []struct {
		e    matrix.PlaybookEntry
		kind *errs.Kind
		want string
	}{
		{with(func(e *matrix.PlaybookEntry) { e.Score = 1.5 }), errs.Invalid, "score = 1.5"},
		{with(func(e *matrix.PlaybookEntry) { e.Score = -0.1 }), errs.Invalid, "score = -0.1"},
		{with(func(e *matrix.PlaybookEntry) { e.Score = math.NaN() }), errs.Invalid, "score = NaN"},
		{with(func(e *matrix.PlaybookEntry) { e.Query = "  " }), errs.Invalid, "query_text is empty"},
		{with(func(e *matrix.PlaybookEntry) { e.AnswerCorpus = "nope" }), errs.NotFound, `"nope" not found`},
		{with(func(e *matrix.PlaybookEntry) { e.AnswerID = "zz" }), errs.NotFound, `holds no item "zz"`},
		{with(func(e *matrix.PlaybookEntry) { e.AnswerID = "" }), errs.Invalid, "answer_id"},
		{with(func(e *matrix.PlaybookEntry) { e.Corpus = "mine" }), errs.Invalid, `begins with "playbook_"`},
		{with(func(e *matrix.PlaybookEntry) { e.Corpus = "playbook_l2" }), errs.Invalid, "not a playbook"},
		{with(func(e *matrix.PlaybookEntry) { e.AnswerCorpus = "playbook_l2" }), errs.Invalid, "is a playbook"},
		{with(func(e *matrix.PlaybookEntry) { e.Tags = []string{""} }), errs.Invalid, "tag"},
	}
	entries := []matrix.PlaybookEntry{ok}
	for _, c := range cases {
		entries = append(entries, c.e)
	}
	res, err := mx.Record(context.Background(), entries)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Errorf("good entry: %v", res[0].Err)
	}
	for i, c := range cases {
		if err := res[i+1].Err; !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("entry %+v: %v, want a %v error mentioning %q", c.e, err, c.kind, c.want)
		}
	}
	if info, _ := m.Info(matrix.DefaultPlaybookCorpus); info.Count != 1 {
		t.Errorf("%d entries written, want the good one", info.Count)
	}
	if _, err := mx.Record(context.Background(), nil); !errors.Is(err, errs.Invalid) {
		t.Errorf("no entries: %v", err)
	}
	for _, q := range []matrix.Query{
		{Text: "q", PlaybookCorpus: "playbook_memory"},
		{Text: "q", UsePlaybook: true, PlaybookCorpus: "docs"},
	} {
		if _, err := mx.Search(context.Background(), q); !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "playbook") {
			t.Errorf("Search(%+v): %v", q, err)
		}
	}
	if _, err := mx.Search(context.Background(), matrix.Query{Text: "q", Mode: vector.Dense, UsePlaybook: true, PlaybookCorpus: "playbook_l2"}); !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "without use_playbook") {
		t.Errorf("search with a playbook that is not one: %v", err)
	}
}

// TestPlaybookConfig_Validate checks that bad settings name key and value.
func TestPlaybookConfig_Validate(t *testing.T) {
	if err := (matrix.PlaybookConfig{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, c := range []struct {
		cfg  matrix.PlaybookConfig
		want string
	}{
		{matrix.PlaybookConfig{Corpus: "memory"}, `corpus = "memory"`},
		{matrix.PlaybookConfig{BoostDistance: -1}, "boost_distance = -1"},
		{matrix.PlaybookConfig{BoostDistance: 3}, "boost_distance = 3"},
		{matrix.PlaybookConfig{InjectDistance: 0.6}, "inject_distance = 0.6"},
		{matrix.PlaybookConfig{InjectDistance: -0.1}, "inject_distance = -0.1"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// brokenWrites is Corpora whose Upsert fails, as a full disk would.
type brokenWrites struct{ matrix.Corpora }

func (brokenWrites) Upsert(context.Context, string, []vector.Item) (int, error) {
	return 0, errors.New("write log: no space left on device")
}

// TestPlaybook_WriteFails checks that a playbook that cannot be written
// fails Record and Fold with the cause, as a fault (no caller's kind), and
// leaves no entry.
func TestPlaybook_WriteFails(t *testing.T) {
	_, m := playbookFixture(t, nil)
	mx := &matrix.Matrix{Corpora: brokenWrites{m}, Embedder: &fakeEmbedder{}}
	_, err := mx.Fold(context.Background(), matrix.Outcome{Query: "q", AnswerID: "a", AnswerCorpus: "docs", Success: true})
	if err == nil || errs.KindOf(err) != nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), matrix.DefaultPlaybookCorpus) {
		t.Errorf("Fold: %v (kind %v), want the write's fault naming the playbook", err, errs.KindOf(err))
	}
	if _, err := mx.Record(context.Background(), []matrix.PlaybookEntry{{Query: "q", AnswerID: "a", AnswerCorpus: "docs", Score: 1}}); err == nil {
		t.Error("Record with a failing write succeeded")
	}
	if info, _ := m.Info(matrix.DefaultPlaybookCorpus); info.Count != 0 {
		t.Errorf("%d entries after failed writes", info.Count)
	}
}
