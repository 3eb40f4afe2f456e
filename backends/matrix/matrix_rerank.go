package matrix

// Reranking by relevance: Query.Rerank.
//
// A search asks relevance to the file under review of the hits it merged,
// with the Scorer of score_relevance: each hit is a Chunk whose text is the
// hit's text, whose doc_id is its id, and whose source is the path its
// metadata holds under "path" (where code corpora keep the file a chunk
// came from) or, failing that, its corpus's name. Hits below the threshold
// are dropped, the rest ordered by relevance, equal ones in the merged
// order, and the first K kept.
//
// Retrieval ranks by how well a hit matches the query; relevance, by how
// much it has to do with one file. The two disagree often, and the
// threshold drops what mentions neither the file, nor its symbols, nor
// enough of its words, so the merge keeps RerankFactor × K hits for the
// rerank to choose from and each corpus is asked for as many (any one of
// them could hold the whole pool): K hits survive when a fifth of the pool
// does.

import (
	"cmp"
	"context"
	"math"
	"slices"

	"lakehouse/backends/errs"
)

// RerankFactor is how many times K hits a reranked search merges (at most
// vector.MaxK), and asks each corpus for unless Query.PerCorpusK says.
const RerankFactor = 5

// MetaPath is the metadata key whose text a rerank takes as a hit's source
// path.
const MetaPath = "path"

// A Rerank orders the hits of a search by their relevance to Focus.
type Rerank struct {
	Focus     Focus
	Threshold *float64 // hits scoring below it are dropped; nil means DefaultThreshold
}

// RerankUse tells what a rerank did.
type RerankUse struct {
	Threshold  float64
	Candidates int // merged hits it scored
	Dropped    int // of which scored below Threshold
}

// reranker applies one Query's Rerank. The nil reranker only cuts to K.
type reranker struct {
	scorer    *Scorer
	threshold float64
	scores    map[string]scoredHit // by corpus and id: a search with a playbook ranks twice
	last      RerankUse
}

type scoredHit struct {
	relevance float64
	reasons   []Reason
}

// newReranker checks r and returns its reranker, or nil when r is.
func newReranker(r *Rerank) (*reranker, error) {
	if r == nil {
		return nil, nil
	}
	threshold := DefaultThreshold
	if r.Threshold != nil {
		threshold = *r.Threshold
	}
	if math.IsNaN(threshold) || threshold < MinRelevance || threshold > MaxRelevance {
		return nil, errs.New(errs.Invalid, "rerank.relevance.threshold = %v: give %v to %v, the lowest and highest relevance a hit can score, or leave it out for %v", threshold, MinRelevance, MaxRelevance, DefaultThreshold)
	}
	s, err := NewScorer(r.Focus)
	if err != nil {
		return nil, errs.New(errs.KindOf(err), "rerank.relevance: %w", err)
	}
	return &reranker{scorer: s, threshold: threshold, scores: map[string]scoredHit{}}, nil
}

// rerank scores hits, best first as merged, keeps those at or above the
// threshold ordered by relevance, cuts them to k and numbers their ranks.
func (rr *reranker) rerank(ctx context.Context, hits []Hit, k int) ([]Hit, error) {
	if rr != nil {
		kept := hits[:0]
		for _, h := range hits {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s := rr.score(h)
			if s.relevance < rr.threshold {
				continue
			}
			h.Relevance, h.Reasons = &s.relevance, s.reasons
			kept = append(kept, h)
		}
		rr.last = RerankUse{Threshold: rr.threshold, Candidates: len(hits), Dropped: len(hits) - len(kept)}
		slices.SortStableFunc(kept, func(a, b Hit) int { return cmp.Compare(*b.Relevance, *a.Relevance) })
		hits = kept
	}
	hits = hits[:min(k, len(hits))]
	for i := range hits {
		hits[i].Rank = i + 1
	}
	return hits, nil
}

// score returns the relevance of h, computing it once per hit.
func (rr *reranker) score(h Hit) scoredHit {
	key := h.Corpus + ":" + h.ID
	if s, ok := rr.scores[key]; ok {
		return s
	}
	source := h.Corpus
	if p, ok := h.Metadata[MetaPath].(string); ok && p != "" {
		source = p
	}
	var s scoredHit
	s.relevance, s.reasons = rr.scorer.Score(Chunk{Source: source, DocID: h.ID, Text: h.Text})
	rr.scores[key] = s
	return s
}

// use returns what the last rerank did, or nil without one.
func (rr *reranker) use() *RerankUse {
	if rr == nil {
		return nil
	}
	u := rr.last
	return &u
}
