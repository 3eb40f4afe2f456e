package tools

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"lakehouse/backends/errs"
	"lakehouse/backends/matrix"
	"lakehouse/backends/vector"
)

type matrixSearchIn struct {
	QueryText      string             `json:"query_text,omitempty"`
	QueryVector    []float32          `json:"query_vector,omitempty"`
	Mode           string             `json:"mode,omitempty"`
	Corpora        []string           `json:"corpora,omitempty" jsonschema:"default all"`
	K              int                `json:"k,omitempty" jsonschema:"default 10, max 1000"`
	PerCorpusK     int                `json:"per_corpus_k,omitempty"`
	Merge          string             `json:"merge,omitempty" jsonschema:"distance, rrf or weighted"`
	Weights        map[string]float64 `json:"weights,omitempty"`
	Filter         map[string]any     `json:"filter,omitempty"`
	ExcludeIDs     []string           `json:"exclude_ids,omitempty"`
	MinScore       *float64           `json:"min_score,omitempty"`
	Partial        bool               `json:"partial,omitempty"`
	MaxTextBytes   int                `json:"max_text_bytes,omitempty" jsonschema:"default 1000"`
	UsePlaybook    bool               `json:"use_playbook,omitempty"`
	PlaybookCorpus string             `json:"playbook_corpus,omitempty"`
	Rerank         *rerankIn          `json:"rerank,omitempty"`
}

type rerankIn struct {
	Relevance *relevanceRerankIn `json:"relevance,omitempty"`
}

type relevanceRerankIn struct {
	Focus     focusIn  `json:"focus"`
	Threshold *float64 `json:"threshold,omitempty" jsonschema:"default 0.3"`
}

type rerankUse struct {
	Threshold  float64 `json:"threshold"`
	Candidates int     `json:"candidates" jsonschema:"merged hits scored for relevance"`
	Dropped    int     `json:"dropped" jsonschema:"of which scored below threshold; when fewer than k hits came back, the corpora hold no more relevant ones among what was searched: raise per_corpus_k or lower threshold"`
}

type matrixSearchOut struct {
	Mode      string         `json:"mode" jsonschema:"the mode every corpus was searched in: dense, lexical or hybrid"`
	Merge     string         `json:"merge" jsonschema:"the merge used: distance, rrf or weighted"`
	Hits      []matrixHit    `json:"hits" jsonschema:"best first"`
	Corpora   []corpusSearch `json:"corpora" jsonschema:"each corpus searched, in the order searched"`
	Truncated bool           `json:"truncated,omitempty" jsonschema:"the hits after these did not fit in one result; ask for a smaller k or max_text_bytes"`
	Playbook  *playbookUse   `json:"playbook,omitempty" jsonschema:"what the playbook did, with use_playbook"`
	Rerank    *rerankUse     `json:"rerank,omitempty" jsonschema:"what the rerank did, with rerank"`
}

type playbookUse struct {
	Corpus   string `json:"corpus"`
	Near     int    `json:"near" jsonschema:"entries whose query is near enough to this one to boost their answers"`
	Boosted  int    `json:"boosted" jsonschema:"hits they moved, before the cut to k"`
	Injected int    `json:"injected" jsonschema:"of which the search had missed and the playbook fetched"`
	Note     string `json:"note,omitempty"`
}

type playbookMove struct {
	Entry         string  `json:"entry" jsonschema:"the entry's id in the playbook"`
	Query         string  `json:"query" jsonschema:"the past query it recorded"`
	QueryDistance float64 `json:"query_distance" jsonschema:"cosine distance from this query to that one"`
	Score         float64 `json:"score" jsonschema:"the entry's score, 0 (wrong) to 1 (right)"`
	Factor        float64 `json:"factor" jsonschema:"the boost's factor, 1 - score/2: distance × factor (dense), BM25 ÷ factor (lexical), 1 - (1 - fused score) × factor (hybrid)"`
	DistanceWas   float32 `json:"distance_was" jsonschema:"the hit's distance before; in modes dense and lexical distance is the boosted one"`
	ScoreWas      float32 `json:"score_was" jsonschema:"the hit's score in its corpus before the boost"`
	RankWas       int     `json:"rank_was,omitempty" jsonschema:"its rank without the playbook; absent when it was not among the k"`
	Injected      bool    `json:"injected,omitempty" jsonschema:"the search had missed it: fetched from its corpus"`
}

