// Package observer records every operation of the server, and the outcomes
// that agents and harnesses report, so that runs can be analysed: counts,
// failures, latencies, and clusters of equal failures.
//
// Each op goes to a ring of the most recent ones (for listing), to a compact
// in-memory row (for statistics over any time window), and to the durable
// log. Recording never fails an operation: a failed persist is a warning
// and a counter in the statistics. Replay on start restores the rows and the
// ring, so statistics survive restarts.
package observer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"lakehouse/backends/errs"
	"lakehouse/backends/eventlog"
)

// Sources an op may come from.
var Sources = []string{"mcp", "http", "cli", "scenario", "langfuse", "overseer_correction", "workflow", "inbox", "agent"}

// Op is one observed operation. The JSON names are those earlier clients send.
//
// Record bounds what an op keeps, so that no op swells the ring, the log or
// a listing: endpoint, session id and summaries are cut to 256 bytes and the
// error to 1 KiB (a cut ends in "…"); only the first 32 tags are kept, each
// cut to 64 bytes; fields whose JSON passes 4 KiB are replaced by
// {"_truncated": "<N> bytes of JSON; the limit is 4096"}. The op that Record
// returns is what was kept.
type Op struct {
	ID            string         `json:"id"`
	Timestamp     time.Time      `json:"timestamp"`
	Endpoint      string         `json:"endpoint"`
	Source        string         `json:"source"`
	Success       bool           `json:"success"`
	DurationMS    float64        `json:"duration_ms"`
	InputSummary  string         `json:"input_summary,omitempty"`
	OutputSummary string         `json:"output_summary,omitempty"`
	Error         string         `json:"error,omitempty"`
	SigHash       string         `json:"sig_hash,omitempty"`
	SessionID     string         `json:"session_id,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	Fields        map[string]any `json:"fields,omitempty"`
}

// MaxSummary is the longest input or output summary, in bytes.
const MaxSummary = 256

// Bounds of an op's other free-form parts (see Op), and of the clusters
// Stats lists.
const (
	maxError          = 1 << 10
	maxKey            = 128 // bytes of a caller's id or sig_hash
	maxListedTools    = 50
	maxTags           = 32
	maxTag            = 64
	maxFields         = 4 << 10 // bytes of JSON
	maxListedClusters = 20
)

// Defaults of Config.
const (
	DefaultRingSize    = 2000
	DefaultEscalateAt  = 3
	DefaultSyncEvery   = 200 * time.Millisecond
	DefaultRetain      = 1_000_000
	DefaultCompactSize = 128 << 20
	recentScenarioOps  = 10
	maxListedEvents    = 1000
	defaultListedEvent = 100
)

// Config tunes an Observer. Zero values mean the defaults.
type Config struct {
	RingSize   int // most recent ops kept whole for list_events; 0 = 2000
	EscalateAt int // failures of one cluster that raise an escalation; 0 = 3
	// Retain is how many ops statistics cover; older ones are dropped when
	// the log is compacted. 0 = 1,000,000; less than RingSize is raised to
	// RingSize.
	Retain int
	// CompactBytes is the log size past which it is compacted: ops older
	// than the ring are rewritten without their summaries. When a compaction
	// leaves more than half of it, the next waits until the log has doubled
	// again, so that compaction costs O(1) per op. 0 = 128 MiB.
	CompactBytes int64
	// OnEscalate is called once per cluster, when it reaches EscalateAt, with
	// the op that made it reach it.
	OnEscalate func(ctx context.Context, c Cluster, op Op)
}

// row is the compact form of an op that statistics are computed from.
type row struct {
	at       int64 // unix nanoseconds
	endpoint string
	source   string
	success  bool
	duration float64
	sig      string
}

// op returns the op that r is of, as far as r says.
func (r row) op() Op {
	return Op{Timestamp: time.Unix(0, r.at).UTC(), Endpoint: r.endpoint, Source: r.source, Success: r.success, DurationMS: r.duration, SigHash: r.sig}
}

// Cluster is a group of failures with the same signature.
type Cluster struct {
	SigHash   string    `json:"sig_hash"`
	Endpoint  string    `json:"endpoint"`
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Example   string    `json:"example_error"`
}

// Observer records ops. It is safe for concurrent use.
type Observer struct {
	cfg Config
	log *eventlog.Log // local mode
	pg  *pgOps        // shared mode (see shared.go)

	mu        sync.Mutex
	rows      []row
	ring      []Op // circular, len ≤ cfg.RingSize
	next      int  // ring position of the next op
	applied   int  // ops ever applied: the newest op in the ring is number applied-1
	clusters  map[string]*Cluster
	escalated map[string]bool
	compacted int64 // log size after the last compaction

	persistFailures atomic.Int64
}

// Open replays the observer's log in dir and starts recording.
func Open(dir string, cfg Config) (*Observer, error) {
	o := newObserver(cfg)
	l, st, err := eventlog.Open(filepath.Join(dir, "ops.jsonl"), func(line []byte) error {
		var op Op
		if err := eventlog.Unmarshal(line, &op); err != nil {
			return err
		}
		o.apply(op)
		return nil
	})
	if err != nil {
		return nil, err
	}
	o.settleEscalations()
	if st.Records > 0 || st.Skipped > 0 {
		slog.Info("observer log replayed", "ops", st.Records, "skipped", st.Skipped)
	}
	o.log = l
	l.SyncEvery(DefaultSyncEvery)
	return o, nil
}

// newObserver returns an Observer of cfg, its zero values made defaults,
// that keeps its ops nowhere yet.
func newObserver(cfg Config) *Observer {
	cfg.RingSize = orDefault(cfg.RingSize, DefaultRingSize)
	cfg.EscalateAt = orDefault(cfg.EscalateAt, DefaultEscalateAt)
	cfg.Retain = max(orDefault(cfg.Retain, DefaultRetain), cfg.RingSize) // compaction keeps the ring whole
	cfg.CompactBytes = orDefault(cfg.CompactBytes, DefaultCompactSize)
	return &Observer{cfg: cfg, clusters: map[string]*Cluster{}, escalated: map[string]bool{}}
}

// orDefault returns v, or def when v is 0 or less: a setting's value.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Close flushes the log, or in shared mode what is queued for the database
// (for at most PostgresConfig.Timeout).
func (o *Observer) Close() error {
	if o.pg != nil {
		return o.pg.close()
	}
	return o.log.Close()
}

// apply adds op to the in-memory state; o.mu is held (or replay is running).
func (o *Observer) apply(op Op) {
	o.rows = append(o.rows, row{at: op.Timestamp.UnixNano(), endpoint: op.Endpoint, source: op.Source, success: op.Success, duration: op.DurationMS, sig: op.SigHash})
	if len(o.ring) < o.cfg.RingSize {
		o.ring = append(o.ring, op)
	} else {
		o.ring[o.next] = op
	}
	o.next = (o.next + 1) % o.cfg.RingSize
	o.applied++
	addToCluster(o.clusters, op)
}

// addToCluster counts op in its cluster in clusters, if it is a failure.
func addToCluster(clusters map[string]*Cluster, op Op) {
	if op.Success || op.SigHash == "" {
		return
	}
	c := clusters[op.SigHash]
	if c == nil {
		c = &Cluster{SigHash: op.SigHash, Endpoint: op.Endpoint, FirstSeen: op.Timestamp, Example: op.Error}
		clusters[op.SigHash] = c
	}
	c.Count++
	if op.Timestamp.Before(c.FirstSeen) { // reported ops may come late
		c.FirstSeen = op.Timestamp
	}
	if op.Timestamp.After(c.LastSeen) {
		c.LastSeen = op.Timestamp
	}
}

// settleEscalations marks the clusters that have reached EscalateAt as
// escalated, so that they do not escalate again: on start, and after a
// compaction has dropped ops, as a restart would. o.mu is held.
func (o *Observer) settleEscalations() {
	o.escalated = map[string]bool{}
	for sig, c := range o.clusters {
		if c.Count >= o.cfg.EscalateAt {
			o.escalated[sig] = true
		}
	}
}

// Record completes op (id, timestamp, source, signature), bounds its size
// (see Op), records it and returns it. The op reaches disk within
// DefaultSyncEvery; use RecordDurable to wait for it.
func (o *Observer) Record(ctx context.Context, op Op) Op {
	op, _ = o.record(ctx, op)
	return op
}

// RecordDurable is Record for ops reported by callers: it validates op and
// returns once op is on disk.
func (o *Observer) RecordDurable(ctx context.Context, op Op) (Op, error) {
	if strings.TrimSpace(op.Endpoint) == "" {
		return op, errs.New(errs.Invalid, "endpoint is required: name the tool, route or scenario this event is about")
	}
	if op.Source != "" && !slices.Contains(Sources, op.Source) {
		return op, errs.New(errs.Invalid, "unknown source %q; use one of %s", op.Source, strings.Join(Sources, ", "))
	}
	if o.pg != nil {
		if err := o.pg.refuse(); err != nil {
			return op, err
		}
	}
	op, seq := o.record(ctx, op)
	if seq == 0 {
		return op, fmt.Errorf("the observer log cannot be written")
	}
	if o.pg != nil {
		return op, o.pg.sync(ctx, seq)
	}
	if err := o.log.Sync(seq); err != nil {
		o.persistFailures.Add(1)
		return op, fmt.Errorf("persist event: %w", err)
	}
	return op, nil
}

func (o *Observer) record(ctx context.Context, op Op) (Op, uint64) {
	if op.ID == "" {
		op.ID = uuid.NewString()
	}
	if op.Timestamp.IsZero() {
		op.Timestamp = time.Now().UTC()
	}
	if op.Source == "" {
		op.Source = "agent"
	}
	bound(&op)
	if !op.Success && op.SigHash == "" {
		op.SigHash = Signature(op.Endpoint, op.Error)
	}

	o.mu.Lock()
	var seq uint64
	var err error
	if o.pg != nil {
		seq, err = o.pg.add(op)
	} else {
		seq, err = o.log.Add(op)
	}
	if err != nil {
		o.persistFailures.Add(1)
		if !errors.Is(err, errDropped) { // which warns once an outage
			slog.Warn("observer could not persist an op", "endpoint", op.Endpoint, "err", err)
		}
	}
	o.apply(op)
	reached := o.reachedLocked(op)
	// After the escalation check: a compaction settles escalations.
	switch {
	case o.pg != nil:
		o.trimLocked()
	case err == nil && o.log.Size() > o.compactAt():
		o.compactLocked()
	}
	o.mu.Unlock()

	o.escalate(ctx, reached, op)
	return op, seq
}

// reachedLocked returns a copy of op's cluster if op made it reach
// EscalateAt and it has not escalated yet, and marks it escalated; o.mu is
// held.
func (o *Observer) reachedLocked(op Op) *Cluster {
	c := o.clusters[op.SigHash]
	if op.Success || c == nil || c.Count < o.cfg.EscalateAt || o.escalated[op.SigHash] {
		return nil
	}
	o.escalated[op.SigHash] = true
	cc := *c
	return &cc
}

// escalate logs and reports reached, the cluster op made reach EscalateAt,
// if there is one; o.mu is not held.
func (o *Observer) escalate(ctx context.Context, reached *Cluster, op Op) {
	if reached == nil {
		return
	}
	slog.Warn("failure cluster escalated", "endpoint", reached.Endpoint, "sig_hash", reached.SigHash, "count", reached.Count, "example", reached.Example)
	if o.cfg.OnEscalate != nil {
		o.cfg.OnEscalate(ctx, *reached, op)
	}
}

// bound cuts op's free-form parts to the sizes documented on Op.
func bound(op *Op) {
	op.ID, op.SigHash = CutTo(op.ID, maxKey), CutTo(op.SigHash, maxKey)
	op.Endpoint, op.SessionID = Cut(op.Endpoint), Cut(op.SessionID)
	op.InputSummary, op.OutputSummary = Cut(op.InputSummary), Cut(op.OutputSummary)
	op.Error = CutTo(op.Error, maxError)
	if len(op.Tags) > 0 { // a copy, which the caller cannot change later
		tags := make([]string, 0, min(len(op.Tags), maxTags))
		for _, t := range op.Tags[:cap(tags)] {
			tags = append(tags, CutTo(t, maxTag))
		}
		op.Tags = tags
	}
	if len(op.Fields) > 0 {
		if b, err := json.Marshal(op.Fields); err == nil && len(b) > maxFields {
			op.Fields = map[string]any{"_truncated": fmt.Sprintf("%d bytes of JSON; the limit is %d", len(b), maxFields)}
		}
	}
}

// compactAt is the log size that calls for a compaction: CompactBytes, or
// twice the size the last compaction left when the retained ops alone are
// that large, so that they are not rewritten after every op. Pathway does
// the same. o.mu is held.
func (o *Observer) compactAt() int64 {
	return max(o.cfg.CompactBytes, 2*o.compacted)
}

// compactLocked drops the ops beyond Retain and rewrites the log: the ops of
// the ring whole, older ones as the fields statistics need (the first of
// each failure cluster keeps its error, the cluster's example). The clusters
// are rebuilt from what is kept, so that the state is the one a replay of
// the new log gives. o.mu is held.
func (o *Observer) compactLocked() {
	drop := max(0, len(o.rows)-o.cfg.Retain)
	old := o.rows[drop : len(o.rows)-len(o.ring)]
	clusters := map[string]*Cluster{}
	err := o.log.Compact(func(emit func(any) error) error {
		put := func(op Op) error {
			addToCluster(clusters, op)
			return emit(op)
		}
		for _, r := range old {
			op := r.op()
			if c := o.clusters[r.sig]; c != nil && !r.success && clusters[r.sig] == nil {
				op.Error = c.Example
			}
			if err := put(op); err != nil {
				return err
			}
		}
		for _, op := range slices.Backward(o.newestFirst()) {
			if err := put(op); err != nil {
				return err
			}
		}
		return nil
	})
	o.compacted = o.log.Size()
	if err != nil {
		o.persistFailures.Add(1)
		slog.Warn("observer log compaction failed", "err", err)
		return
	}
	o.rows = slices.Delete(o.rows, 0, drop)
	o.clusters = clusters
	o.settleEscalations()
}

// Cut shortens s to the summary size, marking the cut.
func Cut(s string) string { return CutTo(s, MaxSummary) }

// CutTo shortens s to at most n bytes, on a character boundary, marking the cut.
func CutTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	mark := "…"
	if n < 2*len(mark) { // too short to spend on the mark
		mark = ""
	}
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// volatile matches the parts of an error that differ between equal failures:
// numbers, hex ids, quoted strings.
var volatile = regexp.MustCompile(`"[^"]*"|'[^']*'|\b[0-9a-f]{8,}\b|\d+(\.\d+)?`)

