package vector

// Lexical and hybrid search over a segment, and the fusion of the two
// sides of a hybrid search.
//
// Design notes. A hybrid search takes the hybridPool best items of each
// side (the dense search and BM25, both within the filter), and scores
// every item of their union on both sides exactly: an item only one side
// proposed still gets its true score from the other (its vector distance,
// or its BM25, which the lexical pass computed for every text holding a
// query word). Each side is put on a scale of 0 to 1 that means the same
// from one query to the next:
//
//	L = BM25 / ((k1+1) · Σ idf(t))    over the words t of the query
//	D = the cosine similarity (0 when negative)
//
// Σ idf(t) is what a text of average length holding each query word once
// scores, so L is the share of the query's weight that the text matches;
// no text reaches 1. Under dot and l2, which have no fixed scale, D is
// instead where the item's similarity lies between the lowest and the
// highest of the dense candidates. The fused score is
//
//	score = (1 − w)·L + w·D,    w = 0.3·u
//
// where u is the share of Σ idf(t) on the query words that the candidate
// holding the most of them lacks: 0 when some text holds every word of the
// query, more for misspellings or words the texts do not use. When a text
// matches the whole query, BM25 decides alone and orders texts it scores
// alike as lexical mode does; the less of the query the best lexical match
// holds, the more meaning counts, up to w = 0.3 when no text holds a word
// of it. The weight and the scales were chosen on the queries of
// bench/embedquality (one seed of it) and checked on two others. A plain
// reciprocal rank fusion, or a fixed weight, fell below BM25 alone on exact
// words and synonyms, where the default embedder is much the weaker side. A
// weight that followed only the words no text holds, and so let meaning
// reorder full matches a little, moved ties among near-duplicate texts and
// lost up to 0.002 MRR to BM25 on exact words. This fusion matches BM25 on
// exact words, is at or above it on synonyms, and adds about 0.06 MRR on
// typos. Scores on fixed scales also make MinScore mean the same for every
// query and every index.

import (
	"cmp"
	"math"
	"slices"

	"lakehouse/backends/errs"
)

// The fusion's constants (see the design notes above).
const (
	// hybridPool is how many items each side of a hybrid search proposes
	// (k each when k is larger). Within the filter, so that k hits come
	// back whenever k items match. More made no difference on the
	// benchmark: the items that fusion lifts into the top are near the top
	// of one side already.
	hybridPool = 50
	// denseWeight is the weight of the dense side when no text holds a
	// word of the query.
	denseWeight = 0.3
)

// scored is a slot a search found, with what each side made of it.
type scored struct {
	slot  uint32
	d     float32 // distance to the query vector as the segment measures it (see dist); dense and hybrid
	lex   float32 // BM25 score of its text; lexical and hybrid
	score float32 // what the mode ranks by: Hit.Score
}

// checkQuery checks the query of a search, vector q and opts.QueryText,
// against its mode, and returns the mode ("" resolved) and the distinct
// words of the query text.
func checkQuery(q []float32, opts SearchOptions) (Mode, []string, error) {
	mode, hasText := opts.Mode, opts.QueryText != ""
	switch mode {
	case "":
		switch {
		case q != nil && hasText:
			mode = Hybrid
		case hasText:
			mode = Lexical
		default:
			mode = Dense
		}
	case Dense:
		if q == nil && hasText {
			return "", nil, errs.New(errs.Invalid, "mode dense ranks by the query vector, and there is none; give a vector, or use mode lexical to rank by the words of the query text")
		}
	case Lexical, Hybrid:
		if !hasText {
			return "", nil, errs.New(errs.Invalid, "mode %s ranks by the words of the query text, and there is none; give query text, or use mode dense to rank by the vector alone", mode)
		}
	default:
		return "", nil, errs.New(errs.Invalid, "unknown search mode %q; use dense (by vector), lexical (by the words of the query text) or hybrid (both)", string(mode))
	}
	if m := opts.MinScore; m != nil && (math.IsNaN(*m) || math.IsInf(*m, 0)) {
		return "", nil, errs.New(errs.Invalid, "min_score = %v; give a finite number, or none to keep every hit", *m)
	}
	if mode == Dense {
		return mode, nil, nil
	}
	if len(opts.QueryText) > MaxText {
		return "", nil, errs.New(errs.Invalid, "the query text is %d bytes; the limit is %d", len(opts.QueryText), MaxText)
	}
	terms := queryTerms(opts.QueryText)
	if len(terms) == 0 {
		return "", nil, errs.New(errs.Invalid, "the query text %q has no words to match (letters or digits); give words, or use mode dense with a vector", cut(opts.QueryText, 64))
	}
	return mode, terms, nil
}

// cut returns s, or its first n bytes (whole runes) and an ellipsis.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// similarity turns a distance as the segment measures it into Hit.Score:
// the cosine similarity or inner product, or minus the euclidean distance.
func (s *segment) similarity(d float32) float32 {
	if s.l2 {
		return -float32(math.Sqrt(float64(max(d, 0))))
	}
	return -d
}

