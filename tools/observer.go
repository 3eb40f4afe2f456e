package tools

import (
	"context"
	"log/slog"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/matrix"
	"lakehouse/backends/observer"
)

// Operations is what the tools, Observe and Watch need of the observer.
type Operations interface {
	Record(ctx context.Context, op observer.Op) observer.Op
	RecordDurable(ctx context.Context, op observer.Op) (observer.Op, error)
	Stats(since time.Time) observer.Stats
	List(q observer.Query) ([]observer.Op, string, error)
	Stale() string
}

var _ Operations = (*observer.Observer)(nil)

// recordEventIn is an observed op as earlier clients of this system send it.
type recordEventIn struct {
	ID            string         `json:"id,omitempty"`
	Endpoint      string         `json:"endpoint"`
	Source        string         `json:"source,omitempty" jsonschema:"agent (default), scenario, workflow, overseer_correction, ..."`
	Success       *bool          `json:"success,omitempty"`
	DurationMS    float64        `json:"duration_ms,omitempty"`
	InputSummary  string         `json:"input_summary,omitempty"`
	OutputSummary string         `json:"output_summary,omitempty"`
	Error         string         `json:"error,omitempty"`
	SigHash       string         `json:"sig_hash,omitempty"`
	SessionID     string         `json:"session_id,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	Fields        map[string]any `json:"fields,omitempty"`
	Timestamp     string         `json:"timestamp,omitempty" jsonschema:"RFC 3339"`
}

// recordEventOut is the op recorded, and what it taught the playbook.
type recordEventOut struct {
	observer.Op
	Playbook *foldOut `json:"playbook,omitempty" jsonschema:"when fields carry query_text, answer_id and answer_corpus: the playbook entry this outcome counted towards, or why it could not (the event is recorded either way)"`
}

type foldOut struct {
	PlaybookCorpus string  `json:"playbook_corpus,omitempty"`
	Entry          string  `json:"entry,omitempty"`
	Score          float64 `json:"score,omitempty" jsonschema:"the entry's score now: the success rate of the outcomes reported for it"`
	Reports        int     `json:"reports,omitempty"`
	Error          string  `json:"error,omitempty" jsonschema:"why the outcome did not reach the playbook"`
}

type statsIn struct {
	Since string `json:"since,omitempty" jsonschema:"RFC 3339 or YYYY-MM-DD"`
}

type listEventsIn struct {
	Tool    string `json:"tool,omitempty"`
	Source  string `json:"source,omitempty"`
	Success *bool  `json:"success,omitempty" jsonschema:"false: failures"`
	Since   string `json:"since,omitempty" jsonschema:"RFC 3339 or YYYY-MM-DD"`
	Limit   int    `json:"limit,omitempty" jsonschema:"default 100, max 1000"`
	Cursor  string `json:"cursor,omitempty"`
}

type listEventsOut struct {
	Events      []observer.Op `json:"events"`
	NextCursor  string        `json:"next_cursor,omitempty"`
	Stale       bool          `json:"stale,omitempty" jsonschema:"several nodes: this node may lack the other nodes' most recent events (stale_reason says why)"`
	StaleReason string        `json:"stale_reason,omitempty"`
}

func observerTools(b *Backends) []Tool {
	return []Tool{
		define("record_event",
			"Report an outcome the server cannot see (a test result, a correction). With query_text, answer_id and answer_corpus in fields, it also scores that answer for use_playbook.",
			additive("Record event", false), b.recordEvent),
		define("observer_stats",
			"What fails and how often: calls, failures, latency by tool, error clusters, escalations.",
			readOnly("Observer statistics"), b.observerStats),
		define("list_events",
			"List recorded tool calls and events, newest first; page with cursor.",
			readOnly("List events"), b.listEvents),
	}
}

func (b *Backends) recordEvent(ctx context.Context, in recordEventIn) (recordEventOut, error) {
	op := observer.Op{
		ID: in.ID, Endpoint: in.Endpoint, Source: in.Source, Success: in.Error == "", DurationMS: in.DurationMS,
		InputSummary: in.InputSummary, OutputSummary: in.OutputSummary, Error: in.Error, SigHash: in.SigHash,
		SessionID: in.SessionID, Tags: in.Tags, Fields: in.Fields,
	}
	if in.Success != nil {
		op.Success = *in.Success
	}
	at, err := parseTime("timestamp", in.Timestamp)
	if err != nil {
		return recordEventOut{}, err
	}
	op.Timestamp = at
	if in.DurationMS < 0 {
		return recordEventOut{}, errs.New(errs.Invalid, "duration_ms = %v: must not be negative", in.DurationMS)
	}
	op, err = b.Observer.RecordDurable(ctx, op)
	if err != nil {
		return recordEventOut{}, err
	}
	return recordEventOut{Op: op, Playbook: b.fold(ctx, op)}, nil
}

// fold counts the outcome an event carries into its playbook entry, or
// returns nil when it carries none. The event is recorded already, so a
// playbook that cannot be written is logged and said in the result, never
// the call's failure.
func (b *Backends) fold(ctx context.Context, op observer.Op) *foldOut {
	o, ok, err := matrix.OutcomeOf(op.Fields, op.Success)
	if !ok && err == nil {
		return nil
	}
	if err == nil {
		var r matrix.Recorded
		if r, err = b.matrixEngine().Fold(ctx, o); err == nil {
			return &foldOut{PlaybookCorpus: r.Corpus, Entry: r.Entry, Score: r.Score, Reports: r.Reports}
		}
	}
	if errs.KindOf(err) == nil {
		slog.Warn("record_event: outcome not folded into the playbook", "event", op.ID, "err", err)
	}
	return &foldOut{Error: err.Error()}
}

func (b *Backends) observerStats(_ context.Context, in statsIn) (observer.Stats, error) {
	since, err := parseTime("since", in.Since)
	if err != nil {
		return observer.Stats{}, err
	}
	return b.Observer.Stats(since), nil
}

func (b *Backends) listEvents(_ context.Context, in listEventsIn) (listEventsOut, error) {
	since, err := parseTime("since", in.Since)
	if err != nil {
		return listEventsOut{}, err
	}
	q := observer.Query{Endpoint: in.Tool, Source: in.Source, Success: in.Success, Since: since, Limit: in.Limit, Cursor: in.Cursor}
	ops, next, err := b.Observer.List(q)
	stale := b.Observer.Stale()
	return listEventsOut{Events: ops, NextCursor: next, Stale: stale != "", StaleReason: stale}, err
}

// parseTime reads time argument name: RFC 3339, or a date standing for its
// midnight UTC. Empty is the zero time.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, errs.New(errs.Invalid, "%s = %q: give a time in RFC 3339 form (2026-12-02T10:00:00Z) or a date (2026-12-02)", name, s)
}