// Signature is a stable hash of endpoint and its error with the volatile
// parts taken out, so equal failures cluster.
func Signature(endpoint, errText string) string {
	norm := volatile.ReplaceAllString(strings.ToLower(firstLine(errText)), "_")
	sum := sha256.Sum256([]byte(endpoint + "\x00" + norm))
	return hex.EncodeToString(sum[:8])
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ToolStats summarises one endpoint.
type ToolStats struct {
	Count    int     `json:"count"`
	Failures int     `json:"failures"`
	P50MS    float64 `json:"p50_ms"`
	P95MS    float64 `json:"p95_ms"`
}

// Stats summarises the ops since a time. Clusters and Escalations list at
// most the 20 largest (by count, then last seen), their examples cut to 256
// bytes; ClusterCount and EscalationCount say how many there are in all.
type Stats struct {
	Since           *time.Time           `json:"since,omitempty"`
	Total           int                  `json:"total"`
	Successes       int                  `json:"successes"`
	Failures        int                  `json:"failures"`
	BySource        map[string]int       `json:"by_source"`
	ByTool          map[string]ToolStats `json:"by_tool"`    // the 50 endpoints with the most ops
	ToolCount       int                  `json:"tool_count"` // endpoints in all
	RecentScenarios []Op                 `json:"recent_scenarios"`
	Clusters        []Cluster            `json:"failure_clusters"`
	ClusterCount    int                  `json:"cluster_count"`
	Escalations     []Cluster            `json:"escalations"`
	EscalationCount int                  `json:"escalation_count"`
	PersistFailures int64                `json:"persist_failures"`
	// Stale says, in shared mode, that the statistics may lack recent ops
	// of other nodes: this node has not caught up with the database lately
	// (StaleReason says why). They cover the ops this node has.
	Stale       bool   `json:"stale,omitempty"`
	StaleReason string `json:"stale_reason,omitempty"`
}

// Stats computes statistics over the ops at or after since (zero: all).
func (o *Observer) Stats(since time.Time) Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := Stats{BySource: map[string]int{}, ByTool: map[string]ToolStats{}, RecentScenarios: []Op{}, Clusters: []Cluster{}, Escalations: []Cluster{}, PersistFailures: o.persistFailures.Load()}
	st.StaleReason = o.Stale()
	st.Stale = st.StaleReason != ""
	if !since.IsZero() {
		st.Since = &since
	}
	from := since.UnixNano()
	durations := map[string][]float64{}
	clusters := map[string]*Cluster{}
	for _, r := range o.rows {
		if r.at < from {
			continue
		}
		st.Total++
		st.BySource[r.source]++
		ts := st.ByTool[r.endpoint]
		ts.Count++
		if r.success {
			st.Successes++
		} else {
			st.Failures++
			ts.Failures++
			if r.sig != "" {
				c := clusters[r.sig]
				if c == nil {
					all := o.clusters[r.sig]
					c = &Cluster{SigHash: r.sig, Endpoint: r.endpoint, FirstSeen: time.Unix(0, r.at).UTC(), Example: all.Example}
					clusters[r.sig] = c
				}
				c.Count++
				if at := time.Unix(0, r.at).UTC(); at.After(c.LastSeen) {
					c.LastSeen = at
				} else if at.Before(c.FirstSeen) {
					c.FirstSeen = at
				}
			}
		}
		st.ByTool[r.endpoint] = ts
		durations[r.endpoint] = append(durations[r.endpoint], r.duration)
	}
	for name, d := range durations {
		slices.Sort(d)
		ts := st.ByTool[name]
		ts.P50MS, ts.P95MS = percentile(d, 0.50), percentile(d, 0.95)
		st.ByTool[name] = ts
	}
	for _, c := range clusters {
		st.Clusters = append(st.Clusters, *c)
		if o.escalated[c.SigHash] {
			st.Escalations = append(st.Escalations, *o.clusters[c.SigHash])
		}
	}
	st.ToolCount = len(st.ByTool)
	busiest(st.ByTool)
	st.ClusterCount, st.EscalationCount = len(st.Clusters), len(st.Escalations)
	st.Clusters, st.Escalations = largest(st.Clusters), largest(st.Escalations)
	for _, op := range o.newestFirst() {
		if op.Source == "scenario" && !op.Timestamp.Before(since) {
			st.RecentScenarios = append(st.RecentScenarios, op)
			if len(st.RecentScenarios) == recentScenarioOps {
				break
			}
		}
	}
	return st
}

