// Package matrix answers one query across several vector indexes, its
// corpora, at once: it searches them in parallel under the caller's
// deadline and merges their hits into one ranking (see [Merge]).
//
// A hit is one item of one corpus: the same id in two corpora is two hits,
// and exclusions name both ("docs:42"). Each corpus is asked for
// [Query.PerCorpusK] hits, plus as many as the query excludes from it, with
// the metadata filter applied inside its own search; so a corpus that has
// enough matching items always contributes PerCorpusK of them, and the
// merged result has K hits whenever K matching items exist.
//
// Every corpus is searched in one [vector.Mode], the Query's: dense (by the
// query vector), lexical (BM25 over the items' texts, by the words of the
// query text) or hybrid (both fused, as search_vectors fuses them). Query
// text is embedded once, with the one embedder of the server, for the dense
// and hybrid modes; only corpora built with that embedder's model can be
// searched so. Lexical needs no vector, so it searches any corpus by text,
// an index of vectors given by callers (model "") included.
//
// With [Query.Rerank] the merged hits are scored for relevance to a file
// under review (see matrix_rerank.go) and re-ordered by it.
package matrix

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/vector"
)

// Corpora are the vector indexes a Matrix searches, and its playbooks: the
// methods of [vector.Manager] it uses. Get fetches the answers a playbook
// injects; Create and Upsert write playbooks.
type Corpora interface {
	List() []vector.IndexInfo
	Info(name string) (vector.IndexInfo, error)
	Search(ctx context.Context, name string, query []float32, opts vector.SearchOptions) ([]vector.Hit, error)
	Get(name string, ids []string) ([]vector.Item, error)
	Create(ctx context.Context, name string, spec vector.Spec) (vector.IndexInfo, error)
	Upsert(ctx context.Context, name string, items []vector.Item) (int, error)
}

var _ Corpora = (*vector.Manager)(nil)

// A Matrix searches every corpus of Corpora, embedding query text with
// Embedder, and keeps playbooks there (see playbook.go). It holds no state
// of its own and is safe for concurrent use.
type Matrix struct {
	Corpora  Corpora
	Embedder embed.Provider
	Playbook PlaybookConfig // the zero value gives the defaults
}

// DefaultK is the number of hits a Query without K asks for.
const DefaultK = 10

// A Query is one search across corpora. Exactly one of Text and Vector is
// set.
type Query struct {
	Text   string    // the words of the query; embedded once with the Matrix's Embedder unless Mode is lexical
	Vector []float32 // searched as given, in corpora of its dimension

	// Mode is what each corpus ranks by: vector.Dense, vector.Lexical or
	// vector.Hybrid. "" means hybrid with Text and dense with Vector, as
	// search_vectors decides. Lexical and hybrid need Text.
	Mode vector.Mode

	Corpora    []string // corpora to search, in this order; empty means every corpus Corpora lists, by name, but playbooks
	K          int      // hits of the merged result; 0 means DefaultK, at most vector.MaxK
	PerCorpusK int      // hits each corpus contributes at most; 0 means 2K, or RerankFactor × K with Rerank (at most vector.MaxK)

	// Merge ranks the hits of all corpora; "" means MergeWeighted when
	// Weights are given, else MergeDistance when the scores of the corpora
	// searched compare (mode dense: they share metric and model; mode
	// hybrid: they are all cosine; mode lexical: never), else MergeRRF.
	Merge   Merge
	Weights map[string]float64 // corpus -> weight under MergeWeighted, at least 0; corpora left out weigh 1

	Filter   vector.Filter // metadata conditions, applied inside each corpus's search
	Exclude  []string      // items to leave out, as "corpus:id", before the top-K cut
	MinScore *float64      // when set, each corpus's search leaves out its hits scoring below it (vector.SearchOptions.MinScore, on the Mode's scale), before merging and before a playbook boost
	Partial  bool          // a missing or failing corpus is reported in its CorpusResult instead of failing the search

	UsePlaybook    bool   // boost and inject the answers of past queries near this one (see playbook.go)
	PlaybookCorpus string // the playbook consulted; "" means Matrix.Playbook.Corpus. Only with UsePlaybook

	// Rerank, when set, scores the merged hits for relevance to a file
	// under review, drops those below its threshold and orders the rest by
	// relevance; each corpus is then asked for more hits (see RerankFactor).
	Rerank *Rerank
}