type matrixHit struct {
	Corpus    string          `json:"corpus"`
	ID        string          `json:"id"`
	Rank      int             `json:"rank" jsonschema:"place in the merged result, from 1"`
	Score     float64         `json:"score" jsonschema:"the merged score, higher is better. distance: the hit's score in its corpus (dense: cosine similarity, dot product, or -distance for l2; hybrid: the fused score); rrf: 1/(60 + its rank in its corpus); weighted: its corpus's weight × its score min-max normalised over its corpus's hits (0..1)"`
	Distance  float32         `json:"distance" jsonschema:"distance in its corpus: cosine 1 - similarity, l2 euclidean, dot -dot; in mode lexical -BM25"`
	Lexical   float32         `json:"lexical,omitempty" jsonschema:"the BM25 score of its text for query_text; modes lexical and hybrid"`
	Text      string          `json:"text,omitempty"`
	TextBytes int             `json:"text_bytes,omitempty" jsonschema:"size of the whole text, when it was cut"`
	TextCut   bool            `json:"text_cut,omitempty"`
	Metadata  map[string]any  `json:"metadata,omitempty"`
	Playbook  *playbookMove   `json:"playbook,omitempty" jsonschema:"the playbook entry that moved this hit, and by how much"`
	Relevance *float64        `json:"relevance,omitempty" jsonschema:"with rerank: its relevance to the focus, by which the hits are ordered"`
	Reasons   []matrix.Reason `json:"reasons,omitempty" jsonschema:"with rerank: the signals its relevance adds up from"`
}

type corpusSearch struct {
	Corpus    string  `json:"corpus"`
	Returned  int     `json:"returned" jsonschema:"hits it gave the merge, after exclude_ids and min_score"`
	ElapsedMS float64 `json:"elapsed_ms"`
	Error     string  `json:"error,omitempty" jsonschema:"why it could not be searched (only with partial: true)"`
}

type listCorporaOut struct {
	Corpora     []corpusOut       `json:"corpora"`
	Unavailable map[string]string `json:"unavailable,omitempty" jsonschema:"indexes whose files are damaged, with the reason; drop_index removes them"`
	Embedder    string            `json:"embedder" jsonschema:"the model query_text is embedded with"`
}

type corpusOut struct {
	Name      string `json:"name"`
	Items     int    `json:"items"`
	Dims      int    `json:"dims"`
	Metric    string `json:"metric"`
	Model     string `json:"model" jsonschema:"embedding model that built it; empty for vectors given by callers"`
	Engine    string `json:"engine" jsonschema:"flat (exact scan) or hnsw"`
	QueryText bool   `json:"query_text" jsonschema:"matrix_search can search it by query_text's meaning, modes hybrid and dense (it was built with the server's embedder); otherwise by a query_vector of its dims, or by query_text in mode lexical"`
	Playbook  bool   `json:"playbook,omitempty" jsonschema:"a playbook of past outcomes (record_playbook): searched only when named in corpora"`
}

type playbookEntryIn struct {
	QueryText      string   `json:"query_text,omitempty"`
	AnswerID       string   `json:"answer_id,omitempty"`
	AnswerCorpus   string   `json:"answer_corpus,omitempty"`
	Score          *float64 `json:"score,omitempty" jsonschema:"0 (wrong) to 1 (right)"`
	Tags           []string `json:"tags,omitempty" jsonschema:"up to 32"`
	PlaybookCorpus string   `json:"playbook_corpus,omitempty"`
}

