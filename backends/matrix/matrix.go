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
// Query text is embedded once, with the one embedder of the server. Only
// corpora built with that embedder's model can be searched by text; an
// index of vectors given by callers (model "") takes only a query vector.
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
	Create(ctx context.Context, name string, dim int, metric vector.Metric, model string) (vector.IndexInfo, error)
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
	Text   string    // embedded once with the Matrix's Embedder
	Vector []float32 // searched as given, in corpora of its dimension

	Corpora    []string // corpora to search, in this order; empty means every corpus Corpora lists, by name, but playbooks
	K          int      // hits of the merged result; 0 means DefaultK, at most vector.MaxK
	PerCorpusK int      // hits each corpus contributes at most; 0 means 2K (at most vector.MaxK)

	// Merge ranks the hits of all corpora; "" means MergeWeighted when
	// Weights are given, else MergeDistance when every corpus searched shares
	// metric and model, else MergeRRF.
	Merge   Merge
	Weights map[string]float64 // corpus -> weight under MergeWeighted, at least 0; corpora left out weigh 1

	Filter   vector.Filter // metadata conditions, applied inside each corpus's search
	Exclude  []string      // items to leave out, as "corpus:id", before the top-K cut
	MinScore *float64      // when set, hits whose score in their own corpus is below it are left out, before merging
	Partial  bool          // a missing or failing corpus is reported in its CorpusResult instead of failing the search

	UsePlaybook    bool   // boost and inject the answers of past queries near this one (see playbook.go)
	PlaybookCorpus string // the playbook consulted; "" means Matrix.Playbook.Corpus. Only with UsePlaybook
}

// A Result is the merged answer of a Query.
type Result struct {
	Merge    Merge          // the merge used
	Hits     []Hit          // best first, at most K
	Corpora  []CorpusResult // one per corpus of the query, in its order
	Playbook *PlaybookUse   // what the playbook did, with UsePlaybook
}

