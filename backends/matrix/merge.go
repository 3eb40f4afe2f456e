package matrix

import (
	"cmp"
	"slices"

	"lakehouse/backends/vector"
)

// Merge names how the hits of several corpora become one ranking, and what
// a merged score ([Hit.Merged]) is.
//
// MergeDistance is one global sort, as if the corpora were one index; the
// merged score is the hit's own score in its corpus. Under mode dense it
// sorts by distance (the score being cosine similarity, dot product, or
// -distance for l2). Distances of different metrics, or of vectors from
// different models, do not compare, so it is refused unless every corpus
// shares metric and model. Under mode hybrid it sorts by the fused score,
// not by the hit's distance, which is only its dense side: sorting by that
// would undo the fusion. The fused score is on one scale across corpora
// only when they are cosine ones (hybrid.go in package vector: the lexical
// side is the share of the query's weight a text matches, the dense side
// the cosine similarity; under dot and l2 the dense side is scaled to each
// corpus's own candidates), so it is refused unless every corpus is cosine.
// Each corpus weighs words by its own statistics, which the lexical side's
// normalisation allows for but does not cancel: the sort is as one index
// would rank, near enough to be the default. Under mode lexical it is
// refused: a lexical hit has no vector distance, and BM25 grows with the
// query's length and each corpus's word statistics.
//
// MergeRRF is reciprocal rank fusion: a hit scores Σ 1/([RRFK] + rank) over
// the ranked lists it appears in, rank counting from 1. A hit belongs to one
// corpus, and each corpus gives one list, so its score is 1/(RRFK + its rank
// in its corpus): the corpora are interleaved by rank, whatever their
// metrics, models and the mode's scores, which is why it is the default
// when those differ and in the lexical and hybrid modes.
//
// MergeWeighted gives each corpus a weight (1 unless told) and scores a hit
// weight × (score − min) / (max − min), min and max being the lowest and
// highest score among the hits its corpus returned (1 when they are equal).
// The score is the mode's: the similarity under dense, BM25 under lexical,
// the fused score under hybrid.
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
//
// A playbook (Query.UsePlaybook) acts before any merge, inside each corpus,
// on one scale: the answers it boosts get what the mode ranks by (the
// distance, BM25 or the fused score; see playbook.go) moved by its factor,
// those it injects join their corpus's hits, and each corpus's hits are
// sorted again. So under MergeDistance a boost moves a hit in the global
// sort by exactly its factor (of its distance, or of 1 − its fused
// score); under MergeRRF it earns the hit a better rank within its
// corpus, so a larger 1/(RRFK + rank); under MergeWeighted a better
// normalised score within its corpus. Rank and min-max scales know nothing
// of how far apart two hits were, so under those two a tie goes to the hit
// the playbook moved more (the smaller factor): the playbook's evidence
// comes from past outcomes, not from either corpus, and otherwise a boosted
// answer could at best tie with the first hit of another corpus and lose
// by the order of the corpora.
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
	moves  map[string]*PlaybookMove // by id, the hits a playbook moved
}

// merge ranks the hits of lists by how and keeps the best k.
func merge(how Merge, lists []ranked, k int) []Hit {
	var all []Hit
	for _, l := range lists {
		lo, hi := scoreRange(l.hits)
		for i, h := range l.hits {
			hit := Hit{Corpus: l.corpus, Hit: h, Playbook: l.moves[h.ID]}
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
		// By score: under dense, corpora of one metric, it falls as the
		// distance grows, and ties go to the nearer.
		slices.SortStableFunc(all, func(a, b Hit) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Distance, b.Distance))
		})
	} else {
		slices.SortStableFunc(all, func(a, b Hit) int {
			return cmp.Or(cmp.Compare(b.Merged, a.Merged), cmp.Compare(a.factor(), b.factor()))
		})
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

// factor is the boost factor of the playbook entry that moved h, or 1.
func (h *Hit) factor() float64 {
	if h.Playbook == nil {
		return 1
	}
	return h.Playbook.Factor
}
