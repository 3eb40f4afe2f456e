package tools

import (
	"context"
	"encoding/json"
	"math"

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
	Content json.RawMessage `json:"content" jsonschema:"any JSON, up to 1 MiB"`
	Text    string          `json:"text,omitempty"`
	Tags    []string        `json:"tags,omitempty" jsonschema:"up to 32"`
	UID     string          `json:"uid,omitempty" jsonschema:"re-adding is a no-op"`
}

type addTraceOut struct {
	pathway.Trace
	Replayed bool `json:"replayed" jsonschema:"the uid existed: nothing changed but replay_count"`
}

type updateTraceIn struct {
	UID     string          `json:"uid"`
	Content json.RawMessage `json:"content,omitempty"`
	Text    *string         `json:"text,omitempty"`
	Tags    []string        `json:"tags,omitempty"`
}

type reviseTraceIn struct {
	PredecessorUID string          `json:"predecessor_uid"`
	Content        json.RawMessage `json:"content" jsonschema:"any JSON value"`
	Text           *string         `json:"text,omitempty"`
	Tags           []string        `json:"tags,omitempty"`
}

type retireTraceIn struct {
	UID    string `json:"uid"`
	Reason string `json:"reason,omitempty"`
}

type traceIn struct {
	UID string `json:"uid"`
}

type searchTracesIn struct {
	Query             string   `json:"query,omitempty" jsonschema:"omit for newest first"`
	Mode              string   `json:"mode,omitempty" jsonschema:"hybrid, lexical or dense"`
	MinScore          *float64 `json:"min_score,omitempty"`
	TagsAll           []string `json:"tags_all,omitempty"`
	TagsAny           []string `json:"tags_any,omitempty"`
	IncludeRetired    bool     `json:"include_retired,omitempty"`
	IncludeSuperseded bool     `json:"include_superseded,omitempty"`
	CreatedAfter      string   `json:"created_after,omitempty" jsonschema:"RFC 3339 or YYYY-MM-DD"`
	CreatedBefore     string   `json:"created_before,omitempty" jsonschema:"RFC 3339 or YYYY-MM-DD"`
	Limit             int      `json:"limit,omitempty" jsonschema:"default 5, max 200"`
	Cursor            string   `json:"cursor,omitempty"`
}

type foundTrace struct {
	pathway.Match
	bulk
}

// bulk tells, in a result that lists many traces, that a content was left
// out and how big it is.
type bulk struct {
	ContentBytes   int  `json:"content_bytes,omitempty" jsonschema:"the size of a content left out"`
	ContentOmitted bool `json:"content_omitted,omitempty" jsonschema:"content was over 4 KiB and left out; get_trace returns it"`
}

// omitLarge leaves out *content when it is over searchContentBytes.
func omitLarge(content *json.RawMessage) bulk {
	if n := len(*content); n > searchContentBytes {
		*content = nil
		return bulk{ContentBytes: n, ContentOmitted: true}
	}
	return bulk{}
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
		fromOutside(define("add_trace",
			"Remember what you tried or learned, across sessions: content any JSON, text to search by, tags. Returns its uid.",
			additive("Add trace", true), b.addTrace)),
		fromOutside(define("update_trace",
			"Change a trace in place; omitted fields stay. revise_trace keeps the old version.",
			destructive("Update trace"), b.updateTrace)),
		fromOutside(define("revise_trace",
			"Add a better version of a trace; the old one leaves search, kept in trace_history.",
			additive("Revise trace", false), b.reviseTrace)),
		define("retire_trace",
			"Mark a trace no longer valid: it leaves search.",
			additive("Retire trace", true), b.retireTrace),
		fromOutside(define("get_trace",
			"Read one trace whole.",
			readOnly("Get trace"), b.getTrace)),
		fromOutside(define("trace_history",
			"A trace's revisions, oldest first.",
			readOnly("Trace history"), b.traceHistory)),
		fromOutside(define("search_traces",
			"Find traces by query (best first) or newest first, by tags and time; page with cursor. Contents over 4 KiB are left out: get_trace.",
			readOnly("Search traces"), b.searchTraces)),
		define("pathway_stats",
			"Trace counts and top tags.",
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
		m.Score = math.Round(m.Score*1e4) / 1e4 // what ranks them, not 17 digits of it
		out.Traces[i] = foundTrace{Match: m}
		out.Traces[i].bulk = omitLarge(&out.Traces[i].Content)
	}
	return out, nil
}

func (b *Backends) pathwayStats(ctx context.Context, _ struct{}) (pathway.Stats, error) {
	return b.Pathway.Stats(ctx)
}
