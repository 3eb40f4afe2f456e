package matrix

import (
	"cmp"
	"slices"

	"lakehouse/backends/vector"
)

// Merge names how the hits of several corpora become one ranking, and what
// a merged score ([Hit.Merged]) is.
//
// MergeDistance sorts every hit by its distance, as if the corpora were one
// index; the merged score is the hit's own score in its corpus (cosine
// similarity, dot product, or -distance for l2). Distances of different
// metrics, or of vectors from different models, do not compare, so it is
// refused unless every corpus shares metric and model.
//
// MergeRRF is reciprocal rank fusion: a hit scores Σ 1/([RRFK] + rank) over
// the ranked lists it appears in, rank counting from 1. A hit belongs to one
// corpus, and each corpus gives one list, so its score is 1/(RRFK + its rank
// in its corpus): the corpora are interleaved by rank, whatever their
// metrics and models, which is why it is the default when those differ.
//
// MergeWeighted gives each corpus a weight (1 unless told) and scores a hit
// weight × (score − min) / (max − min), min and max being the lowest and
// highest score among the hits its corpus returned (1 when they are equal).
// Min-max normalisation puts every corpus on 0..1 whatever its metric (cosine
// in −1..1, dot unbounded, l2 negative), so that the weights alone say how
// much each corpus counts: each corpus's best hit scores its weight, its
// worst 0. Dividing by the best score would break on negative scores, and a
// z-score needs more hits than a short list holds. The scale is relative to
// what came back, so a corpus with only weak matches still has a hit scoring
// its full weight: set MinScore to leave weak hits out first.
//
// Ties keep the order of the corpora in the query, then each corpus's own
// order.
type Merge string

// The merges.
const (
	MergeDistance Merge = "distance"
	MergeRRF      Merge = "rrf"
	MergeWeighted Merge = "weighted"
)

// RRFK is the constant of reciprocal rank fusion: larger values flatten the
// advantage of the first ranks. 60 is the value of Cormack et al. (2009).
const RRFK = 60

// ranked is the hits of one corpus, best first, with its weight.
type ranked struct {
	corpus string
	hits   []vector.Hit
	weight float64
}

// merge ranks the hits of lists by how and keeps the best k.
func merge(how Merge, lists []ranked, k int) []Hit {
	var all []Hit
	for _, l := range lists {
		lo, hi := scoreRange(l.hits)
		for i, h := range l.hits {
			hit := Hit{Corpus: l.corpus, Hit: h}
			switch how {
			case MergeDistance:
				hit.Merged = float64(h.Score)
			case MergeRRF:
				hit.Merged = 1 / float64(RRFK+i+1)
			case MergeWeighted:
				hit.Merged = l.weight
				if hi > lo {
					hit.Merged *= (float64(h.Score) - lo) / (hi - lo)
				}
			}
			all = append(all, hit)
		}
	}
	if how == MergeDistance {
		slices.SortStableFunc(all, func(a, b Hit) int { return cmp.Compare(a.Distance, b.Distance) })
	} else {
		slices.SortStableFunc(all, func(a, b Hit) int { return cmp.Compare(b.Merged, a.Merged) })
	}
	all = all[:min(k, len(all))]
	for i := range all {
		all[i].Rank = i + 1
	}
	return all
}

// scoreRange returns the lowest and highest score of hits.
func scoreRange(hits []vector.Hit) (lo, hi float64) {
	for i, h := range hits {
		s := float64(h.Score)
		if i == 0 || s < lo {
			lo = s
		}
		if i == 0 || s > hi {
			hi = s
		}
	}
	return lo, hi
}
