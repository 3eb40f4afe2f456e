package matrix

// Playbooks: the learning loop.
//
// A playbook is a vector index of past outcomes. Each entry is one query
// text (embedded with the Matrix's Embedder, so playbooks are cosine indexes
// of its model) and, in its metadata, the answer it led to, as corpus and
// item id, with a score from 0 (wrong) to 1 (right). The entry's id is a
// hash of query, corpus and answer, so recording the same outcome again
// replaces its score instead of adding a second entry.
//
// A search with Query.UsePlaybook looks up the entries whose query is within
// PlaybookConfig.BoostDistance of its own (cosine distance) and moves the
// answers they recorded up: in mode dense, an answer's distance in its
// corpus is multiplied by 1 − score/2, at most halving it (the other modes
// follow). An answer its corpus search did not return is fetched from the
// corpus when the entry's query is within InjectDistance, and competes with
// its own distance, boosted alike: so the per-corpus cut (PerCorpusK) does
// not hide it. How that reaches each merge
// is told at [Merge].
//
// The boost moves what the search's mode ranks by, by the same factor:
//
//	dense    the distance, × factor (÷ when negative, as dot distances are); the score follows
//	lexical  the BM25 score, ÷ factor (at most doubled); the distance stays −score
//	hybrid   the fused score s, to 1 − (1 − s) × factor; the distance (its dense side) stays as it was
//
// The fused score lies on the scale of a cosine similarity, 0 to 1 (its
// dense side is one), so 1 − s is shrunk as a cosine distance is, and an
// entry moves a hybrid hit as far as it moves the same hit under dense
// cosine. Dividing the score instead, as BM25 (which has no upper bound) is
// divided, was measured too: on bench/playbook (2 × 5k, mode hybrid, merge
// distance) held-out paraphrases rose from MRR 0.532 to 0.831 with this
// rule and to 0.827 dividing, recorded phrasings to 0.976 against 0.965,
// unrelated questions lost 0.004 against 0.003; but hybrid scores mostly
// lie under 0.5, and dividing left an answer recorded as right that matched
// weakly (0.05, doubled to 0.09, in tools' TestPlaybookSession) behind the
// query's best match. A hit is moved within its corpus, which ranks on one
// scale.
//
// An injected answer is scored by its corpus as the search scores its hits
// (vector.SearchOptions.Only), so it competes on the same scale in every
// mode; under lexical an answer whose text holds no word of the query has
// no score and is not injected (PlaybookUse.Note says how many were left
// out).
//
// Playbook corpora are named with [PlaybookPrefix], which is how a search
// that names no corpora knows to leave them out: they hold questions, not
// answers. They can still be searched by naming them.
//
// Entries are written under one lock per process: a data directory has one
// owner process (guests reach it through the owner), so the read, count and
// write of a reported outcome (see [Matrix.Fold]) cannot interleave.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/vector"
)

// Defaults of PlaybookConfig.
const (
	DefaultPlaybookCorpus = "playbook_memory"
	DefaultBoostDistance  = 0.5
	DefaultInjectDistance = 0.2
)

// PlaybookPrefix begins the name of every playbook corpus.
const PlaybookPrefix = "playbook_"

// Bounds of playbook entries.
const (
	MaxPlaybookEntries = vector.MaxBatch // entries per Record
	maxPlaybookTags    = 32
	maxPlaybookTagLen  = 64
	maxNearEntries     = 100 // entries a search consults, nearest first
)

// PlaybookConfig sets how playbooks are kept and used. The zero value gives
// the defaults.
type PlaybookConfig struct {
	// Corpus is the playbook of entries and searches that name none;
	// "" means DefaultPlaybookCorpus. It must begin with PlaybookPrefix.
	Corpus string
	// BoostDistance is the largest cosine distance from a query to an
	// entry's query at which the entry boosts its answer; 0 means 0.5.
	BoostDistance float64
	// InjectDistance is the largest such distance at which an answer the
	// search did not return is fetched and ranked; 0 means 0.2. At most
	// BoostDistance.
	InjectDistance float64
}

func (c PlaybookConfig) withDefaults() PlaybookConfig {
	c.Corpus = cmp.Or(c.Corpus, DefaultPlaybookCorpus)
	c.BoostDistance = cmp.Or(c.BoostDistance, DefaultBoostDistance)
	c.InjectDistance = cmp.Or(c.InjectDistance, DefaultInjectDistance)
	return c
}