// busiest keeps the maxListedTools endpoints of byTool with the most ops.
func busiest(byTool map[string]ToolStats) {
	if len(byTool) <= maxListedTools {
		return
	}
	names := slices.Collect(maps.Keys(byTool))
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(byTool[b].Count, byTool[a].Count), strings.Compare(a, b))
	})
	for _, name := range names[maxListedTools:] {
		delete(byTool, name)
	}
}

// largest sorts cs by count, then last seen, both descending, and returns
// the first maxListedClusters, their examples cut to the summary size.
func largest(cs []Cluster) []Cluster {
	slices.SortFunc(cs, func(a, b Cluster) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), b.LastSeen.Compare(a.LastSeen), strings.Compare(a.SigHash, b.SigHash))
	})
	cs = cs[:min(len(cs), maxListedClusters)]
	for i := range cs {
		cs[i].Example = Cut(cs[i].Example)
	}
	return cs
}

// percentile of sorted values by the nearest-rank method.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// newestFirst returns the ring's ops, newest first; o.mu is held.
func (o *Observer) newestFirst() []Op {
	out := make([]Op, 0, len(o.ring))
	for i := 1; i <= len(o.ring); i++ {
		out = append(out, o.ring[(o.next-i+len(o.ring))%len(o.ring)])
	}
	return out
}

