package tools

import (
	"context"
	"encoding/json"

	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
)

// Traces is what the tools need of the pathway memory.
type Traces interface {
	Add(ctx context.Context, content json.RawMessage, text string, tags []string, uid string) (t pathway.Trace, replayed bool, err error)
	Update(ctx context.Context, uid string, content json.RawMessage, text *string, tags []string) (pathway.Trace, error)
	Revise(ctx context.Context, predecessorUID string, content json.RawMessage, text *string, tags []string) (pathway.Trace, error)
	Retire(ctx context.Context, uid, reason string) (pathway.Trace, error)
	Get(ctx context.Context, uid string) (pathway.Trace, error)
	History(ctx context.Context, uid string) (pathway.History, error)
	Search(ctx context.Context, opts pathway.SearchOptions) (pathway.SearchResult, error)
	Stats(ctx context.Context) (pathway.Stats, error)
}

var _ Traces = (*pathway.Pathway)(nil)

// searchContentBytes is the largest content search_traces returns whole;
// bigger contents are left out, and get_trace returns them.
const searchContentBytes = 4 << 10

type addTraceIn struct {
	Content json.RawMessage `json:"content" jsonschema:"what to remember: any JSON value (an object with what you tried and what came of it, say); at most 1 MiB"`
	Text    string          `json:"text,omitempty" jsonschema:"a searchable summary in words; search_traces ranks by it"`
	Tags    []string        `json:"tags,omitempty" jsonschema:"up to 32 tags of up to 64 characters"`
	UID     string          `json:"uid,omitempty" jsonschema:"your own id for the trace; adding an existing uid again counts a replay and keeps the original"`
}

type addTraceOut struct {
	pathway.Trace
	Replayed bool `json:"replayed" jsonschema:"the uid existed: nothing changed but replay_count"`
}

type updateTraceIn struct {
	UID     string          `json:"uid"`
	Content json.RawMessage `json:"content,omitempty" jsonschema:"new content; omitted keeps the old"`
	Text    *string         `json:"text,omitempty" jsonschema:"new summary; omitted keeps the old"`
	Tags    []string        `json:"tags,omitempty" jsonschema:"new tags, replacing the old; omitted keeps them"`
}

type reviseTraceIn struct {
	PredecessorUID string          `json:"predecessor_uid" jsonschema:"the trace this one improves on; it becomes superseded"`
	Content        json.RawMessage `json:"content" jsonschema:"the revised content (any JSON value)"`
	Text           *string         `json:"text,omitempty" jsonschema:"summary; default the predecessor's"`
	Tags           []string        `json:"tags,omitempty" jsonschema:"tags; default the predecessor's"`
}

type retireTraceIn struct {
	UID    string `json:"uid"`
	Reason string `json:"reason,omitempty" jsonschema:"why it no longer holds"`
}

type traceIn struct {
	UID string `json:"uid"`
}

type searchTracesIn struct {
	Query             string   `json:"query,omitempty" jsonschema:"words to rank by (see mode); omit to list newest first"`
	Mode              string   `json:"mode,omitempty" jsonschema:"how a query ranks. hybrid (the default): meaning and exact words together, best for most searches. lexical: exact words of the text only (BM25), for identifiers, error codes and names. dense: meaning only (cosine similarity)"`
	MinScore          *float64 `json:"min_score,omitempty" jsonschema:"with a query, leave out traces scoring below this, so fewer may come back; default none. Scores by mode, as in search_vectors, plus 0.2 times the share of query words found in the trace's tags: hybrid 0 to 1 (a text holding every query word once scores about 0.45); dense the cosine similarity (-1 to 1); lexical BM25 (0 and up, larger for longer queries)"`
	TagsAll           []string `json:"tags_all,omitempty" jsonschema:"only traces with every one of these tags"`
	TagsAny           []string `json:"tags_any,omitempty" jsonschema:"only traces with at least one of these tags"`
	IncludeRetired    bool     `json:"include_retired,omitempty"`
	IncludeSuperseded bool     `json:"include_superseded,omitempty" jsonschema:"include traces that were revised (by default only the latest revision shows)"`
	CreatedAfter      string   `json:"created_after,omitempty" jsonschema:"only traces created at or after this time: RFC 3339 or a date (YYYY-MM-DD)"`
	CreatedBefore     string   `json:"created_before,omitempty" jsonschema:"only traces created before this time: RFC 3339 or a date (YYYY-MM-DD)"`
	Limit             int      `json:"limit,omitempty" jsonschema:"traces per page, default 20, at most 200"`
	Cursor            string   `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page of the same search"`
}

type foundTrace struct {
	pathway.Match
	bulk
}

// bulk tells a content's size, and whether it was left out of a result
// that lists many traces.
type bulk struct {
	ContentBytes   int  `json:"content_bytes"`
	ContentOmitted bool `json:"content_omitted,omitempty" jsonschema:"content was over 4 KiB and left out; get_trace returns it"`
}

// omitLarge leaves out *content when it is over searchContentBytes.
func omitLarge(content *json.RawMessage) bulk {
	b := bulk{ContentBytes: len(*content)}
	if b.ContentBytes > searchContentBytes {
		*content, b.ContentOmitted = nil, true
	}
	return b
}

type historyOut struct {
	UID    string         `json:"uid"`
	TipUID string         `json:"tip_uid"`
	Traces []historyTrace `json:"traces" jsonschema:"root first"`
}

type historyTrace struct {
	pathway.HistoryEntry
	bulk
}