// Validate checks c after its defaults; errors name the key and its value
// as lakehouse.toml spells them ("corpus", "boost_distance", ...).
func (c PlaybookConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case !IsPlaybook(c.Corpus):
		return fmt.Errorf("corpus = %q: a playbook corpus name begins with %q (so that searches of every corpus leave it out)", c.Corpus, PlaybookPrefix)
	case !(c.BoostDistance > 0 && c.BoostDistance <= 2):
		return fmt.Errorf("boost_distance = %v: give a cosine distance above 0 and at most 2", c.BoostDistance)
	case !(c.InjectDistance > 0 && c.InjectDistance <= c.BoostDistance):
		return fmt.Errorf("inject_distance = %v: give a cosine distance above 0 and at most boost_distance (%v)", c.InjectDistance, c.BoostDistance)
	}
	return nil
}

// IsPlaybook reports whether the corpus name is that of a playbook.
func IsPlaybook(name string) bool { return strings.HasPrefix(name, PlaybookPrefix) }

// A PlaybookEntry is an outcome to record: AnswerID of corpus AnswerCorpus
// was Score good (0 wrong .. 1 right) as the answer to Query.
type PlaybookEntry struct {
	Query        string
	AnswerID     string
	AnswerCorpus string
	Score        float64
	Tags         []string // kept with the entry; a new recording replaces them
	Corpus       string   // the playbook; "" means PlaybookConfig.Corpus
}

// An Outcome is a reported result of using an answer: Success or not. Its
// entry's score becomes the success rate of every outcome reported for it.
type Outcome struct {
	Query        string
	AnswerID     string
	AnswerCorpus string
	Corpus       string // the playbook; "" means PlaybookConfig.Corpus
	Success      bool
}

// Recorded is what became of one entry.
type Recorded struct {
	Entry     string   // its id in the playbook
	Corpus    string   // the playbook
	Score     float64  // its score now
	Previous  *float64 // its score before, when it existed
	Reports   int      // outcomes reported for it (Fold), all told
	Successes int      // of which went well
	Err       error    // why it was not recorded
}

// The keys of an entry's metadata.
const (
	metaAnswerID     = "answer_id"
	metaAnswerCorpus = "answer_corpus"
	metaScore        = "score"
	metaTags         = "tags"
	metaReports      = "reports"
	metaSuccesses    = "successes"
	metaUpdated      = "updated_at"
)

// playbookMu orders the writes of entries in this process (see the notes
// at the top of the file).
var playbookMu sync.Mutex

// pendingEntry is an entry on its way into its playbook.
type pendingEntry struct {
	PlaybookEntry
	success *bool // a reported outcome, whose tally sets the score
	res     *Recorded
}

// Record writes entries to their playbooks, creating a playbook on first
// use, and returns what became of each, in order. A mistake in one entry
// (an empty query, a score outside 0..1, an answer its corpus does not
// hold), or a playbook that is not one, is that entry's Err, and the others
// are written. The error returned is for the call as a whole: too many
// entries, the embedder failing, or a playbook's read or write failing,
// after which the entries of the playbooks before it are written and the
// others are not.
func (m *Matrix) Record(ctx context.Context, entries []PlaybookEntry) ([]Recorded, error) {
	if len(entries) == 0 || len(entries) > MaxPlaybookEntries {
		return nil, errs.New(errs.Invalid, "%d entries: record 1 to %d per call", len(entries), MaxPlaybookEntries)
	}
	out := make([]Recorded, len(entries))
	ps := make([]*pendingEntry, len(entries))
	for i, e := range entries {
		ps[i] = &pendingEntry{PlaybookEntry: e, res: &out[i]}
	}
	return out, m.write(ctx, ps)
}

// Fold counts outcome into its playbook entry, creating entry and playbook
// on first use: the entry's score becomes the share of its reported
// outcomes that succeeded. A record_playbook of the same entry in between
// sets the score; the next outcome sets it to the success rate again.
func (m *Matrix) Fold(ctx context.Context, o Outcome) (Recorded, error) {
	var res Recorded
	p := &pendingEntry{
		PlaybookEntry: PlaybookEntry{Query: o.Query, AnswerID: o.AnswerID, AnswerCorpus: o.AnswerCorpus, Corpus: o.Corpus},
		success:       &o.Success, res: &res,
	}
	if err := m.write(ctx, []*pendingEntry{p}); err != nil {
		return res, err
	}
	return res, res.Err
}