// Query selects ops for List. Zero fields match everything.
type Query struct {
	Endpoint string
	Source   string
	Success  *bool
	Since    time.Time
	Limit    int    // 0 = 100, at most 1000
	Cursor   string // next_cursor of the previous page
}

// List returns the most recent ops that match q, newest first, from the
// ring of recent ops, and the cursor of the next page ("" when none).
func (o *Observer) List(q Query) ([]Op, string, error) {
	switch {
	case q.Limit < 0 || q.Limit > maxListedEvents:
		return nil, "", errs.New(errs.Invalid, "limit must be between 1 and %d; page with cursor", maxListedEvents)
	case q.Limit == 0:
		q.Limit = defaultListedEvent
	}
	o.mu.Lock()
	ops, newest := o.newestFirst(), o.applied-1
	o.mu.Unlock()
	// A cursor is the number of the last op listed: ops are numbered in the
	// order they were applied, so caller-given ids, which may repeat, do not
	// matter, and new ops do not shift the pages.
	start := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil || n < 0 || n > newest {
			return nil, "", errs.New(errs.Invalid, "cursor %q is not a next_cursor of list_events; list again without a cursor", q.Cursor)
		}
		if start = newest - n + 1; start > len(ops) {
			return nil, "", errs.New(errs.NotFound, "cursor %q is no longer among the %d most recent events; list again without a cursor", q.Cursor, len(ops))
		}
	}
	out, last := []Op{}, 0
	for i := start; i < len(ops); i++ {
		op := ops[i]
		if (q.Endpoint != "" && op.Endpoint != q.Endpoint) || (q.Source != "" && op.Source != q.Source) ||
			(q.Success != nil && op.Success != *q.Success) || op.Timestamp.Before(q.Since) {
			continue
		}
		if len(out) == q.Limit {
			return out, strconv.Itoa(newest - last), nil
		}
		out, last = append(out, op), i
	}
	return out, "", nil
}
