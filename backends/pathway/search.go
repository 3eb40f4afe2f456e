package pathway

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"lakehouse/backends/errs"
	"lakehouse/backends/vector"
)

// SearchOptions select and order traces. The zero value lists the 20
// newest active traces.
type SearchOptions struct {
	Query             string    // ranks by Mode; "" lists newest first
	Mode              Mode      // what a query ranks by; "" means DefaultMode
	MinScore          *float64  // with a query, leaves out traces whose Score is below it; nil keeps them all
	TagsAll           []string  // traces carrying every one of these tags
	TagsAny           []string  // traces carrying at least one of these tags
	IncludeRetired    bool      // retired traces too
	IncludeSuperseded bool      // superseded (revised) traces too
	CreatedAfter      time.Time // created strictly after; zero means no bound
	CreatedBefore     time.Time // created strictly before; zero means no bound
	Limit             int       // traces per page; 0 means DefaultLimit, at most 200 (more is cut to 200)
	Cursor            string    // NextCursor of the previous page of the same search
}

// SearchResult is one page of a search.
type SearchResult struct {
	Traces     []Match `json:"traces"`
	NextCursor string  `json:"next_cursor,omitempty"` // "" on the last page
}

// Match is a trace found by a search.
type Match struct {
	Trace
	Score float64 `json:"score,omitempty"` // with a query: the mode's score of its text + 0.2 × tag fraction (see the package doc)
}

// Mode is what a query search ranks traces by; its values are those of
// the vector index's search (see [vector.Mode] for their scores).
type Mode = vector.Mode

// The modes, and the one a query search uses when none is given.
const (
	Dense       = vector.Dense   // by the cosine similarity of the trace's text to the query
	Lexical     = vector.Lexical // by BM25 of the trace's text for the query's words
	Hybrid      = vector.Hybrid  // by both, fused on a scale of 0 to 1
	DefaultMode = Hybrid
)

// cursor is the decoded form of SearchResult.NextCursor.
type cursor struct {
	Query  bool   `json:"q,omitempty"`
	Offset int    `json:"o,omitempty"` // query: results already returned
	Seq    int    `json:"s,omitempty"` // list: creation position of the last trace returned
	Hash   uint64 `json:"h"`           // of the search options, so a cursor is not used for another search
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, query bool, hash uint64) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	switch {
	case err != nil:
		return c, errs.New(errs.Invalid, "cursor %q is malformed; pass next_cursor from the previous page unchanged, or no cursor to start over", s)
	case c.Query != query || c.Hash != hash:
		return c, errs.New(errs.Invalid, "cursor belongs to a different search; repeat the same query and filters with it, or drop the cursor to start over")
	case c.Offset < 0 || c.Seq < 0:
		return c, errs.New(errs.Invalid, "cursor %q is out of range; drop it to start over", s)
	}
	return c, nil
}

// search is SearchOptions checked.
type search struct {
	SearchOptions
	limit int
	words []string // of the query
}

// modes lists the modes, for checkSearch's error message.
const modes = "dense (meaning), lexical (exact words: identifiers, error codes, names) or hybrid (both; the default)"

func (p *Pathway) checkSearch(opts SearchOptions) (*search, error) {
	s := &search{SearchOptions: opts, limit: opts.Limit}
	switch {
	case s.limit < 0:
		return nil, errs.New(errs.Invalid, "limit = %d; ask for 1 to %d traces per page (0 means %d)", s.limit, MaxLimit, DefaultLimit)
	case s.limit == 0:
		s.limit = DefaultLimit
	case s.limit > MaxLimit:
		s.limit = MaxLimit
	}
	if len(opts.Query) > p.cfg.MaxTextBytes {
		return nil, errs.New(errs.TooLarge, "query is %d bytes; the limit is %d", len(opts.Query), p.cfg.MaxTextBytes)
	}
	var err error
	if len(opts.TagsAll) > 0 {
		if s.TagsAll, err = p.checkTags(opts.TagsAll); err != nil {
			return nil, errs.New(errs.Invalid, "tags_all: %v", err)
		}
	}
	if len(opts.TagsAny) > 0 {
		if s.TagsAny, err = p.checkTags(opts.TagsAny); err != nil {
			return nil, errs.New(errs.Invalid, "tags_any: %v", err)
		}
	}
	switch s.Mode {
	case "":
		s.Mode = DefaultMode
	case Dense, Lexical, Hybrid:
	default:
		return nil, errs.New(errs.Invalid, "unknown search mode %q; use %s", string(s.Mode), modes)
	}
	if m := opts.MinScore; m != nil && (math.IsNaN(*m) || math.IsInf(*m, 0)) {
		return nil, errs.New(errs.Invalid, "min_score = %v; give a finite number, or none to keep every trace", *m)
	}
	if !opts.CreatedAfter.IsZero() && !opts.CreatedBefore.IsZero() && !opts.CreatedAfter.Before(opts.CreatedBefore) {
		return nil, errs.New(errs.Invalid, "created_after (%s) is not before created_before (%s); no trace can match", opts.CreatedAfter.Format(time.RFC3339), opts.CreatedBefore.Format(time.RFC3339))
	}
	s.Query = strings.TrimSpace(opts.Query)
	s.words = words(s.Query)
	return s, nil
}