type recordPlaybookIn struct {
	playbookEntryIn
	Entries []playbookEntryIn `json:"entries,omitempty" jsonschema:"instead of one"`
}

type recordPlaybookOut struct {
	Recorded int                `json:"recorded" jsonschema:"entries written"`
	Failed   int                `json:"failed,omitempty" jsonschema:"entries refused, each with its error"`
	Entries  []playbookEntryOut `json:"entries" jsonschema:"one per entry given, in order"`
}

type playbookEntryOut struct {
	Entry          string   `json:"entry,omitempty" jsonschema:"its id in the playbook: a hash of query_text, answer_corpus and answer_id, so recording them again replaces the score"`
	PlaybookCorpus string   `json:"playbook_corpus"`
	Score          float64  `json:"score"`
	PreviousScore  *float64 `json:"previous_score,omitempty" jsonschema:"its score before, when it was recorded already"`
	Reports        int      `json:"reports,omitempty" jsonschema:"outcomes reported for it through record_event"`
	Error          string   `json:"error,omitempty" jsonschema:"why this entry was not recorded"`
}

func matrixTools(b *Backends) []Tool {
	return []Tool{
		fromOutside(define("matrix_search",
			"Search several indexes (corpora, see list_corpora) with one query into one merged ranking. use_playbook boosts answers recorded as right; rerank keeps hits relevant to a file under review.",
			readOnly("Search across corpora"), b.matrixSearch)),
		define("list_corpora",
			"List the corpora matrix_search searches, whether query_text reaches them by meaning, and playbooks.",
			readOnly("List corpora"), b.listCorpora),
		define("record_playbook",
			"Record that answer_id in answer_corpus (a matrix_search hit) was right (score 1) or wrong (0) for query_text, so use_playbook ranks it for similar queries.",
			destructive("Record playbook outcomes"), b.recordPlaybook),
	}
}

// matrixEngine is the matrix engine over the server's indexes and embedder.
func (b *Backends) matrixEngine() *matrix.Matrix {
	return &matrix.Matrix{Corpora: b.Vectors, Embedder: b.Embed, Playbook: b.Playbook}
}

func (b *Backends) matrixSearch(ctx context.Context, in matrixSearchIn) (matrixSearchOut, error) {
	maxText, err := hitTextCap(in.MaxTextBytes)
	if err != nil {
		return matrixSearchOut{}, err
	}
	rerank, err := in.Rerank.query()
	if err != nil {
		return matrixSearchOut{}, err
	}
	res, err := b.matrixEngine().Search(ctx, matrix.Query{
		Text: in.QueryText, Vector: in.QueryVector, Mode: vector.Mode(in.Mode), Corpora: in.Corpora, K: in.K, PerCorpusK: in.PerCorpusK,
		Merge: matrix.Merge(in.Merge), Weights: in.Weights, Filter: in.Filter, Exclude: in.ExcludeIDs,
		MinScore: in.MinScore, Partial: in.Partial, UsePlaybook: in.UsePlaybook, PlaybookCorpus: in.PlaybookCorpus,
		Rerank: rerank,
	})
	if err != nil {
		return matrixSearchOut{}, err
	}
	found := make([]vector.Hit, len(res.Hits))
	for i, h := range res.Hits {
		found[i] = h.Hit
	}
	capped := capHits("", found, maxText)
	out := matrixSearchOut{Mode: string(res.Mode), Merge: string(res.Merge), Hits: make([]matrixHit, len(capped.Hits)), Truncated: capped.Truncated}
	for i, f := range capped.Hits {
		h := res.Hits[i]
		out.Hits[i] = matrixHit{
			Corpus: h.Corpus, ID: h.ID, Rank: h.Rank, Score: h.Merged, Distance: h.Distance, Lexical: h.Lexical,
			Text: f.Text, TextBytes: f.TextBytes, TextCut: f.TextCut, Metadata: h.Metadata,
			Relevance: h.Relevance, Reasons: h.Reasons,
		}
		if mv := h.Playbook; mv != nil {
			out.Hits[i].Playbook = &playbookMove{
				Entry: mv.Entry, Query: mv.Query, QueryDistance: mv.QueryDistance, Score: mv.Score, Factor: mv.Factor,
				DistanceWas: mv.Distance, ScoreWas: mv.HitScore, RankWas: mv.RankBefore, Injected: mv.Injected,
			}
		}
	}
	if u := res.Playbook; u != nil {
		out.Playbook = &playbookUse{Corpus: u.Corpus, Near: u.Near, Boosted: u.Boosted, Injected: u.Injected, Note: u.Note}
	}
	if u := res.Rerank; u != nil {
		out.Rerank = &rerankUse{Threshold: u.Threshold, Candidates: u.Candidates, Dropped: u.Dropped}
	}
	for _, c := range res.Corpora {
		s := corpusSearch{Corpus: c.Name, Returned: c.Returned, ElapsedMS: float64(c.Elapsed.Microseconds()) / 1000}
		if c.Err != nil {
			s.Error = c.Err.Error()
		}
		out.Corpora = append(out.Corpora, s)
	}
	return out, nil
}