// OutcomeFields are the keys of an event's fields that make it an
// Outcome (see OutcomeOf); "playbook_corpus" may name the playbook.
var OutcomeFields = []string{"query_text", "answer_id", "answer_corpus"}

// OutcomeOf reads an Outcome from the free-form fields of a reported event.
// It returns ok false when fields hold none of OutcomeFields, and an error
// when they hold some but not all, or not as text.
func OutcomeOf(fields map[string]any, success bool) (o Outcome, ok bool, err error) {
	var got [3]string
	var missing []string
	for i, key := range OutcomeFields {
		v, present := fields[key]
		s, isText := v.(string)
		switch {
		case !present:
			missing = append(missing, key)
		case !isText || s == "":
			return o, false, errs.New(errs.Invalid, "fields.%s must be non-empty text to teach the playbook", key)
		}
		got[i] = s
	}
	switch len(missing) {
	case len(OutcomeFields):
		return o, false, nil
	case 0:
	default:
		return o, false, errs.New(errs.Invalid, "fields lack %s: an event teaches the playbook when its fields carry all of %s", strings.Join(missing, ", "), strings.Join(OutcomeFields, ", "))
	}
	o = Outcome{Query: got[0], AnswerID: got[1], AnswerCorpus: got[2], Success: success}
	if v, present := fields["playbook_corpus"]; present {
		corpus, isText := v.(string)
		if !isText {
			return Outcome{}, false, errs.New(errs.Invalid, "fields.playbook_corpus must be text")
		}
		o.Corpus = corpus
	}
	return o, true, nil
}

