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
	QueryText      string             `json:"query_text,omitempty" jsonschema:"text to search for: matched word for word against the items' texts and, in modes hybrid and dense, embedded once with the server's embedder, so every corpus searched must have been built with it (list_corpora: query_text); mode lexical searches any corpus"`
	QueryVector    []float32          `json:"query_vector,omitempty" jsonschema:"a vector to search for instead of query_text; every corpus searched must have its dimension"`
	Mode           string             `json:"mode,omitempty" jsonschema:"how each corpus ranks, as in search_vectors. hybrid (the default with query_text): meaning and exact words together, best for most searches. lexical: exact words only (BM25 over the items' texts), for identifiers, error codes and names; needs no embedding, so it also reaches corpora of your own vectors. dense: meaning only (vector similarity); the default with query_vector"`
	Corpora        []string           `json:"corpora,omitempty" jsonschema:"names of the vector indexes to search, in order of precedence for ties; default every index but playbooks (list_corpora)"`
	K              int                `json:"k,omitempty" jsonschema:"hits in the merged result: default 10, at most 1000"`
	PerCorpusK     int                `json:"per_corpus_k,omitempty" jsonschema:"hits each corpus contributes at most, before merging: default 2k, at most 1000"`
	Merge          string             `json:"merge,omitempty" jsonschema:"how hits of different corpora are ranked together: distance (one global sort: by distance in mode dense, for corpora of one metric and model; by the fused score in mode hybrid, for cosine corpora; not in mode lexical), rrf (by rank within each corpus, any mode) or weighted (weights over each corpus's scores min-max normalised). Default: weighted when weights are given, else distance where it applies, else rrf"`
	Weights        map[string]float64 `json:"weights,omitempty" jsonschema:"corpus name -> weight (0 or more) for merge weighted; corpora left out weigh 1"`
	Filter         map[string]any     `json:"filter,omitempty" jsonschema:"metadata conditions as in search_vectors, applied inside each corpus's search: {\"key\": value} equals, {\"key\": [a, b]} any of, {\"key\": {\"gte\": 1, \"lt\": 5}} numeric range"`
	ExcludeIDs     []string           `json:"exclude_ids,omitempty" jsonschema:"items to leave out, as corpus:id (e.g. docs:42), such as those you have seen; k hits still come back when enough others exist"`
	MinScore       *float64           `json:"min_score,omitempty" jsonschema:"leave out hits whose score in their own corpus is below this, before merging, as search_vectors' min_score does: hybrid 0 to 1 (a text holding every query word once scores about 0.45); dense the metric's score (cosine similarity, dot product, or -distance for l2); lexical BM25 (0 and up)"`
	Partial        bool               `json:"partial,omitempty" jsonschema:"when a corpus is missing or fails, return the others' hits and its error instead of failing the call"`
	MaxTextBytes   int                `json:"max_text_bytes,omitempty" jsonschema:"cut each hit's text to this many bytes: default 1000, at most 65536"`
	UsePlaybook    bool               `json:"use_playbook,omitempty" jsonschema:"let past outcomes (record_playbook, or record_event with query_text, answer_id and answer_corpus in fields) move answers up: an answer recorded for a query near this one has, with f = 1 - score/2, its distance multiplied by f (dense), its BM25 divided by f (lexical), or its fused score s raised to 1 - (1 - s) f (hybrid); if the search missed it and that query is very near, it is fetched from its corpus and scored there. Such hits say so under playbook"`
	PlaybookCorpus string             `json:"playbook_corpus,omitempty" jsonschema:"the playbook use_playbook consults; default playbook_memory"`
	Rerank         *rerankIn          `json:"rerank,omitempty" jsonschema:"re-order the merged hits by another signal; each corpus is then asked for 5k hits (unless per_corpus_k says) so that k can survive"`
}

type rerankIn struct {
	Relevance *relevanceRerankIn `json:"relevance,omitempty" jsonschema:"score each hit for relevance to one file under review, as score_relevance does (its text; its id as doc_id; its metadata path, or else its corpus, as source), drop those below threshold, and order the rest by relevance, ties in the merged order"`
}

type relevanceRerankIn struct {
	Focus     focusIn  `json:"focus" jsonschema:"the file under review"`
	Threshold *float64 `json:"threshold,omitempty" jsonschema:"relevance below which a hit is dropped, -0.5 to 2.6; default 0.3"`
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
	QueryText      string   `json:"query_text,omitempty" jsonschema:"the question or search that the answer answered (required)"`
	AnswerID       string   `json:"answer_id,omitempty" jsonschema:"id of the item that answered, as matrix_search gave it (required)"`
	AnswerCorpus   string   `json:"answer_corpus,omitempty" jsonschema:"the corpus (vector index) holding it (required)"`
	Score          *float64 `json:"score,omitempty" jsonschema:"how good an answer it was: 0 (wrong) to 1 (right) (required)"`
	Tags           []string `json:"tags,omitempty" jsonschema:"labels kept with the entry, up to 32"`
	PlaybookCorpus string   `json:"playbook_corpus,omitempty" jsonschema:"the playbook to write to, a name beginning playbook_; default playbook_memory, created on first use"`
}

type recordPlaybookIn struct {
	playbookEntryIn
	Entries []playbookEntryIn `json:"entries,omitempty" jsonschema:"several outcomes at once (up to 1000), instead of the fields of one; each gets its own result"`
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
		define("matrix_search",
			"Search several vector indexes (corpora) at once with one query_text or query_vector and get one merged ranking, best first: corpus, id, rank, score, distance, text and metadata. Use it instead of several search_vectors calls when the answer may be in any of your corpora; corpora defaults to every index but playbooks. mode, as in search_vectors: hybrid (default with query_text: meaning and exact words), lexical (exact words only: identifiers, error codes, names; reaches any corpus) or dense (meaning only). merge decides how corpora are ranked together (default one global sort, distance, where scores compare, else rrf; weighted with weights). filter applies inside each corpus; exclude_ids (corpus:id) leaves out hits you have seen; min_score drops weak hits. A missing or failing corpus fails the call unless partial: true. use_playbook: true ranks higher the answers recorded as right (record_playbook, or record_event with query_text, answer_id and answer_corpus in fields) for queries like this one. rerank: {relevance: {focus: {path, content}}} keeps the hits relevant to a file under review, ordered by relevance with reasons (as score_relevance).",
			readOnly("Search across corpora"), b.matrixSearch),
		define("list_corpora",
			"List the corpora matrix_search can search (every vector index): items, dims, metric, embedding model, engine, whether query_text reaches it by meaning (modes hybrid and dense; mode lexical reaches every corpus by its texts' words), and whether it is a playbook.",
			readOnly("List corpora"), b.listCorpora),
		define("record_playbook",
			"Tell the server which answer worked for a query, so matrix_search with use_playbook ranks it higher next time for that query and ones like it: query_text, answer_id and answer_corpus (a hit of matrix_search), score 0 (wrong) to 1 (right). Recording the same query, answer and corpus again replaces the score. entries records several at once, each with its own result. A record_event whose fields carry query_text, answer_id and answer_corpus teaches the playbook too, with its success.",
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