// query returns the rerank of matrix_search's arguments, or nil.
func (r *rerankIn) query() (*matrix.Rerank, error) {
	switch {
	case r == nil:
		return nil, nil
	case r.Relevance == nil:
		return nil, errs.New(errs.Invalid, "rerank names no reranker; give rerank: {relevance: {focus: {path: \"the/file/under_review.go\"}}}, or leave rerank out")
	}
	return &matrix.Rerank{Focus: r.Relevance.Focus.focus(), Threshold: r.Relevance.Threshold}, nil
}

func (b *Backends) listCorpora(context.Context, struct{}) (listCorporaOut, error) {
	out := listCorporaOut{Corpora: []corpusOut{}, Unavailable: b.Vectors.Unavailable(), Embedder: b.Embed.Model()}
	for _, c := range b.matrixEngine().List() {
		out.Corpora = append(out.Corpora, corpusOut{
			Name: c.Name, Items: c.Count, Dims: c.Dim, Metric: string(c.Metric), Model: c.Model, Engine: c.Engine, QueryText: c.Text, Playbook: c.Playbook,
		})
	}
	return out, nil
}

// recordPlaybook records one entry, given by the top-level fields, or the
// entries. The one entry's mistake is the call's error; of several, each
// is reported in its own result.
func (b *Backends) recordPlaybook(ctx context.Context, in recordPlaybookIn) (recordPlaybookOut, error) {
	single := in.playbookEntryIn
	given := in.Entries
	switch {
	case len(given) > 0 && !reflect.ValueOf(single).IsZero():
		return recordPlaybookOut{}, errs.New(errs.Invalid, "give the fields of one entry or entries, not both")
	case len(given) == 0:
		given = []playbookEntryIn{single}
	}
	out := recordPlaybookOut{Entries: make([]playbookEntryOut, len(given))}
	var entries []matrix.PlaybookEntry
	var at []int // where in out each of entries goes
	failed := make([]error, len(given))
	for i, e := range given {
		if e.Score == nil {
			failed[i] = errs.New(errs.Invalid, "score is required: 0 (a wrong answer) to 1 (the right one)")
			continue
		}
		entries = append(entries, matrix.PlaybookEntry{Query: e.QueryText, AnswerID: e.AnswerID, AnswerCorpus: e.AnswerCorpus, Score: *e.Score, Tags: e.Tags, Corpus: e.PlaybookCorpus})
		at = append(at, i)
	}
	if len(entries) > 0 {
		recorded, err := b.matrixEngine().Record(ctx, entries)
		if err != nil {
			return recordPlaybookOut{}, err
		}
		for j, r := range recorded {
			out.Entries[at[j]] = playbookEntryOut{PlaybookCorpus: r.Corpus, Entry: r.Entry, Score: r.Score, PreviousScore: r.Previous, Reports: r.Reports}
			failed[at[j]] = r.Err
		}
	}
	for i, err := range failed {
		if err == nil {
			out.Recorded++
			continue
		}
		if len(in.Entries) == 0 {
			return recordPlaybookOut{}, err
		}
		out.Entries[i] = playbookEntryOut{PlaybookCorpus: cmp.Or(given[i].PlaybookCorpus, out.Entries[i].PlaybookCorpus), Error: err.Error()}
		out.Failed++
	}
	return out, nil
}