// A Result is the merged answer of a Query.
type Result struct {
	Mode     vector.Mode    // the mode every corpus was searched in
	Merge    Merge          // the merge used
	Hits     []Hit          // best first, at most K
	Corpora  []CorpusResult // one per corpus of the query, in its order
	Playbook *PlaybookUse   // what the playbook did, with UsePlaybook
	Rerank   *RerankUse     // what the rerank did, with Rerank
}

// A Hit is one item of one corpus in the merged ranking.
type Hit struct {
	Corpus     string
	vector.Hit         // as its corpus returned it: Score and Distance are the corpus's own
	Rank       int     // place in Result.Hits, from 1
	Merged     float64 // the merged score, higher is better; see Merge for what it is

	// Playbook, when an entry moved the hit, says which and how; Score
	// (and, in modes dense and lexical, Distance) are then the boosted ones.
	Playbook *PlaybookMove

	// Relevance and Reasons, with Query.Rerank, are the hit's relevance to
	// the focus and the signals it adds up from; the hits are ordered by it.
	Relevance *float64
	Reasons   []Reason
}

// A CorpusResult tells how the search of one corpus went.
type CorpusResult struct {
	Name     string
	Returned int           // hits it gave the merge, after Exclude and MinScore
	Elapsed  time.Duration // of its search
	Err      error         // why it could not be searched; only in a Partial result
}

// A Corpus is an index as matrix_search sees it.
type Corpus struct {
	vector.IndexInfo
	Text     bool // query text can search it by meaning (modes dense and hybrid): it was built with the Embedder's model. Mode lexical searches any corpus by text
	Playbook bool // it is a playbook: searches that name no corpora leave it out
}

// List describes every corpus, sorted by name.
func (m *Matrix) List() []Corpus {
	infos := m.Corpora.List()
	out := make([]Corpus, len(infos))
	for i, info := range infos {
		out[i] = Corpus{IndexInfo: info, Text: m.textError(info) == nil, Playbook: IsPlaybook(info.Name)}
	}
	return out
}

// textError tells why query text cannot search the corpus of info, or
// returns nil when it can.
func (m *Matrix) textError(info vector.IndexInfo) error {
	model := m.Embedder.Model()
	switch info.Model {
	case model:
		return nil
	case "":
		return errs.New(errs.Invalid, "corpus %q holds vectors given by callers, not from an embedding model, so query_text cannot search it by meaning; give mode lexical to search its texts by their words, query_vector (%d numbers) instead, or leave it out of corpora", info.Name, info.Dim)
	default:
		return errs.New(errs.Invalid, "corpus %q was built with embedding model %s but this server embeds with %s, so query_text would not match its vectors; give mode lexical to search its texts by their words, query_vector instead, leave it out of corpora, or re-create it", info.Name, info.Model, model)
	}
}

// corpusRun is the search of one corpus.
type corpusRun struct {
	info  vector.IndexInfo
	query []float32
	skip  map[string]bool // ids excluded from it
	hits  []vector.Hit
	moves map[string]*PlaybookMove // by id, the hits a playbook moved
	took  time.Duration
	err   error
}

