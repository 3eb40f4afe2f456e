package pathway_test

import (
	"context"
	"encoding/json"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/pathway"
)

// hashEmbedder adapts the offline hash provider to pathway.Embedder.
type hashEmbedder struct{ embed.Provider }

func (h hashEmbedder) Dims(context.Context) (int, error) { return h.Dim(), nil }

var _ pathway.Embedder = hashEmbedder{}

func newEmbedder() pathway.Embedder { return hashEmbedder{embed.NewHash()} }

var ctx = context.Background()

// mustOpen opens the memory in dir, closing it when the test ends.
func mustOpen(t testing.TB, dir string, cfg pathway.Config) *pathway.Pathway {
	t.Helper()
	p, err := pathway.Open(dir, newEmbedder(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustAdd(t testing.TB, p *pathway.Pathway, content, text string, tags ...string) pathway.Trace {
	t.Helper()
	tr, replayed, err := p.Add(ctx, json.RawMessage(content), text, tags, "")
	if err != nil {
		t.Fatal(err)
	}
	if replayed {
		t.Fatalf("a new trace came back as a replay: %+v", tr)
	}
	return tr
}

func mustGet(t testing.TB, p *pathway.Pathway, uid string) pathway.Trace {
	t.Helper()
	tr, err := p.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func mustSearch(t testing.TB, p *pathway.Pathway, opts pathway.SearchOptions) pathway.SearchResult {
	t.Helper()
	res, err := p.Search(ctx, opts)
	if err != nil {
		t.Fatalf("search %+v: %v", opts, err)
	}
	return res
}

func uids(res pathway.SearchResult) []string {
	out := make([]string, len(res.Traces))
	for i, m := range res.Traces {
		out[i] = m.UID
	}
	return out
}

// searchAll follows cursors to the end and returns every uid found.
func searchAll(t testing.TB, p *pathway.Pathway, opts pathway.SearchOptions) (all []string, pages int) {
	t.Helper()
	for {
		res := mustSearch(t, p, opts)
		all = append(all, uids(res)...)
		pages++
		if res.NextCursor == "" {
			return all, pages
		}
		if pages > 1000 {
			t.Fatal("cursor never ends")
		}
		opts.Cursor = res.NextCursor
	}
}

func strp(s string) *string { return &s }

func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