// A Hit is one item of one corpus in the merged ranking.
type Hit struct {
	Corpus     string
	vector.Hit         // as its corpus returned it: Score and Distance are the corpus's own
	Rank       int     // place in Result.Hits, from 1
	Merged     float64 // the merged score, higher is better; see Merge for what it is

	// Playbook, when an entry moved the hit, says which and how; Score and
	// Distance are then the boosted ones.
	Playbook *PlaybookMove
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
	Text     bool // query text can search it: it was built with the Embedder's model
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
		return errs.New(errs.Invalid, "corpus %q holds vectors given by callers, not from an embedding model, so query_text cannot search it; give query_vector (%d numbers) instead, or leave it out of corpora", info.Name, info.Dim)
	default:
		return errs.New(errs.Invalid, "corpus %q was built with embedding model %s but this server embeds with %s, so query_text would not match its vectors; give query_vector instead, leave it out of corpora, or re-create it", info.Name, info.Model, model)
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
// neither of Text and Vector, an unknown merge, a distance merge over
// corpora that differ) fail the search. So does a corpus that is missing,
// cannot take the query (its model, its dimension) or fails its search,
// with an error naming it, unless q.Partial is set: then the other
// corpora's hits come back and the corpus's CorpusResult holds the error.
// A partial search that no corpus answers fails. With q.UsePlaybook, so
// does a playbook that exists but cannot be searched; one that does not
// exist yet moves nothing.
func (m *Matrix) Search(ctx context.Context, q Query) (Result, error) {
	k, perK, err := q.limits()
	if err != nil {
		return Result{}, err
	}
	switch {
	case q.Vector != nil && q.Text != "":
		return Result{}, errs.New(errs.Invalid, "give query_text or query_vector, not both")
	case q.Vector == nil && q.Text == "":
		return Result{}, errs.New(errs.Invalid, "give query_text (words to search for) or query_vector")
	}
	if err := checkMerge(q.Merge, q.Weights); err != nil {
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
	if q.Text != "" {
		for _, r := range live(runs) {
			r.err = m.textError(r.info)
		}
	}
	if err := failure(runs, q.Partial); err != nil {
		return Result{}, err // before searching: the search would fail anyway
	}
	how, err := chooseMerge(q.Merge, q.Weights, live(runs))
	if err != nil {
		return Result{}, err
	}
	query := q.Vector
	if q.Text != "" {
		// Once: every corpus left was built with the Embedder's model.
		vecs, err := m.Embedder.Embed(ctx, []string{q.Text})
		if err != nil {
			return Result{}, fmt.Errorf("embed query_text: %w", err)
		}
		query = vecs[0]
		for _, r := range live(runs) {
			r.query = query
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
			opts := vector.SearchOptions{K: min(perK+len(r.skip), vector.MaxK), Filter: q.Filter}
			hits, err := m.Corpora.Search(ctx, r.info.Name, r.query, opts)
			r.took = time.Since(start)
			if err != nil {
				r.err = corpusError(r.info.Name, err)
				return
			}
			r.hits = keep(hits, r.skip, q.MinScore, perK)
		})
	}
	wg.Wait()
	if err := failure(runs, q.Partial); err != nil {
		return Result{}, err
	}

	res := Result{Merge: how, Corpora: make([]CorpusResult, len(runs))}
	var before []Hit // the ranking without the playbook
	if pb != nil {
		if pb.err != nil {
			return Result{}, pb.err
		}
		before = merge(how, rankedLists(runs, q.Weights), k)
		if err := m.apply(pb, runs, &q); err != nil {
			return Result{}, err
		}
		res.Playbook = &pb.use
	}
	for i, r := range runs {
		res.Corpora[i] = CorpusResult{Name: r.info.Name, Returned: len(r.hits), Elapsed: r.took, Err: r.err}
	}
	res.Hits = merge(how, rankedLists(runs, q.Weights), k)
	rankBefore(res.Hits, before)
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

// limits returns the K and PerCorpusK of q, defaults applied.
func (q *Query) limits() (k, perK int, err error) {
	k = cmp.Or(q.K, DefaultK)
	if k < 1 || k > vector.MaxK {
		return 0, 0, errs.New(errs.Invalid, "k = %d is out of range; ask for 1 to %d hits", q.K, vector.MaxK)
	}
	perK = cmp.Or(q.PerCorpusK, min(2*k, vector.MaxK))
	if perK < 1 || perK > vector.MaxK {
		return 0, 0, errs.New(errs.Invalid, "per_corpus_k = %d is out of range; take 1 to %d hits from each corpus, or leave it out for 2k", q.PerCorpusK, vector.MaxK)
	}
	return k, perK, nil
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

// checkMerge refuses an unknown merge, and weights under another merge
// than weighted.
func checkMerge(asked Merge, weights map[string]float64) error {
	switch {
	case asked != "" && asked != MergeDistance && asked != MergeRRF && asked != MergeWeighted:
		return errs.New(errs.Invalid, "merge %q is not one of distance, rrf or weighted", asked)
	case len(weights) > 0 && asked != "" && asked != MergeWeighted:
		return errs.New(errs.Invalid, "weights apply to merge weighted only, and merge is %s; leave out weights, or ask for merge weighted", asked)
	}
	return nil
}

// chooseMerge returns the merge asked for, or the default, after checking
// that a distance merge compares like with like.
func chooseMerge(asked Merge, weights map[string]float64, runs []*corpusRun) (Merge, error) {
	shared := true
	for _, r := range runs {
		shared = shared && r.info.Metric == runs[0].info.Metric && r.info.Model == runs[0].info.Model
	}
	switch {
	case asked == "" && len(weights) > 0:
		return MergeWeighted, nil
	case asked == "" && shared:
		return MergeDistance, nil
	case asked == "":
		return MergeRRF, nil
	case asked == MergeDistance && !shared:
		var kinds []string
		for _, r := range runs {
			kinds = append(kinds, fmt.Sprintf("%s (%s, model %q)", r.info.Name, r.info.Metric, r.info.Model))
		}
		return "", errs.New(errs.Invalid, "merge distance compares distances across corpora, which means something only when they share metric and embedding model, and these do not: %s; use merge rrf (by rank within each corpus) or weighted", strings.Join(kinds, ", "))
	}
	return asked, nil
}

// keep returns the first n of hits that are not skipped and score at
// least min.
func keep(hits []vector.Hit, skip map[string]bool, min *float64, n int) []vector.Hit {
	out := hits[:0]
	for _, h := range hits {
		if len(out) == n {
			break
		}
		if skip[h.ID] || min != nil && float64(h.Score) < *min {
			continue
		}
		out = append(out, h)
	}
	return out
}