// Search searches the corpora of q in parallel and merges their hits.
//
// Mistakes in q that are not about one corpus (k out of range, both or
// neither of Text and Vector, an unknown mode or merge, a mode that needs
// text without it, a distance merge in mode lexical or over corpora whose
// scores do not compare, a bad rerank) fail the search. So does a corpus that is missing,
// cannot take the query (its model, its dimension) or fails its search,
// with an error naming it, unless q.Partial is set: then the other
// corpora's hits come back and the corpus's CorpusResult holds the error.
// A partial search that no corpus answers fails. With q.UsePlaybook, so
// does a playbook that exists but cannot be searched; one that does not
// exist yet moves nothing.
func (m *Matrix) Search(ctx context.Context, q Query) (Result, error) {
	k, pool, perK, err := q.limits()
	if err != nil {
		return Result{}, err
	}
	mode, err := q.mode()
	if err != nil {
		return Result{}, err
	}
	if err := checkMerge(q.Merge, q.Weights, mode); err != nil {
		return Result{}, err
	}
	rr, err := newReranker(q.Rerank)
	if err != nil {
		return Result{}, err
	}
	names, err := m.names(q.Corpora)
	if err != nil {
		return Result{}, err
	}
	skips, err := exclusions(q.Exclude, names)
	if err != nil {
		return Result{}, err
	}
	if err := checkWeights(q.Weights, names); err != nil {
		return Result{}, err
	}
	playbook, err := m.playbookCorpus(&q)
	if err != nil {
		return Result{}, err
	}

	runs := make([]*corpusRun, len(names))
	for i, name := range names {
		r := &corpusRun{skip: skips[name], query: q.Vector}
		if r.info, r.err = m.Corpora.Info(name); r.err != nil {
			r.info.Name = name
		}
		runs[i] = r
	}
	byMeaning := q.Text != "" && mode != vector.Lexical // the text's vector searches the corpora
	if byMeaning {
		for _, r := range live(runs) {
			r.err = m.textError(r.info)
		}
	}
	if err := failure(runs, q.Partial); err != nil {
		return Result{}, err // before searching: the search would fail anyway
	}
	how, err := chooseMerge(q.Merge, q.Weights, mode, live(runs))
	if err != nil {
		return Result{}, err
	}
	query := q.Vector
	if q.Text != "" && (byMeaning || playbook != "") {
		// Once: every corpus left was built with the Embedder's model, and
		// so is every playbook (which a lexical search still consults by
		// meaning: its entries are past queries, not these words).
		vecs, err := m.Embedder.Embed(ctx, []string{q.Text})
		if err != nil {
			return Result{}, fmt.Errorf("embed query_text: %w", err)
		}
		query = vecs[0]
		if byMeaning {
			for _, r := range live(runs) {
				r.query = query
			}
		}
	}

	// The fan-out: one goroutine per corpus, all under ctx, and one for
	// the playbook.
	var wg sync.WaitGroup
	var pb *playbookRun
	if playbook != "" {
		wg.Go(func() { pb = m.consult(ctx, playbook, query, names, skips) })
	}
	for _, r := range live(runs) {
		wg.Go(func() {
			start := time.Now()
			opts := vector.SearchOptions{
				K: min(perK+len(r.skip), vector.MaxK), Filter: q.Filter,
				Mode: mode, QueryText: q.Text, MinScore: q.MinScore,
			}
			hits, err := m.Corpora.Search(ctx, r.info.Name, r.query, opts)
			r.took = time.Since(start)
			if err != nil {
				r.err = corpusError(r.info.Name, err)
				return
			}
			r.hits = keep(hits, r.skip, perK)
		})
	}
	wg.Wait()
	if err := failure(runs, q.Partial); err != nil {
		return Result{}, err
	}

	res := Result{Mode: mode, Merge: how, Corpora: make([]CorpusResult, len(runs))}
	// rank merges the runs' hits as they stand, reranks them, and cuts to k.
	rank := func() ([]Hit, error) {
		return rr.rerank(ctx, merge(how, rankedLists(runs, q.Weights), pool), k)
	}
	var before []Hit // the ranking without the playbook
	if pb != nil {
		if pb.err != nil {
			return Result{}, pb.err
		}
		if before, err = rank(); err != nil {
			return Result{}, err
		}
		if err := m.apply(ctx, pb, runs, &q, mode); err != nil {
			return Result{}, err
		}
		res.Playbook = &pb.use
	}
	for i, r := range runs {
		res.Corpora[i] = CorpusResult{Name: r.info.Name, Returned: len(r.hits), Elapsed: r.took, Err: r.err}
	}
	if res.Hits, err = rank(); err != nil {
		return Result{}, err
	}
	rankBefore(res.Hits, before)
	res.Rerank = rr.use()
	return res, nil
}

// rankedLists are the hits of the runs that have not failed, for merge.
func rankedLists(runs []*corpusRun, weights map[string]float64) []ranked {
	var lists []ranked
	for _, r := range live(runs) {
		lists = append(lists, ranked{corpus: r.info.Name, hits: r.hits, weight: weightOf(weights, r.info.Name), moves: r.moves})
	}
	return lists
}

