package matrix

import (
	"math"
	"testing"

	"lakehouse/backends/vector"
)

func scoredHits(scores ...float32) []vector.Hit {
	out := make([]vector.Hit, len(scores))
	for i, s := range scores {
		out[i] = vector.Hit{ID: string(rune('1' + i)), Score: s, Distance: 1 - s}
	}
	return out
}

type mergedWant struct {
	key    string // corpus + id
	merged float64
}

func checkMerged(t *testing.T, got []Hit, wants []mergedWant) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%d hits, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		h := got[i]
		if h.Corpus+h.ID != w.key || math.Abs(h.Merged-w.merged) > 1e-6 || h.Rank != i+1 {
			t.Errorf("hit %d = %s%s merged %v rank %d, want %s merged %v rank %d", i, h.Corpus, h.ID, h.Merged, h.Rank, w.key, w.merged, i+1)
		}
	}
}

// TestMerge_RRF checks reciprocal rank fusion against ranks worked out by
// hand: 1/(60 + rank in the corpus), ties in the order of the corpora, cut
// at k.
func TestMerge_RRF(t *testing.T) {
	lists := []ranked{
		{corpus: "a", hits: scoredHits(0.9, 0.8, 0.7)},
		{corpus: "b", hits: scoredHits(-5, -6)}, // scores of another metric play no part
		{corpus: "c", hits: scoredHits(0.1)},
	}
	checkMerged(t, merge(MergeRRF, lists, 5), []mergedWant{
		{"a1", 1.0 / 61}, {"b1", 1.0 / 61}, {"c1", 1.0 / 61}, {"a2", 1.0 / 62}, {"b2", 1.0 / 62},
	})
}

// TestMerge_Weighted checks weighted merging on numbers worked out by hand:
// weight × (score − min)/(max − min) within each corpus, a corpus of one
// hit (max = min) scoring its full weight.
func TestMerge_Weighted(t *testing.T) {
	lists := []ranked{
		{corpus: "a", weight: 2, hits: scoredHits(0.9, 0.5, 0.1)}, // 2, 1, 0
		{corpus: "b", weight: 1, hits: scoredHits(-1, -3)},        // 1, 0 (l2: score = -distance)
		{corpus: "c", weight: 0.5, hits: scoredHits(0.3)},         // 0.5
	}
	checkMerged(t, merge(MergeWeighted, lists, 10), []mergedWant{
		{"a1", 2}, {"a2", 1}, {"b1", 1}, {"c1", 0.5}, {"a3", 0}, {"b2", 0},
	})
}

// TestMerge_Distance checks that a distance merge sorts by distance
// across corpora and scores each hit with its own score.
func TestMerge_Distance(t *testing.T) {
	lists := []ranked{
		{corpus: "a", hits: scoredHits(0.9, 0.4)},
		{corpus: "b", hits: scoredHits(0.95, 0.5, 0.2)},
	}
	checkMerged(t, merge(MergeDistance, lists, 4), []mergedWant{
		{"b1", float64(float32(0.95))}, {"a1", float64(float32(0.9))}, {"b2", 0.5}, {"a2", float64(float32(0.4))},
	})
}