type searchTracesOut struct {
	Traces     []foundTrace `json:"traces"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func pathwayTools(b *Backends) []Tool {
	return []Tool{
		define("add_trace",
			"Remember something you tried, decided or learned, as a trace: content is any JSON, text a summary in words to find it by, tags to group it. Returns the trace with its uid. Giving a uid that exists is a safe replay (counted, not duplicated). To correct a trace, use revise_trace, which keeps the history.",
			additive("Add trace", true), b.addTrace),
		define("update_trace",
			"Change a trace in place (content, text or tags); the fields you omit stay. For a new version that keeps the old one in history, use revise_trace instead.",
			destructive("Update trace"), b.updateTrace),
		define("revise_trace",
			"Record a better version of a trace: a new trace linked to its predecessor, which becomes superseded and drops out of search (trace_history shows the chain).",
			additive("Revise trace", false), b.reviseTrace),
		define("retire_trace",
			"Mark a trace as no longer valid, with a reason. It disappears from search but get_trace and trace_history still show it.",
			additive("Retire trace", true), b.retireTrace),
		define("get_trace",
			"Read one trace by uid, whole, whatever its state.",
			readOnly("Get trace"), b.getTrace),
		define("trace_history",
			"The revision chain a trace belongs to, from the first version to the latest, marking the one asked for. Contents over 4 KiB are left out (get_trace reads them).",
			readOnly("Trace history"), b.traceHistory),
		define("search_traces",
			"Find traces: with query, ranked by score, best first, among the 500 best (mode hybrid, the default: meaning and exact words of their text together; lexical: exact words only, for error codes and identifiers; dense: meaning only; a query word in a trace's tags adds to its score); without, newest first. Filter by tags, time, and whether to include retired or superseded ones. Contents over 4 KiB are left out (get_trace reads them).",
			readOnly("Search traces"), b.searchTraces),
		define("pathway_stats",
			"Counts of traces: total, active, retired, superseded, and the most used tags.",
			readOnly("Pathway statistics"), b.pathwayStats),
	}
}

// rawContent checks a content argument; nil means none was given. The
// bytes are kept as the caller sent them: big numbers and key order survive.
func rawContent(v json.RawMessage, required bool) (json.RawMessage, error) {
	if len(v) == 0 || string(v) == "null" {
		if required {
			return nil, errs.New(errs.Invalid, "content is required: any JSON value, e.g. {\"tried\": \"...\", \"result\": \"...\"}")
		}
		return nil, nil
	}
	return v, nil
}

func (b *Backends) addTrace(ctx context.Context, in addTraceIn) (addTraceOut, error) {
	content, err := rawContent(in.Content, true)
	if err != nil {
		return addTraceOut{}, err
	}
	t, replayed, err := b.Pathway.Add(ctx, content, in.Text, in.Tags, in.UID)
	return addTraceOut{Trace: t, Replayed: replayed}, err
}

func (b *Backends) updateTrace(ctx context.Context, in updateTraceIn) (pathway.Trace, error) {
	content, err := rawContent(in.Content, false)
	if err != nil {
		return pathway.Trace{}, err
	}
	return b.Pathway.Update(ctx, in.UID, content, in.Text, in.Tags)
}

func (b *Backends) reviseTrace(ctx context.Context, in reviseTraceIn) (pathway.Trace, error) {
	content, err := rawContent(in.Content, true)
	if err != nil {
		return pathway.Trace{}, err
	}
	return b.Pathway.Revise(ctx, in.PredecessorUID, content, in.Text, in.Tags)
}

func (b *Backends) retireTrace(ctx context.Context, in retireTraceIn) (pathway.Trace, error) {
	return b.Pathway.Retire(ctx, in.UID, in.Reason)
}

func (b *Backends) getTrace(ctx context.Context, in traceIn) (pathway.Trace, error) {
	return b.Pathway.Get(ctx, in.UID)
}

func (b *Backends) traceHistory(ctx context.Context, in traceIn) (historyOut, error) {
	h, err := b.Pathway.History(ctx, in.UID)
	if err != nil {
		return historyOut{}, err
	}
	out := historyOut{UID: h.UID, TipUID: h.TipUID, Traces: make([]historyTrace, len(h.Traces))}
	for i, e := range h.Traces {
		out.Traces[i] = historyTrace{HistoryEntry: e}
		out.Traces[i].bulk = omitLarge(&out.Traces[i].Content)
	}
	return out, nil
}

func (b *Backends) searchTraces(ctx context.Context, in searchTracesIn) (searchTracesOut, error) {
	opts := pathway.SearchOptions{
		Query: in.Query, Mode: pathway.Mode(in.Mode), MinScore: in.MinScore,
		TagsAll: in.TagsAll, TagsAny: in.TagsAny,
		IncludeRetired: in.IncludeRetired, IncludeSuperseded: in.IncludeSuperseded,
		Limit: in.Limit, Cursor: in.Cursor,
	}
	var err error
	if opts.CreatedAfter, err = parseTime("created_after", in.CreatedAfter); err != nil {
		return searchTracesOut{}, err
	}
	if opts.CreatedBefore, err = parseTime("created_before", in.CreatedBefore); err != nil {
		return searchTracesOut{}, err
	}
	res, err := b.Pathway.Search(ctx, opts)
	if err != nil {
		return searchTracesOut{}, err
	}
	out := searchTracesOut{Traces: make([]foundTrace, len(res.Traces)), NextCursor: res.NextCursor}
	for i, m := range res.Traces {
		out.Traces[i] = foundTrace{Match: m}
		out.Traces[i].bulk = omitLarge(&out.Traces[i].Content)
	}
	return out, nil
}

func (b *Backends) pathwayStats(ctx context.Context, _ struct{}) (pathway.Stats, error) {
	return b.Pathway.Stats(ctx)
}