// limits returns the K of q, the merged hits a rerank chooses from (K
// without one), and PerCorpusK, defaults applied.
func (q *Query) limits() (k, pool, perK int, err error) {
	k = cmp.Or(q.K, DefaultK)
	if k < 1 || k > vector.MaxK {
		return 0, 0, 0, errs.New(errs.Invalid, "k = %d is out of range; ask for 1 to %d hits", q.K, vector.MaxK)
	}
	pool, perK = k, min(2*k, vector.MaxK)
	if q.Rerank != nil {
		// Any one corpus may hold the whole pool.
		pool = min(RerankFactor*k, vector.MaxK)
		perK = pool
	}
	perK = cmp.Or(q.PerCorpusK, perK)
	if perK < 1 || perK > vector.MaxK {
		return 0, 0, 0, errs.New(errs.Invalid, "per_corpus_k = %d is out of range; take 1 to %d hits from each corpus, or leave it out for the default (2k, or %dk with rerank)", q.PerCorpusK, vector.MaxK, RerankFactor)
	}
	return k, pool, perK, nil
}

// mode returns the mode of q, "" resolved, after checking that q has the
// query it needs: text for lexical and hybrid, text or a vector for dense.
func (q *Query) mode() (vector.Mode, error) {
	switch {
	case q.Vector != nil && q.Text != "":
		return "", errs.New(errs.Invalid, "give query_text or query_vector, not both")
	case q.Vector == nil && q.Text == "":
		return "", errs.New(errs.Invalid, "give query_text (words to search for) or query_vector")
	}
	switch q.Mode {
	case "":
		if q.Text != "" {
			return vector.Hybrid, nil
		}
		return vector.Dense, nil
	case vector.Dense:
		return vector.Dense, nil
	case vector.Lexical, vector.Hybrid:
		if q.Text == "" {
			return "", errs.New(errs.Invalid, "mode %s ranks by the words of query_text, and there is only query_vector; give query_text, or use mode dense", q.Mode)
		}
		return q.Mode, nil
	}
	return "", errs.New(errs.Invalid, "mode %q is not one of dense (by meaning: the query's vector), lexical (by the exact words of query_text) or hybrid (both; the default with query_text)", string(q.Mode))
}

// names returns the corpora asked for, or every corpus when none is.
func (m *Matrix) names(asked []string) ([]string, error) {
	if len(asked) == 0 {
		var names []string
		for _, info := range m.Corpora.List() {
			if !IsPlaybook(info.Name) { // questions, not answers
				names = append(names, info.Name)
			}
		}
		if len(names) == 0 {
			return nil, errs.New(errs.NotFound, "there are no corpora to search yet: every vector index but a playbook (named %s…) is one, and create_index or index_dataset makes one", PlaybookPrefix)
		}
		return names, nil
	}
	seen := make(map[string]bool, len(asked))
	for _, name := range asked {
		if seen[name] {
			return nil, errs.New(errs.Invalid, "corpus %q is named twice in corpora; name each once", name)
		}
		seen[name] = true
	}
	return asked, nil
}

// exclusions parses "corpus:id" entries into the ids to skip per corpus.
func exclusions(entries, names []string) (map[string]map[string]bool, error) {
	skips := map[string]map[string]bool{}
	for _, e := range entries {
		corpus, id, ok := strings.Cut(e, ":")
		if !ok || corpus == "" || id == "" {
			return nil, errs.New(errs.Invalid, "exclude_ids entry %q is not of the form corpus:id (e.g. docs:42)", e)
		}
		if !slices.Contains(names, corpus) {
			return nil, errs.New(errs.Invalid, "exclude_ids entry %q names corpus %q, which this search does not cover (%s)", e, corpus, strings.Join(names, ", "))
		}
		if skips[corpus] == nil {
			skips[corpus] = map[string]bool{}
		}
		skips[corpus][id] = true
	}
	return skips, nil
}

// checkWeights refuses weights that are negative or name corpora the
// search does not cover.
func checkWeights(weights map[string]float64, names []string) error {
	for _, corpus := range slices.Sorted(maps.Keys(weights)) {
		switch w := weights[corpus]; {
		case !slices.Contains(names, corpus):
			return errs.New(errs.Invalid, "weights names corpus %q, which this search does not cover (%s)", corpus, strings.Join(names, ", "))
		case w < 0:
			return errs.New(errs.Invalid, "weight of corpus %q is %v; weights are 0 or more (1 by default)", corpus, w)
		}
	}
	return nil
}