// denseSearch returns the k live items nearest to q that match f, best
// first; or, when only is not nil, those of its slots that match f.
func (s *segment) denseSearch(q []float32, k, ef int, f *filter, only map[uint32]bool, sc *scratch) []scored {
	res := sc.res[:0]
	if only != nil {
		acc := s.acceptor(f)
		for i := range only {
			if acc.ok(i) {
				d := s.dist(q, i)
				res = append(res, scored{slot: i, d: d, score: s.similarity(d)})
			}
		}
		sortScored(res)
	} else {
		for _, c := range s.search(q, k, ef, f, sc) {
			res = append(res, scored{slot: c.id, d: c.d, score: s.similarity(c.d)})
		}
	}
	sc.res = res
	return res
}

// lexicalSearch returns the k live items that match f whose texts score
// highest by BM25 for terms, best first; or, when only is not nil, those of
// its slots that match f. Only items holding a word of terms score at all,
// so it may return fewer than k.
func (s *segment) lexicalSearch(terms []string, k int, f *filter, only map[uint32]bool, sc *scratch) []scored {
	s.lex.score(terms, s.dead, sc)
	defer sc.clearLexical()
	res := sc.res[:0]
	if only != nil {
		acc := s.acceptor(f)
		for i := range only {
			if lex := sc.lex[i]; lex > 0 && acc.ok(i) {
				res = append(res, scored{slot: i, lex: lex, score: lex})
			}
		}
		sortScored(res)
	} else {
		for _, c := range s.lexicalTop(k, f, sc) {
			lex := sc.lex[c.id]
			res = append(res, scored{slot: c.id, lex: lex, score: lex})
		}
	}
	sc.res = res
	return res
}

// lexicalTop returns the k slots matching f that score highest in sc.lex,
// best first (equal scores by slot), as cands whose distance is minus the
// score.
func (s *segment) lexicalTop(k int, f *filter, sc *scratch) []cand {
	acc := s.acceptor(f)
	best := sc.best[:0]
	for _, id := range sc.touched {
		c := cand{-sc.lex[id], id}
		if len(best) == k && c.d >= best[0].d {
			continue // it would not enter: its filter need not be checked
		}
		if f == nil || acc.ok(id) {
			best.pushBounded(c, k)
		}
	}
	sc.best = best
	sc.sorted = best.drainAscending(sc.sorted[:0])
	slices.SortFunc(sc.sorted, func(a, b cand) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return sc.sorted
}

// hybridSearch returns the k live items matching f that rank highest by
// the fusion of their similarity to q and the BM25 of their texts for
// terms (see the design notes), best first; or, when only is not nil, those
// of its slots that match f, scored as they would be among the others.
func (s *segment) hybridSearch(q []float32, terms []string, k, ef int, metric Metric, f *filter, only map[uint32]bool, sc *scratch) []scored {
	pool := max(k, hybridPool)
	res := sc.res[:0]
	for _, c := range s.search(q, pool, max(ef, pool), f, sc) {
		res = append(res, scored{slot: c.id, d: c.d})
	}
	nDense := len(res)
	ideal := s.lex.score(terms, s.dead, sc)
	defer sc.clearLexical()
	// Add the lexical side's proposals that the dense side did not make.
	sc.visited.reset(s.n())
	for _, r := range res {
		sc.visited.visit(r.slot)
	}
	for _, c := range s.lexicalTop(pool, f, sc) {
		if !sc.visited.visit(c.id) {
			res = append(res, scored{slot: c.id, d: s.dist(q, c.id)})
		}
	}

	dense := s.denseScale(metric, res[:nDense])
	held := float32(0)
	for _, r := range res {
		held = max(held, sc.held[r.slot])
	}
	if only != nil {
		// The pool above sets the scales; the items asked for are scored
		// on them, and they alone are kept.
		res = slices.DeleteFunc(res, func(r scored) bool { return !only[r.slot] })
		acc := s.acceptor(f)
		for i := range only {
			if !sc.visited.visit(i) && acc.ok(i) {
				res = append(res, scored{slot: i, d: s.dist(q, i)})
			}
		}
	}
	w := denseWeight * max(1-float64(held)/ideal, 0)
	full := (BM25K1 + 1) * ideal
	for i := range res {
		r := &res[i]
		r.lex = sc.lex[r.slot]
		r.score = float32((1-w)*float64(r.lex)/full + w*dense(s.similarity(r.d)))
	}
	sortScored(res)
	if only == nil {
		res = res[:min(k, len(res))]
	}
	sc.res = res
	return res
}

// sortScored orders res best first: by score, then BM25, then as lexical
// mode orders texts (by slot), except that texts holding no query word are
// ordered by their distance to the query.
func sortScored(res []scored) {
	slices.SortFunc(res, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.lex, a.lex); c != 0 {
			return c
		}
		if a.lex == 0 { // and b.lex: texts without a query word, by meaning
			if c := cmp.Compare(a.d, b.d); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.slot, b.slot)
	})
}

// denseScale returns the function that puts a similarity on the dense
// side's scale of 0 to 1: under cosine the similarity itself, with
// negative ones as 0; under dot and l2, its place between the lowest and
// the highest similarity of the dense candidates cands.
func (s *segment) denseScale(metric Metric, cands []scored) func(sim float32) float64 {
	if metric == Cosine {
		return func(sim float32) float64 { return float64(max(sim, 0)) }
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, c := range cands {
		sim := s.similarity(c.d)
		lo, hi = min(lo, sim), max(hi, sim)
	}
	return func(sim float32) float64 {
		if hi <= lo {
			return 1
		}
		return float64(min(max((sim-lo)/(hi-lo), 0), 1))
	}
}