// hash identifies the search apart from its page.
func (s *search) hash() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%q|%q|%q|%t|%t|%d|%d|%s", s.Query, s.TagsAll, s.TagsAny, s.IncludeRetired, s.IncludeSuperseded,
		s.CreatedAfter.UnixNano(), s.CreatedBefore.UnixNano(), s.Mode)
	if s.MinScore != nil {
		fmt.Fprintf(h, "|%v", *s.MinScore)
	}
	return h.Sum64()
}

// matches reports whether t passes the filters of s.
func (s *search) matches(t *Trace) bool {
	switch t.State() {
	case StateRetired:
		if !s.IncludeRetired {
			return false
		}
	case StateSuperseded:
		if !s.IncludeSuperseded {
			return false
		}
	}
	if !s.CreatedAfter.IsZero() && !t.CreatedAt.After(s.CreatedAfter) {
		return false
	}
	if !s.CreatedBefore.IsZero() && !t.CreatedAt.Before(s.CreatedBefore) {
		return false
	}
	for _, tag := range s.TagsAll {
		if !slices.Contains(t.Tags, tag) {
			return false
		}
	}
	if len(s.TagsAny) > 0 && !slices.ContainsFunc(s.TagsAny, func(tag string) bool { return slices.Contains(t.Tags, tag) }) {
		return false
	}
	return true
}

// Search finds traces. With a query, it ranks traces by meaning and
// keywords (see the package doc) after waiting, as long as ctx allows, for
// the index to catch up with the writes acknowledged before the call;
// without one, it lists them newest first. Retired and superseded traces
// are left out unless asked for.
func (p *Pathway) Search(ctx context.Context, opts SearchOptions) (SearchResult, error) {
	if err := ctx.Err(); err != nil {
		return SearchResult{}, err
	}
	s, err := p.checkSearch(opts)
	if err != nil {
		return SearchResult{}, err
	}
	var cur cursor
	if opts.Cursor != "" {
		if cur, err = decodeCursor(opts.Cursor, s.Query != "", s.hash()); err != nil {
			return SearchResult{}, err
		}
	}
	if s.Query == "" {
		return p.list(s, cur, opts.Cursor != "")
	}
	return p.rank(ctx, s, cur)
}

// list returns a page of traces newest first, starting below cur.Seq when
// hasCursor.
func (p *Pathway) list(s *search, cur cursor, hasCursor bool) (SearchResult, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.unusable(); err != nil {
		return SearchResult{}, err
	}
	i := len(p.order) - 1
	if hasCursor {
		i = min(i, cur.Seq-1)
	}
	if !s.CreatedBefore.IsZero() {
		// created_at grows with creation order: skip the newer ones at once.
		first := sort.Search(len(p.order), func(j int) bool { return !p.order[j].CreatedAt.Before(s.CreatedBefore) })
		i = min(i, first-1)
	}
	res := SearchResult{Traces: make([]Match, 0, min(s.limit, 64))}
	for ; i >= 0; i-- {
		e := p.order[i]
		if !s.CreatedAfter.IsZero() && !e.CreatedAt.After(s.CreatedAfter) {
			break
		}
		if !s.matches(e) {
			continue
		}
		if len(res.Traces) == s.limit {
			// There is at least one more: the page ends at the last one taken.
			last := res.Traces[len(res.Traces)-1]
			res.NextCursor = cursor{Seq: p.traces[last.UID].seq, Hash: s.hash()}.encode()
			break
		}
		res.Traces = append(res.Traces, Match{Trace: *e})
	}
	return res, nil
}