func weightOf(weights map[string]float64, corpus string) float64 {
	if w, ok := weights[corpus]; ok {
		return w
	}
	return 1
}

// live returns the runs that have not failed.
func live(runs []*corpusRun) []*corpusRun {
	var out []*corpusRun
	for _, r := range runs {
		if r.err == nil {
			out = append(out, r)
		}
	}
	return out
}

// failure returns the error that ends the search: the first corpus's
// error unless partial, or, when partial, an error when every corpus has
// failed.
func failure(runs []*corpusRun, partial bool) error {
	var failed []error
	for _, r := range runs {
		if r.err != nil {
			failed = append(failed, r.err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case !partial:
		return failed[0]
	case len(failed) == len(runs):
		return fmt.Errorf("no corpus could be searched: %w", errors.Join(failed...))
	}
	return nil
}

// corpusError names the corpus in err, keeping its kind.
func corpusError(name string, err error) error {
	if k := errs.KindOf(err); k != nil {
		return errs.New(k, "corpus %q: %w", name, err)
	}
	return fmt.Errorf("corpus %q: %w", name, err)
}

// checkMerge refuses an unknown merge, weights under another merge than
// weighted, and a distance merge in mode lexical.
func checkMerge(asked Merge, weights map[string]float64, mode vector.Mode) error {
	switch {
	case asked != "" && asked != MergeDistance && asked != MergeRRF && asked != MergeWeighted:
		return errs.New(errs.Invalid, "merge %q is not one of distance, rrf or weighted", asked)
	case len(weights) > 0 && asked != "" && asked != MergeWeighted:
		return errs.New(errs.Invalid, "weights apply to merge weighted only, and merge is %s; leave out weights, or ask for merge weighted", asked)
	case asked == MergeDistance && mode == vector.Lexical:
		return errs.New(errs.Invalid, "merge distance is one global sort by vector distance (or, in mode hybrid, by the fused score), and mode lexical has neither: it ranks by BM25, whose scale grows with the query and differs from corpus to corpus; use merge rrf (by rank within each corpus, the default here) or weighted (BM25 min-max normalised per corpus)")
	}
	return nil
}

// chooseMerge returns the merge asked for, or the default, after checking
// that a distance merge compares like with like (see Merge).
func chooseMerge(asked Merge, weights map[string]float64, mode vector.Mode, runs []*corpusRun) (Merge, error) {
	shared := mode != vector.Lexical
	for _, r := range runs {
		if mode == vector.Hybrid {
			shared = shared && r.info.Metric == vector.Cosine
		} else {
			shared = shared && r.info.Metric == runs[0].info.Metric && r.info.Model == runs[0].info.Model
		}
	}
	switch {
	case asked == "" && len(weights) > 0:
		return MergeWeighted, nil
	case asked == "" && shared:
		return MergeDistance, nil
	case asked == "":
		return MergeRRF, nil
	case asked == MergeDistance && !shared:
		why := "compares distances across corpora, which means something only when they share metric and embedding model"
		if mode == vector.Hybrid {
			why = "in mode hybrid sorts by the fused score, which is on one scale across corpora only when all are cosine (under dot and l2 its dense side is scaled to each corpus's own hits)"
		}
		var kinds []string
		for _, r := range runs {
			kinds = append(kinds, fmt.Sprintf("%s (%s, model %q)", r.info.Name, r.info.Metric, r.info.Model))
		}
		return "", errs.New(errs.Invalid, "merge distance %s, and these do not: %s; use merge rrf (by rank within each corpus) or weighted", why, strings.Join(kinds, ", "))
	}
	return asked, nil
}

// keep returns the first n of hits that are not skipped.
func keep(hits []vector.Hit, skip map[string]bool, n int) []vector.Hit {
	out := hits[:0]
	for _, h := range hits {
		if len(out) == n {
			break
		}
		if !skip[h.ID] {
			out = append(out, h)
		}
	}
	return out
}
