package pathway_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
)

var modes = []pathway.Mode{pathway.Dense, pathway.Lexical, pathway.Hybrid}

// modeTraces are texts of agent traces, each with a query that finds it in
// one mode and not in another.
var modeTraces = []string{
	"rustc failed with error E0425: cannot find value in this scope",
	"rustc failed with error E0308: mismatched types in this function",
	"the physician prescribed medicine for the fever",
	"postgres refused the connection because the pool was exhausted",
	"retried the upload to the bucket and it worked after a pause",
}

// mustOpenDefault opens the memory in a temporary folder with the default
// embedder, whose word vectors know that a doctor is a physician.
func mustOpenDefault(t *testing.T) *pathway.Pathway {
	t.Helper()
	emb, err := embed.New(embed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pathway.Open(t.TempDir(), emb, pathway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSearch_Modes(t *testing.T) {
	p := mustOpenDefault(t)
	var tr []pathway.Trace
	for _, text := range modeTraces {
		tr = append(tr, mustAdd(t, p, `{}`, text, "note"))
	}
	search := func(q string, m pathway.Mode) pathway.SearchResult {
		t.Helper()
		return mustSearch(t, p, pathway.SearchOptions{Query: q, Mode: m})
	}

	// An exact error code: lexical finds that trace alone, not its
	// neighbour with another code.
	if got := uids(search("E0425", pathway.Lexical)); !slices.Equal(got, []string{tr[0].UID}) {
		t.Errorf("lexical E0425 = %v; want only %s", got, tr[0].UID)
	}
	// A paraphrase without a shared word: lexical finds nothing, dense
	// finds it by meaning.
	if got := uids(search("doctor gave drugs", pathway.Lexical)); len(got) != 0 {
		t.Errorf("lexical found %v for words no trace holds", got)
	}
	if got := uids(search("doctor gave drugs", pathway.Dense)); len(got) == 0 || got[0] != tr[2].UID {
		t.Errorf("dense paraphrase = %v; want %s first", got, tr[2].UID)
	}
	// Hybrid finds both, and typos too.
	for q, want := range map[string]string{"E0425": tr[0].UID, "doctor gave drugs": tr[2].UID, "conection refused by postgers": tr[3].UID} {
		if got := uids(search(q, pathway.Hybrid)); len(got) == 0 || got[0] != want {
			t.Errorf("hybrid %q = %v; want %s first", q, got, want)
		}
	}

	// The default mode is hybrid: the same traces with the same scores.
	def, hyb := search("upload retry", ""), search("upload retry", pathway.Hybrid)
	if asJSON(t, def) != asJSON(t, hyb) {
		t.Errorf("default mode:\n %s\nhybrid:\n %s", asJSON(t, def), asJSON(t, hyb))
	}

	for _, opts := range []pathway.SearchOptions{
		{Query: "upload", Mode: "fuzzy"},
		{Query: "upload", MinScore: new(math.NaN())},
		{Query: "upload", MinScore: new(math.Inf(1))},
		{Query: "??", Mode: pathway.Lexical},
	} {
		if _, err := p.Search(ctx, opts); !errors.Is(err, errs.Invalid) {
			t.Errorf("search %+v: %v; want an invalid-input error", opts, err)
		}
	}
}

func TestSearch_MinScore(t *testing.T) {
	p := mustOpenDefault(t)
	for _, text := range modeTraces {
		mustAdd(t, p, `{}`, text, "note")
	}
	for _, m := range modes {
		all := mustSearch(t, p, pathway.SearchOptions{Query: "rustc error E0425", Mode: m})
		if len(all.Traces) < 2 {
			t.Fatalf("%s: %d traces; want the two rustc ones at least", m, len(all.Traces))
		}
		// Halfway between the best score and the next: the best alone stays.
		min := (all.Traces[0].Score + all.Traces[1].Score) / 2
		got := mustSearch(t, p, pathway.SearchOptions{Query: "rustc error E0425", Mode: m, MinScore: &min})
		if len(got.Traces) != 1 || got.Traces[0].UID != all.Traces[0].UID || got.Traces[0].Score != all.Traces[0].Score {
			t.Errorf("%s, min_score %.3f: %v; want %s alone, from %v", m, min, uids(got), all.Traces[0].UID, uids(all))
		}
	}
}

// TestSearch_Tags: a query word among a trace's tags raises it in every
// mode, though the index matches texts only.
func TestSearch_Tags(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	redis := mustAdd(t, p, `{}`, "the connection timed out after thirty seconds", "redis")
	pg := mustAdd(t, p, `{}`, "the connection timed out after thirty seconds", "postgres")
	for _, m := range modes {
		got := uids(mustSearch(t, p, pathway.SearchOptions{Query: "postgres connection timed out", Mode: m}))
		if !slices.Equal(got, []string{pg.UID, redis.UID}) {
			t.Errorf("%s: %v; want the postgres trace, then the redis one", m, got)
		}
	}
}

// TestSearch_ModesPagesAndFilters: paging, filters and reading one's own
// writes hold in every mode.
func TestSearch_ModesPagesAndFilters(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	var page []pathway.Trace
	for i := range 23 {
		page = append(page, mustAdd(t, p, fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf("note number %d about pagination", i), "page"))
	}
	other := mustAdd(t, p, `{}`, "a pagination note of another kind", "other")
	for _, m := range modes {
		opts := pathway.SearchOptions{Query: "pagination note", Mode: m, TagsAll: []string{"page"}, Limit: 5}
		got, pages := searchAll(t, p, opts)
		slices.Sort(got)
		if pages != 5 || len(slices.Compact(got)) != 23 || slices.Contains(got, other.UID) {
			t.Errorf("%s: %d distinct traces in %d pages; want the 23 page traces in 5", m, len(slices.Compact(got)), pages)
		}
		// A cursor belongs to its mode.
		res := mustSearch(t, p, opts)
		for _, m2 := range modes {
			if m2 == m {
				continue
			}
			o := opts
			o.Mode, o.Cursor = m2, res.NextCursor
			if _, err := p.Search(ctx, o); !errors.Is(err, errs.Invalid) {
				t.Errorf("a %s cursor in mode %s: %v", m, m2, err)
			}
		}
		// Time filters.
		got = uids(mustSearch(t, p, pathway.SearchOptions{Query: "pagination note", Mode: m, CreatedAfter: page[21].CreatedAt, Limit: 50}))
		slices.Sort(got)
		want := []string{page[22].UID, other.UID}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s, created after the 22nd: %v; want %v", m, got, want)
		}
	}
	// A trace is found in every mode right after it is acknowledged.
	for i, m := range modes {
		tr := mustAdd(t, p, `{}`, fmt.Sprintf("fresh trace Z%d9 just written", i), "fresh")
		if got := uids(mustSearch(t, p, pathway.SearchOptions{Query: fmt.Sprintf("Z%d9 fresh", i), Mode: m})); len(got) == 0 || got[0] != tr.UID {
			t.Errorf("%s right after add: %v; want %s first", m, got, tr.UID)
		}
	}
	// Retired traces stay out of every mode.
	if _, err := p.Retire(ctx, page[0].UID, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		got := uids(mustSearch(t, p, pathway.SearchOptions{Query: "note number 0 about pagination", Mode: m, Limit: 50}))
		if slices.Contains(got, page[0].UID) {
			t.Errorf("%s found a retired trace", m)
		}
	}
}