// Text renders the hits as a markdown table, then how each corpus went.
func (o matrixSearchOut) Text() string {
	var sb strings.Builder
	if o.Rerank == nil {
		sb.WriteString("| rank | corpus | id | score | distance | text |\n|---|---|---|---|---|---|")
	} else {
		sb.WriteString("| rank | corpus | id | score | distance | relevance | reasons | text |\n|---|---|---|---|---|---|---|---|")
	}
	for _, h := range o.Hits {
		fmt.Fprintf(&sb, "\n| %d | %s | %s | %.4g | %.4g |", h.Rank, cell(h.Corpus), cell(h.ID), h.Score, h.Distance)
		if h.Relevance != nil {
			signals := make([]string, len(h.Reasons))
			for i, r := range h.Reasons {
				signals[i] = fmt.Sprintf("%s %+.4g", r.Signal, r.Weight)
			}
			fmt.Fprintf(&sb, " %.4g | %s |", *h.Relevance, cell(strings.Join(signals, ", ")))
		}
		fmt.Fprintf(&sb, " %s |", cell(h.Text))
	}
	fmt.Fprintf(&sb, "\n\n%d hit(s), mode %s, merged by %s", len(o.Hits), o.Mode, o.Merge)
	if r := o.Rerank; r != nil {
		fmt.Fprintf(&sb, "; reranked by relevance: %d of %d candidates dropped below %.4g", r.Dropped, r.Candidates, r.Threshold)
	}
	if p := o.Playbook; p != nil {
		fmt.Fprintf(&sb, "; playbook %s: %d entries near, %d hit(s) boosted, %d injected", p.Corpus, p.Near, p.Boosted, p.Injected)
		if p.Note != "" {
			fmt.Fprintf(&sb, " (%s)", p.Note)
		}
	}
	if o.Truncated {
		sb.WriteString(", truncated: more hits did not fit (ask for a smaller k or max_text_bytes)")
	}
	for _, c := range o.Corpora {
		fmt.Fprintf(&sb, "\n- %s: %d hit(s) in %.1f ms", c.Corpus, c.Returned, c.ElapsedMS)
		if c.Error != "" {
			fmt.Fprintf(&sb, ", failed: %s", c.Error)
		}
	}
	return sb.String()
}

// Text renders the corpora as a markdown table.
func (o listCorporaOut) Text() string {
	var sb strings.Builder
	sb.WriteString("| name | items | dims | metric | model | engine | query_text |\n|---|---|---|---|---|---|---|")
	for _, c := range o.Corpora {
		name := c.Name
		if c.Playbook {
			name += " (playbook)"
		}
		fmt.Fprintf(&sb, "\n| %s | %d | %d | %s | %s | %s | %t |", name, c.Items, c.Dims, c.Metric, cell(c.Model), c.Engine, c.QueryText)
	}
	fmt.Fprintf(&sb, "\n\n%d corpora; query_text is embedded with %s", len(o.Corpora), o.Embedder)
	for _, name := range slices.Sorted(maps.Keys(o.Unavailable)) {
		fmt.Fprintf(&sb, "\n- %s is unavailable: %s", name, o.Unavailable[name])
	}
	return sb.String()
}
