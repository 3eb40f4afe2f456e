package matrix

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/vector"
)

// TestRerank checks a rerank of hand-made merged hits: each scored as a
// chunk (source: metadata path, else corpus; doc_id: id), those under the
// threshold dropped, the rest by relevance with ties in the merged order,
// cut to k, ranks renumbered, reasons adding up to relevance.
func TestRerank(t *testing.T) {
	rr, err := newReranker(&Rerank{Focus: Focus{Path: "backends/matrix/gate.go", DefinedSymbols: []string{"NewGate"}}})
	if err != nil {
		t.Fatal(err)
	}
	hit := func(corpus, id, text string, meta map[string]any) Hit {
		return Hit{Corpus: corpus, Hit: vector.Hit{ID: id, Text: text, Metadata: meta}}
	}
	merged := []Hit{
		hit("a", "1", "unrelated words here", nil),
		hit("a", "2", "call NewGate first", nil),
		hit("b", "2", "call NewGate first", nil),
		hit("code", "9", "zzz", map[string]any{"path": "backends/matrix/gate.go"}),
		hit("docs", "backends/matrix/gate.go#L3", "qqq", nil),
		hit("x", "3", "yyy", map[string]any{"path": "backends/matrix/other.go"}),
	}
	got, err := rr.rerank(context.Background(), slices.Clone(merged), 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key, signal, detail string
	}{
		{"code:9", SignalNamesPath, "source backends/matrix/gate.go"},
		{"docs:backends/matrix/gate.go#L3", SignalNamesPath, "doc_id backends/matrix/gate.go#L3"},
		{"a:2", SignalDefinesSymbol, "NewGate"},
		{"b:2", SignalDefinesSymbol, "NewGate"}, // a tie with a:2: the merged order
		{"x:3", SignalSameArea, "source backends/matrix/other.go"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d hits kept, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		h := got[i]
		if h.Corpus+":"+h.ID != w.key || h.Rank != i+1 || h.Relevance == nil || len(h.Reasons) == 0 ||
			h.Reasons[0].Signal != w.signal || !strings.Contains(h.Reasons[0].Detail, w.detail) {
			t.Errorf("hit %d = %s:%s rank %d reasons %+v; want %s, rank %d, first reason %s with %q", i, h.Corpus, h.ID, h.Rank, h.Reasons, w.key, i+1, w.signal, w.detail)
			continue
		}
		var sum float64
		for _, r := range h.Reasons {
			sum += r.Weight
		}
		if math.Abs(sum-*h.Relevance) > 1e-9 || *h.Relevance < DefaultThreshold || i > 0 && *h.Relevance > *got[i-1].Relevance {
			t.Errorf("hit %s: relevance %v, reasons sum %v, in descending order from %v", w.key, *h.Relevance, sum, DefaultThreshold)
		}
	}
	if *got[2].Relevance != *got[3].Relevance {
		t.Errorf("equal texts score %v and %v", *got[2].Relevance, *got[3].Relevance)
	}
	if u := rr.use(); *u != (RerankUse{Threshold: DefaultThreshold, Candidates: 6, Dropped: 1}) {
		t.Errorf("use %+v", u)
	}

	// Cut to k; a second ranking of the same hits reuses their scores.
	got, _ = rr.rerank(context.Background(), slices.Clone(merged), 2)
	if len(got) != 2 || got[1].Rank != 2 || len(rr.scores) != len(merged) {
		t.Errorf("k 2: %d hits, %d scored", len(got), len(rr.scores))
	}
	// A threshold below every score keeps all, in relevance order.
	low := MinRelevance
	rr, _ = newReranker(&Rerank{Focus: Focus{Path: "backends/matrix/gate.go"}, Threshold: &low})
	if got, _ = rr.rerank(context.Background(), slices.Clone(merged), 10); len(got) != 6 || got[5].Corpus+":"+got[5].ID != "a:1" {
		t.Errorf("threshold %v: %d hits, last %+v", low, len(got), got[len(got)-1])
	}
	// Without a rerank, hits are only cut and numbered.
	var none *reranker
	if got, _ = none.rerank(context.Background(), slices.Clone(merged), 3); len(got) != 3 || got[2].Rank != 3 || got[0].Relevance != nil || none.use() != nil {
		t.Errorf("no rerank: %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rr.rerank(ctx, slices.Clone(merged), 3); err == nil {
		t.Error("rerank under a cancelled context succeeded")
	}
}
