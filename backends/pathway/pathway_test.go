package pathway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
)

func TestPathway_ReviseHistory(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	a := mustAdd(t, p, `{"step":1}`, "load the sales csv", "csv")
	b, err := p.Revise(ctx, a.UID, json.RawMessage(`{"step":2}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.PredecessorUID != a.UID || b.Text != a.Text || !slices.Equal(b.Tags, a.Tags) {
		t.Fatalf("revision %+v does not link to %s or inherit its text and tags", b, a.UID)
	}
	if got := mustGet(t, p, a.UID); got.SuccessorUID != b.UID || got.State() != pathway.StateSuperseded {
		t.Fatalf("predecessor after revise: %+v", got)
	}
	c, err := p.Revise(ctx, b.UID, json.RawMessage(`{"step":3}`), strp("load sales with ; delimiter"), []string{"csv", "fixed"})
	if err != nil {
		t.Fatal(err)
	}

	// Only the tip can be revised or updated; the error names the successor.
	_, err = p.Revise(ctx, a.UID, json.RawMessage(`{}`), nil, nil)
	if !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), b.UID) {
		t.Fatalf("revise of a superseded trace: %v; want a conflict naming %s", err, b.UID)
	}
	_, err = p.Update(ctx, b.UID, nil, strp("x"), nil)
	if !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), c.UID) {
		t.Fatalf("update of a superseded trace: %v; want a conflict naming %s", err, c.UID)
	}

	for i, asked := range []string{a.UID, b.UID, c.UID} {
		h, err := p.History(ctx, asked)
		if err != nil {
			t.Fatal(err)
		}
		if h.UID != asked || h.TipUID != c.UID || len(h.Traces) != 3 {
			t.Fatalf("history of %s: %+v", asked, h)
		}
		for j, want := range []string{a.UID, b.UID, c.UID} {
			if h.Traces[j].UID != want || h.Traces[j].Asked != (i == j) {
				t.Fatalf("history of %s, entry %d: uid %s asked %v", asked, j, h.Traces[j].UID, h.Traces[j].Asked)
			}
		}
	}
	st, err := p.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 3 || st.Active != 1 || st.Superseded != 2 || st.Retired != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if st.TopTags[0] != (pathway.TagCount{Tag: "csv", Count: 3}) || st.TopTags[1] != (pathway.TagCount{Tag: "fixed", Count: 1}) {
		t.Fatalf("top tags: %+v", st.TopTags)
	}

	// Retired tips cannot be revised either.
	if _, err := p.Retire(ctx, c.UID, "obsolete"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Revise(ctx, c.UID, json.RawMessage(`{}`), nil, nil); !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("revise of a retired trace: %v", err)
	}
}

func TestPathway_AddReplay(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	fresh := mustAdd(t, p, `"hello"`, "")
	if u, err := uuid.Parse(fresh.UID); err != nil || u.Version() != 4 {
		t.Fatalf("generated uid %q is not a v4 uuid: %v", fresh.UID, err)
	}
	first, replayed, err := p.Add(ctx, json.RawMessage(`{"v": 1}`), "first", []string{"a"}, "run-42")
	if err != nil || replayed || first.UID != "run-42" || string(first.Content) != `{"v":1}` {
		t.Fatalf("add with uid: %+v replayed=%v %v", first, replayed, err)
	}
	for i := 1; i <= 2; i++ {
		again, replayed, err := p.Add(ctx, json.RawMessage(`{"v": 2}`), "second", nil, "run-42")
		if err != nil || !replayed {
			t.Fatalf("replay %d: replayed=%v %v", i, replayed, err)
		}
		if again.ReplayCount != i || string(again.Content) != `{"v":1}` || again.Text != "first" {
			t.Fatalf("replay %d changed the trace or miscounted: %+v", i, again)
		}
	}
	if got := mustGet(t, p, "run-42"); got.ReplayCount != 2 {
		t.Fatalf("replay_count %d, want 2", got.ReplayCount)
	}
}

func TestPathway_Retire(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	keep := mustAdd(t, p, `{}`, "parquet export keeps column types")
	gone := mustAdd(t, p, `{}`, "parquet export loses column types")
	r, err := p.Retire(ctx, gone.UID, "wrong")
	if err != nil || !r.Retired || r.RetiredReason != "wrong" || r.State() != pathway.StateRetired {
		t.Fatalf("retire: %+v %v", r, err)
	}
	if again, err := p.Retire(ctx, gone.UID, "other"); err != nil || again.RetiredReason != "wrong" {
		t.Fatalf("retiring twice: %+v %v", again, err)
	}
	if got := mustGet(t, p, gone.UID); !got.Retired {
		t.Fatalf("get after retire: %+v", got)
	}
	if h, err := p.History(ctx, gone.UID); err != nil || len(h.Traces) != 1 || !h.Traces[0].Retired {
		t.Fatalf("history after retire: %+v %v", h, err)
	}
	for _, q := range []string{"", "parquet export column types"} {
		if got := uids(mustSearch(t, p, pathway.SearchOptions{Query: q})); !slices.Equal(got, []string{keep.UID}) {
			t.Fatalf("search %q: %v; want only %s", q, got, keep.UID)
		}
		got := uids(mustSearch(t, p, pathway.SearchOptions{Query: q, IncludeRetired: true}))
		if len(got) != 2 || !slices.Contains(got, gone.UID) {
			t.Fatalf("search %q with retired: %v", q, got)
		}
	}
	if _, err := p.Update(ctx, gone.UID, nil, strp("x"), nil); !errors.Is(err, errs.Conflict) {
		t.Fatalf("update of a retired trace: %v", err)
	}
	if _, err := p.Retire(ctx, "nope", ""); !errors.Is(err, errs.NotFound) {
		t.Fatalf("retire of an unknown trace: %v", err)
	}
}

func TestPathway_Update(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	tr := mustAdd(t, p, `{"a":1}`, "duckdb query timed out", "sql")
	time.Sleep(time.Millisecond)
	up, err := p.Update(ctx, tr.UID, nil, strp("duckdb query needs a limit"), []string{})
	if err != nil {
		t.Fatal(err)
	}
	if string(up.Content) != `{"a":1}` || up.Text != "duckdb query needs a limit" || len(up.Tags) != 0 || !up.UpdatedAt.After(up.CreatedAt) {
		t.Fatalf("update: %+v", up)
	}
	// The index follows: the new words find it, and a filter on the old tag does not.
	res := mustSearch(t, p, pathway.SearchOptions{Query: "needs a limit"})
	if len(res.Traces) != 1 || res.Traces[0].UID != tr.UID {
		t.Fatalf("search after update: %v", uids(res))
	}
	if res := mustSearch(t, p, pathway.SearchOptions{Query: "duckdb", TagsAll: []string{"sql"}}); len(res.Traces) != 0 {
		t.Fatalf("old tag still matches: %v", uids(res))
	}
	if _, err := p.Update(ctx, tr.UID, nil, nil, nil); !errors.Is(err, errs.Invalid) {
		t.Fatalf("empty update: %v", err)
	}
}

// corpus adds traces about different things and returns them by name.
func corpus(t *testing.T, p *pathway.Pathway) map[string]pathway.Trace {
	t.Helper()
	m := map[string]pathway.Trace{}
	add := func(name, text string, tags ...string) {
		m[name] = mustAdd(t, p, fmt.Sprintf(`{"name":%q}`, name), text, tags...)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	add("csv", "ingesting the sales CSV needs the semicolon delimiter", "ingest", "csv")
	add("parquet", "parquet files keep column types across exports", "ingest", "parquet")
	add("timeout", "long SQL queries time out after thirty seconds; add a limit", "sql")
	add("vector", "cosine search over embeddings returns nearest neighbours", "vector", "search")
	add("s3", "object storage uploads retry on throttling errors", "storage")
	return m
}

func TestPathway_SearchQuery(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	c := corpus(t, p)
	res := mustSearch(t, p, pathway.SearchOptions{Query: "sales csv delimiter"})
	if len(res.Traces) == 0 || res.Traces[0].UID != c["csv"].UID {
		t.Fatalf("query for the csv trace ranked %v first", uids(res))
	}
	if res.Traces[0].Score <= 0.2 {
		t.Fatalf("score %v of an exact match is low", res.Traces[0].Score)
	}
	res = mustSearch(t, p, pathway.SearchOptions{Query: "sql queries time out"})
	if res.Traces[0].UID != c["timeout"].UID {
		t.Fatalf("query for the timeout trace ranked %v first", uids(res))
	}
	// A trace without text is found by its content.
	raw := mustAdd(t, p, `{"note":"zebra crossing at the warehouse"}`, "")
	if res := mustSearch(t, p, pathway.SearchOptions{Query: "zebra warehouse"}); res.Traces[0].UID != raw.UID {
		t.Fatalf("query for content words ranked %v first", uids(res))
	}

	only := func(opts pathway.SearchOptions, want ...string) {
		t.Helper()
		got := uids(mustSearch(t, p, opts))
		var wantUIDs []string
		for _, w := range want {
			wantUIDs = append(wantUIDs, c[w].UID)
		}
		slices.Sort(got)
		slices.Sort(wantUIDs)
		if !slices.Equal(got, wantUIDs) {
			t.Fatalf("search %+v: %v; want %v", opts, got, want)
		}
	}
	for _, q := range []string{"files and data", ""} {
		only(pathway.SearchOptions{Query: q, TagsAll: []string{"ingest", "csv"}}, "csv")
		only(pathway.SearchOptions{Query: q, TagsAll: []string{"ingest"}}, "csv", "parquet")
		only(pathway.SearchOptions{Query: q, TagsAny: []string{"sql", "storage"}}, "timeout", "s3")
		only(pathway.SearchOptions{Query: q, TagsAll: []string{"ingest"}, TagsAny: []string{"parquet", "sql"}}, "parquet")
		only(pathway.SearchOptions{Query: q, TagsAll: []string{"nothing"}})
		only(pathway.SearchOptions{Query: q, CreatedAfter: c["timeout"].CreatedAt, CreatedBefore: c["s3"].CreatedAt}, "vector")
		only(pathway.SearchOptions{Query: q, CreatedBefore: c["parquet"].CreatedAt}, "csv")
	}

	// Superseded traces only when asked for.
	rev, err := p.Revise(ctx, c["vector"].UID, json.RawMessage(`{}`), strp("cosine search over embeddings, filtered"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := uids(mustSearch(t, p, pathway.SearchOptions{Query: "cosine search embeddings"}))
	if got[0] != rev.UID || slices.Contains(got, c["vector"].UID) {
		t.Fatalf("search after revise: %v", got)
	}
	got = uids(mustSearch(t, p, pathway.SearchOptions{Query: "cosine search embeddings", IncludeSuperseded: true}))
	if !slices.Contains(got[:2], c["vector"].UID) || !slices.Contains(got[:2], rev.UID) {
		t.Fatalf("search with superseded: %v", got)
	}
}

func TestPathway_SearchPages(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{})
	var want []string
	for i := range 23 {
		tr := mustAdd(t, p, fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf("note number %d about pagination", i), "page")
		want = append(want, tr.UID)
	}
	mustAdd(t, p, `{}`, "unrelated", "other")
	for _, q := range []string{"", "pagination note"} {
		got, pages := searchAll(t, p, pathway.SearchOptions{Query: q, TagsAll: []string{"page"}, Limit: 5})
		if pages != 5 || len(got) != 23 {
			t.Fatalf("query %q: %d traces in %d pages; want 23 in 5", q, len(got), pages)
		}
		seen := map[string]bool{}
		for _, u := range got {
			if seen[u] {
				t.Fatalf("query %q returned %s twice", q, u)
			}
			seen[u] = true
		}
	}
	// Without a query: newest first.
	got, _ := searchAll(t, p, pathway.SearchOptions{TagsAny: []string{"page"}, Limit: 7})
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if !slices.Equal(got, rev) {
		t.Fatalf("listing is not newest first:\n got %v\nwant %v", got, rev)
	}
	// A cursor belongs to its search.
	res := mustSearch(t, p, pathway.SearchOptions{Limit: 2})
	if _, err := p.Search(ctx, pathway.SearchOptions{Limit: 2, Query: "x", Cursor: res.NextCursor}); !errors.Is(err, errs.Invalid) {
		t.Fatalf("cursor of another search: %v", err)
	}
	if _, err := p.Search(ctx, pathway.SearchOptions{Cursor: "%%%"}); !errors.Is(err, errs.Invalid) {
		t.Fatalf("malformed cursor: %v", err)
	}
	if res := mustSearch(t, p, pathway.SearchOptions{Limit: 1000}); len(res.Traces) != 24 {
		t.Fatalf("limit over the maximum: %d traces", len(res.Traces))
	}
}