// rank returns a page of the traces that rank highest for the query.
func (p *Pathway) rank(ctx context.Context, s *search, cur cursor) (SearchResult, error) {
	if err := p.idx.wait(ctx); err != nil {
		return SearchResult{}, err
	}
	var q []float32
	if s.Mode != Lexical {
		v, err := p.embedQuery(ctx, s.Query)
		if err != nil {
			return SearchResult{}, err
		}
		q = v
	}
	hits, err := p.vec.Search(ctx, indexName, q, vector.SearchOptions{K: SearchPool, Filter: s.filter(), Mode: s.Mode, QueryText: s.Query})
	if errs.KindOf(err) == errs.Invalid {
		return SearchResult{}, errs.New(errs.Invalid, "query %q cannot be searched in mode %s (%v): give words, or leave query out to list traces newest first", s.Query, s.Mode, err)
	}
	if err != nil {
		return SearchResult{}, fmt.Errorf("search trace index: %w", err)
	}

	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.unusable(); err != nil {
		return SearchResult{}, err
	}
	type ranked struct {
		e     *Trace
		score float64
	}
	all := make([]ranked, 0, len(hits))
	for _, h := range hits {
		e, ok := p.traces[h.ID]
		if !ok || !s.matches(e) {
			continue
		}
		score := float64(h.Score) + tagWeight*tagFraction(s.words, e)
		if s.MinScore != nil && score < *s.MinScore {
			continue
		}
		all = append(all, ranked{e, score})
	}
	slices.SortFunc(all, func(a, b ranked) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.e.seq, a.e.seq); c != 0 { // newer first
			return c
		}
		return strings.Compare(a.e.UID, b.e.UID)
	})
	res := SearchResult{Traces: []Match{}}
	from := min(cur.Offset, len(all))
	to := min(from+s.limit, len(all))
	for _, r := range all[from:to] {
		res.Traces = append(res.Traces, Match{Trace: *r.e, Score: r.score})
	}
	if to < len(all) {
		res.NextCursor = cursor{Query: true, Offset: to, Hash: s.hash()}.encode()
	}
	return res, nil
}

// embedQuery returns the vector of a query, for the dense and hybrid modes.
func (p *Pathway) embedQuery(ctx context.Context, query string) ([]float32, error) {
	vecs, err := p.emb.Embed(ctx, []string{query})
	if errs.KindOf(err) == errs.Invalid {
		return nil, errs.New(errs.Invalid, "query %q cannot be searched by meaning (%v): give words, use mode lexical, or leave query out to list traces newest first", query, err)
	}
	if err != nil {
		return nil, fmt.Errorf("embed query: %w", err)
	}
	if len(vecs) != 1 {
		return nil, fmt.Errorf("embed query: got %d vectors", len(vecs))
	}
	return usable(vecs[0]), nil
}

// filter is the index filter of s. It narrows the candidates; rank applies
// the exact filter again to the traces as they are now.
func (s *search) filter() vector.Filter {
	states := []any{StateActive}
	if s.IncludeRetired {
		states = append(states, StateRetired)
	}
	if s.IncludeSuperseded {
		states = append(states, StateSuperseded)
	}
	f := vector.Filter{"state": states}
	for _, tag := range s.TagsAll {
		f["tag:"+tag] = true
	}
	if len(s.TagsAny) > 0 {
		any := make([]any, len(s.TagsAny))
		for i, tag := range s.TagsAny {
			any[i] = tag
		}
		f["tags"] = any
	}
	if !s.CreatedAfter.IsZero() || !s.CreatedBefore.IsZero() {
		r := map[string]any{}
		if !s.CreatedAfter.IsZero() {
			r["gte"] = s.CreatedAfter.Unix()
		}
		if !s.CreatedBefore.IsZero() {
			r["lte"] = s.CreatedBefore.Unix()
		}
		f["created"] = r
	}
	return f
}

// words returns the distinct lower-case words of text of two or more
// characters.
func words(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if utf8.RuneCountInString(w) >= 2 && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// tagFraction is the fraction of the query words that are words of t's
// tags. The index matches the query against the trace's text only, so this
// is how a tag the agent chose counts in every mode.
func tagFraction(query []string, t *Trace) float64 {
	if len(query) == 0 || len(t.Tags) == 0 {
		return 0
	}
	have := map[string]bool{}
	for _, tag := range t.Tags {
		for _, w := range words(tag) {
			have[w] = true
		}
	}
	n := 0
	for _, w := range query {
		if have[w] {
			n++
		}
	}
	return float64(n) / float64(len(query))
}

// Stats counts the traces and their most used tags.
func (p *Pathway) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	p.mu.RLock()
	st := Stats{
		Total:      len(p.order),
		Active:     p.counts.active,
		Retired:    p.counts.retired,
		Superseded: p.counts.superseded,
		TopTags:    make([]TagCount, 0, len(p.counts.tags)),
	}
	for tag, n := range p.counts.tags {
		st.TopTags = append(st.TopTags, TagCount{tag, n})
	}
	err := p.unusable()
	p.mu.RUnlock()
	if err != nil {
		return Stats{}, err
	}
	slices.SortFunc(st.TopTags, func(a, b TagCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	st.TopTags = st.TopTags[:min(len(st.TopTags), 20)]
	if p.log != nil { // local mode
		st.LogBytes = p.log.Size()
	}
	st.IndexPending = p.idx.pending()
	return st, nil
}

// WaitIndexed returns once the search index holds every trace acknowledged
// before the call and has linked them all into its graph. Searches are
// complete without it; this is for benchmarks and tests that want
// graph-speed searches, or a fully built index on disk at Close.
func (p *Pathway) WaitIndexed(ctx context.Context) error {
	if err := p.idx.wait(ctx); err != nil {
		return err
	}
	return p.vec.WaitIndexed(ctx, indexName)
}