// write records ps: checks each, embeds the queries of those that pass in
// one call, then, per playbook, reads the entries that exist and upserts
// the new state.
func (m *Matrix) write(ctx context.Context, ps []*pendingEntry) error {
	cfg := m.Playbook.withDefaults()
	var ok []*pendingEntry
	for _, p := range ps {
		p.Corpus = cmp.Or(p.Corpus, cfg.Corpus)
		p.res.Corpus = p.Corpus
		p.res.Entry = entryID(p.Query, p.AnswerCorpus, p.AnswerID)
		if p.res.Err = m.checkEntry(&p.PlaybookEntry, p.success != nil); p.res.Err == nil {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	texts := make([]string, len(ok))
	for i, p := range ok {
		texts[i] = p.Query
	}
	vecs, err := m.Embedder.Embed(ctx, texts)
	if err != nil {
		return fmt.Errorf("embed query_text: %w", err)
	}

	playbookMu.Lock()
	defer playbookMu.Unlock()
	byCorpus := map[string][]int{}
	var order []string
	for i, p := range ok {
		if byCorpus[p.Corpus] == nil {
			order = append(order, p.Corpus)
		}
		byCorpus[p.Corpus] = append(byCorpus[p.Corpus], i)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, corpus := range order {
		idx := byCorpus[corpus]
		if err := m.openPlaybook(ctx, corpus, len(vecs[0])); err != nil {
			for _, i := range idx {
				ok[i].res.Err = err
			}
			continue
		}
		ids := make([]string, len(idx))
		for j, i := range idx {
			ids[j] = ok[i].res.Entry
		}
		old, err := m.Corpora.Get(corpus, ids)
		if err != nil {
			return fmt.Errorf("playbook %q: %w", corpus, err)
		}
		state := map[string]map[string]any{}
		for _, it := range old {
			state[it.ID] = it.Metadata
		}
		var items []vector.Item
		for _, i := range idx {
			p := ok[i]
			meta := p.next(state[p.res.Entry], now)
			state[p.res.Entry] = meta // a later entry of this call with the same id builds on it
			items = append(items, vector.Item{ID: p.res.Entry, Vector: vecs[i], Text: p.Query, Metadata: meta})
		}
		if _, err := m.Corpora.Upsert(ctx, corpus, items); err != nil {
			return fmt.Errorf("write playbook %q: %w", corpus, err)
		}
	}
	return nil
}

// next returns the metadata p leaves its entry with, given what the entry
// held before (nil when new), and fills p.res.
func (p *pendingEntry) next(prev map[string]any, now string) map[string]any {
	reports, _ := number(prev[metaReports])
	successes, _ := number(prev[metaSuccesses])
	score := p.Score
	tags := p.Tags
	if p.success != nil {
		reports++
		if *p.success {
			successes++
		}
		score = successes / reports
		tags = stringsOf(prev[metaTags]) // an outcome keeps the tags recorded
	}
	if s, ok := number(prev[metaScore]); ok && prev != nil {
		p.res.Previous = &s
	}
	p.res.Score, p.res.Reports, p.res.Successes = score, int(reports), int(successes)
	meta := map[string]any{
		metaAnswerID: p.AnswerID, metaAnswerCorpus: p.AnswerCorpus, metaScore: score,
		metaReports: int(reports), metaSuccesses: int(successes), metaUpdated: now,
	}
	if len(tags) > 0 {
		meta[metaTags] = tags
	}
	return meta
}

// checkEntry refuses an entry the caller got wrong, saying what to do.
// An outcome (reported) carries no score of its own to check.
func (m *Matrix) checkEntry(e *PlaybookEntry, reported bool) error {
	switch {
	case !IsPlaybook(e.Corpus):
		return errs.New(errs.Invalid, "playbook_corpus %q: a playbook's name begins with %q (the default is %q)", e.Corpus, PlaybookPrefix, DefaultPlaybookCorpus)
	case strings.TrimSpace(e.Query) == "":
		return errs.New(errs.Invalid, "query_text is empty: give the question that the answer answered")
	case len(e.Query) > vector.MaxText:
		return errs.New(errs.Invalid, "query_text is %d bytes; at most %d", len(e.Query), vector.MaxText)
	case e.AnswerID == "" || e.AnswerCorpus == "":
		return errs.New(errs.Invalid, "give answer_id and answer_corpus: the item (by id) and the corpus (vector index) that held the answer")
	case IsPlaybook(e.AnswerCorpus):
		return errs.New(errs.Invalid, "answer_corpus %q is a playbook; name the corpus that holds the answer", e.AnswerCorpus)
	case !reported && !(e.Score >= 0 && e.Score <= 1):
		return errs.New(errs.Invalid, "score = %v: give 0 (a wrong answer) to 1 (the right one)", e.Score)
	case len(e.Tags) > maxPlaybookTags:
		return errs.New(errs.Invalid, "%d tags: at most %d", len(e.Tags), maxPlaybookTags)
	}
	for _, tag := range e.Tags {
		if tag == "" || len(tag) > maxPlaybookTagLen {
			return errs.New(errs.Invalid, "tag %q: tags are 1 to %d bytes", tag, maxPlaybookTagLen)
		}
	}
	if _, err := m.Corpora.Info(e.AnswerCorpus); err != nil {
		return fmt.Errorf("answer_corpus: %w", err)
	}
	items, err := m.Corpora.Get(e.AnswerCorpus, []string{e.AnswerID})
	if err != nil {
		return fmt.Errorf("answer_corpus %q: %w", e.AnswerCorpus, err)
	}
	if len(items) == 0 {
		return errs.New(errs.NotFound, "corpus %q holds no item %q; give the id of the item that answered (matrix_search shows ids)", e.AnswerCorpus, e.AnswerID)
	}
	return nil
}

// openPlaybook makes sure playbook name exists, creating it for vectors of
// dim dimensions from the Embedder, and that it is a playbook of them.
func (m *Matrix) openPlaybook(ctx context.Context, name string, dim int) error {
	info, err := m.Corpora.Info(name)
	if errors.Is(err, errs.NotFound) {
		info, err = m.Corpora.Create(ctx, name, vector.Spec{Dim: dim, Metric: vector.Cosine, Model: m.Embedder.Model()})
		if errors.Is(err, errs.Conflict) { // created meanwhile, by a create_index of the same name
			info, err = m.Corpora.Info(name)
		}
	}
	if err != nil {
		return fmt.Errorf("playbook %q: %w", name, err)
	}
	return m.playbookError(info)
}

// playbookError tells why the index of info cannot be a playbook of the
// Embedder, or returns nil.
func (m *Matrix) playbookError(info vector.IndexInfo) error {
	if info.Metric != vector.Cosine || info.Model != m.Embedder.Model() {
		return errs.New(errs.Invalid, "vector index %q is not a playbook of this server: playbooks are cosine indexes of model %s, and it is %s of model %q; name another playbook_corpus", info.Name, m.Embedder.Model(), info.Metric, info.Model)
	}
	return nil
}

// entryID is the id of the entry of query answered by item id of corpus:
// a hash of the three, each length-prefixed so that no two triples meet.
func entryID(query, corpus, id string) string {
	h := sha256.New()
	for _, s := range []string{query, corpus, id} {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// A PlaybookMove says how a playbook entry moved a hit.
type PlaybookMove struct {
	Entry         string  // the entry's id in the playbook
	Query         string  // the entry's query
	QueryDistance float64 // cosine distance from the search's query to the entry's
	Score         float64 // the entry's score
	Factor        float64 // the boost's factor: 1 − Score/2 (see the notes at the top of the file)
	Distance      float32 // the hit's distance before the boost
	HitScore      float32 // the hit's score before the boost
	RankBefore    int     // the hit's rank without the playbook; 0 when it was not among the K
	Injected      bool    // its corpus search had not returned it: fetched from the corpus
}

// PlaybookUse tells what the playbook did in a search.
type PlaybookUse struct {
	Corpus   string
	Near     int    // entries within BoostDistance, of answers in the corpora searched
	Boosted  int    // hits it moved, injected ones included, before the top-K cut
	Injected int    // of which it fetched
	Note     string // why it did less than it could, e.g. the playbook does not exist yet, or a mode that injects nothing
}

// Boost returns distance d moved by factor f (0.5..1) towards better:
// multiplied when d ≥ 0, divided when d < 0 (a dot-product distance).
func Boost(d float32, f float64) float32 {
	if d < 0 {
		return float32(float64(d) / f)
	}
	return float32(float64(d) * f)
}

// boostFactor is the factor of an entry's score: 1 − score/2.
func boostFactor(score float64) float64 { return 1 - 0.5*score }

// nearEntry is one playbook entry near the query.
type nearEntry struct {
	PlaybookMove
	corpus, id string // the answer
}

// playbookRun is the playbook side of a search.
type playbookRun struct {
	use  PlaybookUse
	near map[string]nearEntry // by answer key, the entry that moves it most
	err  error
}

// playbookCorpus returns the playbook a query consults, or "" for none.
func (m *Matrix) playbookCorpus(q *Query) (string, error) {
	switch {
	case !q.UsePlaybook && q.PlaybookCorpus != "":
		return "", errs.New(errs.Invalid, "playbook_corpus applies with use_playbook only; add use_playbook: true, or leave playbook_corpus out")
	case !q.UsePlaybook:
		return "", nil
	case q.PlaybookCorpus != "" && !IsPlaybook(q.PlaybookCorpus):
		return "", errs.New(errs.Invalid, "playbook_corpus %q: a playbook's name begins with %q (the default is %q)", q.PlaybookCorpus, PlaybookPrefix, DefaultPlaybookCorpus)
	}
	return cmp.Or(q.PlaybookCorpus, m.Playbook.withDefaults().Corpus), nil
}

// consult finds the entries of playbook name within BoostDistance of query
// whose answers lie in the corpora searched and are not excluded, keeping
// for each answer the entry that moves it most (the highest score, then the
// nearest query). A playbook that does not exist yet has no entries.
func (m *Matrix) consult(ctx context.Context, name string, query []float32, names []string, skips map[string]map[string]bool) *playbookRun {
	run := &playbookRun{use: PlaybookUse{Corpus: name}, near: map[string]nearEntry{}}
	info, err := m.Corpora.Info(name)
	if errors.Is(err, errs.NotFound) {
		run.use.Note = fmt.Sprintf("playbook %q does not exist yet: record_playbook creates it", name)
		return run
	}
	if err == nil {
		err = m.playbookError(info)
	}
	var hits []vector.Hit
	if err == nil {
		hits, err = m.Corpora.Search(ctx, name, query, vector.SearchOptions{K: maxNearEntries, Filter: vector.Filter{metaAnswerCorpus: names}})
	}
	if err != nil {
		run.err = fmt.Errorf("playbook %q: %w (search without use_playbook meanwhile)", name, err)
		return run
	}
	cfg := m.Playbook.withDefaults()
	for _, h := range hits {
		if float64(h.Distance) > cfg.BoostDistance {
			break // nearest first
		}
		score, _ := number(h.Metadata[metaScore])
		e := nearEntry{
			PlaybookMove: PlaybookMove{Entry: h.ID, Query: h.Text, QueryDistance: float64(h.Distance), Score: score, Factor: boostFactor(score)},
			corpus:       stringOf(h.Metadata[metaAnswerCorpus]), id: stringOf(h.Metadata[metaAnswerID]),
		}
		key := e.corpus + ":" + e.id
		if score <= 0 || skips[e.corpus][e.id] {
			continue
		}
		run.use.Near++
		if best, ok := run.near[key]; !ok || e.Factor < best.Factor {
			run.near[key] = e
		}
	}
	return run
}

// apply boosts the hits of runs that entries of pb recorded, adds those
// within InjectDistance that their corpus did not return, scored by the
// corpus as its search scores hits, and re-sorts each corpus's hits by
// score.
func (m *Matrix) apply(ctx context.Context, pb *playbookRun, runs []*corpusRun, q *Query, mode vector.Mode) error {
	inject := m.Playbook.withDefaults().InjectDistance
	missed := 0 // answers to inject that their corpus could not score
	for _, r := range live(runs) {
		r.moves = map[string]*PlaybookMove{}
		have := map[string]bool{}
		for i := range r.hits {
			h := &r.hits[i]
			have[h.ID] = true
			if e, ok := pb.near[r.info.Name+":"+h.ID]; ok {
				r.boost(h, e.PlaybookMove, mode)
			}
		}
		var fetch []string
		for _, e := range pb.near {
			if e.corpus == r.info.Name && !have[e.id] && e.QueryDistance <= inject {
				fetch = append(fetch, e.id)
			}
		}
		if len(fetch) > 0 {
			n, err := m.inject(ctx, pb, r, fetch, q, mode)
			if err != nil {
				return err
			}
			missed += len(fetch) - n
		}
		pb.use.Boosted += len(r.moves)
		// Score orders every mode (under dense it falls as the distance
		// grows); equal scores by distance.
		slices.SortStableFunc(r.hits, func(a, b vector.Hit) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Distance, b.Distance))
		})
	}
	if missed > 0 {
		pb.use.Note = fmt.Sprintf("%d recorded answer(s) near this query were not injected: they are gone from their corpus, do not match the filter or min_score, or (mode lexical) hold no word of the query", missed)
	}
	return nil
}

// inject asks r's corpus for the items ids, which its search did not
// return, scored as that search scores its hits (see
// vector.SearchOptions.Only), adds those it scores to r's hits, boosted,
// and returns how many.
func (m *Matrix) inject(ctx context.Context, pb *playbookRun, r *corpusRun, ids []string, q *Query, mode vector.Mode) (int, error) {
	slices.Sort(ids)
	opts := vector.SearchOptions{Mode: mode, QueryText: q.Text, Filter: q.Filter, MinScore: q.MinScore, Only: ids}
	hits, err := m.Corpora.Search(ctx, r.info.Name, r.query, opts)
	if err != nil {
		return 0, corpusError(r.info.Name, err)
	}
	for _, h := range hits {
		move := pb.near[r.info.Name+":"+h.ID].PlaybookMove
		move.Injected = true
		r.hits = append(r.hits, h)
		r.boost(&r.hits[len(r.hits)-1], move, mode)
		pb.use.Injected++
	}
	return len(hits), nil
}

// boost moves hit h of r, found in mode, by move, noting the move (see
// the notes at the top of the file).
func (r *corpusRun) boost(h *vector.Hit, move PlaybookMove, mode vector.Mode) {
	move.Distance, move.HitScore = h.Distance, h.Score
	switch mode {
	case vector.Dense:
		h.Distance = Boost(h.Distance, move.Factor)
		h.Score = score(r.info.Metric, h.Distance)
	case vector.Lexical:
		h.Distance = Boost(h.Distance, move.Factor) // −BM25, so divided
		h.Score = -h.Distance
	case vector.Hybrid:
		h.Score = float32(1 - float64(1-h.Score)*move.Factor)
	}
	r.moves[h.ID] = &move
}

// score is the search score of distance d under metric.
func score(metric vector.Metric, d float32) float32 {
	if metric == vector.Cosine {
		return 1 - d
	}
	return -d
}

// number reads a metadata number: the vector index gives them back as
// json.Number.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// stringsOf reads a metadata list of strings, as stored or read back.
func stringsOf(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		var out []string
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// rankBefore notes, on each moved hit, its rank in before.
func rankBefore(hits, before []Hit) {
	for i := range hits {
		if mv := hits[i].Playbook; mv != nil {
			if j := slices.IndexFunc(before, func(b Hit) bool { return b.Corpus == hits[i].Corpus && b.ID == hits[i].ID }); j >= 0 {
				mv.RankBefore = j + 1
			}
		}
	}
}
