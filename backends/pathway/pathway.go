// Package pathway is the agent's versioned trace memory: small JSON records
// ("traces") of what was tried and what was learned, kept on an append-only
// log, linked into revision chains, and searchable by meaning and keyword.
//
// # Traces
//
// A [Trace] holds any JSON content, an optional searchable text summary and
// tags. [Pathway.Revise] makes a new trace that supersedes an older one, so
// traces form chains from a root to a tip; [Pathway.History] returns a whole
// chain. [Pathway.Retire] hides a trace from search while keeping it readable.
// [Pathway.Add] with a uid that already exists is an idempotent replay: it
// only counts the replay.
//
// # Persistence
//
// State lives in memory, in a snapshot, <dir>/pathway.snap, and in a log of
// what changed since, <dir>/pathway.log (see package eventlog). Each change
// is encoded into the log under the Pathway's lock, applied to memory, and
// acknowledged once the log has fsynced it; the fsync happens outside the
// lock, in one flusher goroutine, so concurrent writers share fsyncs (group
// commit; see commit.go). A change touching two traces (a revision) is one
// record, so it is atomic. Records are
//
//	{"op":"put","traces":[...]}                        full state of one or more traces
//	{"op":"replay","uid":"...","at":"..."}             an idempotent replay of Add
//	{"op":"retire","uid":"...","reason":"...","at":"..."}
//	{"op":"base","gen":N}                              first: the log's generation
//
// When the log passes [Config.CompactBytes] (or a quarter of the snapshot,
// if that is more), a background compaction writes every trace, superseded
// and retired ones included so histories stay whole, to a new snapshot, then
// starts a new log of the next generation, holding the lock meanwhile (see
// snapshot.go and state.go). Open decodes the snapshot on every CPU, in
// a binary form several times faster than the log's JSON, and replays the
// log after it; a torn or malformed line is skipped with a warning, and so
// is a damaged block of the snapshot.
//
// In shared mode ([OpenShared], shared.go) the records are rows of a
// PostgreSQL table instead, written in transactions that take turns across
// the nodes sharing it, and every node applies every row in order; the
// search index stays local to each node.
//
// # Search index
//
// Traces are embedded into a vector index (<dir>/index/, one cosine index
// named "traces") by a background indexer, never on the write path: an
// acknowledged write marks its traces dirty, and the indexer embeds them in
// batches of up to 1000, re-embedding only traces whose text changed (a
// metadata change reuses the vector the index holds). A trace is embedded
// by its text, or, when it has none, by a compact rendering of its content:
// the first 2 KiB of its JSON. A trace whose text the embedder rejects (a
// text without words, say) is left out of the index with a warning naming
// it, and tried again only when its text changes or after a restart; it
// never holds up the others, which a rejected batch is split to find. A
// search first waits until the indexer has caught up with every write
// acknowledged before the search began, so a caller always finds its own
// writes.
//
// On Open, the index is reconciled with the log in the background: an index
// built with another embedding model is dropped and rebuilt; traces missing
// from the index, or stale in it, are re-indexed; and index items whose uid
// the log does not know are deleted. Comparing every trace with the index
// is most of what opening a large memory costs, so Open first compares
// two sums: the index's fingerprint (vector.Manager.Fingerprint) and the
// same sum over the items the traces should have, kept as the log
// replays. When they agree, after a clean close or a crash alike, there
// is nothing to reconcile.
//
// # Ranking
//
// With a query, a search asks the index for the [SearchPool] traces that
// rank highest in its [Mode] (within the filters), the modes and scales of
// the vector index's search:
//
//	dense    the cosine similarity of the trace's text to the query
//	lexical  BM25 of the trace's text for the query's words: exact words,
//	         identifiers and error codes ("E0425", "ERR_CONN_RESET")
//	hybrid   both fused on a scale of 0 to 1, BM25 leading while the index
//	         knows the query's words and meaning counting more as it does
//	         not (typos, paraphrases); the default
//
// and ranks them by
//
//	score = the mode's score + 0.2 × (fraction of the query's words found in the trace's tags)
//
// since the index matches the trace's text only, and a tag the agent gave
// is a strong sign of what a trace is about. MinScore leaves out traces
// scoring below it; a lexical search finds only traces whose text holds a
// query word. Hybrid is the default because it ranked best on the trace
// benchmark (bench/traces; figures in bench/README.md): it ties lexical on
// exact words, error codes and job ids (the ranking before modes, cosine +
// 0.2 × the fraction of query words in text or tags over the 500 nearest
// by cosine, fell 0.03–0.11 MRR short on codes and ids), is at or above
// every other ranking on synonyms, and on misspelt queries, which BM25
// cannot match, ranks by meaning within 0.004 MRR of dense. Pages of a
// query search go no deeper than SearchPool. Without a query, a search
// lists traces newest first, with a keyset cursor, and Mode and MinScore
// do not apply.
package pathway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"lakehouse/backends/eventlog"
	"lakehouse/backends/vector"
	"lakehouse/internal/disk"
)

// An Embedder turns texts into vectors. backends/embed provides them.
type Embedder interface {
	// Model names the embedding model; the index is rebuilt when it changes.
	Model() string
	// Dims is the length of the vectors Embed returns.
	Dims(ctx context.Context) (int, error)
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Trace is one memory record.
type Trace struct {
	UID            string          `json:"uid"`
	Content        json.RawMessage `json:"content"`
	Text           string          `json:"text,omitempty"` // searchable summary
	Tags           []string        `json:"tags"`
	PredecessorUID string          `json:"predecessor_uid,omitempty"` // the trace this one revises
	SuccessorUID   string          `json:"successor_uid,omitempty"`   // the trace that revised this one (it is superseded)
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Retired        bool            `json:"retired,omitempty"`
	RetiredReason  string          `json:"retired_reason,omitempty"`
	ReplayCount    int             `json:"replay_count,omitempty"`

	seq   int    // position in creation order
	ihash uint64 // vector.ItemHash of the index item it should have (see itemHasher)
}

// State is "active", "retired" or "superseded" (retired wins when a
// trace is both).
func (t *Trace) State() string {
	switch {
	case t.Retired:
		return StateRetired
	case t.SuccessorUID != "":
		return StateSuperseded
	}
	return StateActive
}

// The states of a trace.
const (
	StateActive     = "active"
	StateRetired    = "retired"
	StateSuperseded = "superseded"
)

// Config tunes a Pathway. The zero value gives the defaults.
type Config struct {
	MaxContentBytes int   // bytes of a trace's content as JSON; 0 means 1 MiB
	MaxTextBytes    int   // bytes of a trace's text; 0 means 64 KiB
	MaxTags         int   // tags per trace; 0 means 32
	MaxTagLen       int   // characters per tag; 0 means 64
	CompactBytes    int64 // log size that triggers a compaction; 0 means 64 MiB

	// Vector configures the search index; the zero value gives its defaults.
	Vector vector.Config
}

// Defaults of Config, and other limits.
const (
	DefaultMaxContentBytes = 1 << 20
	DefaultMaxTextBytes    = 64 << 10
	DefaultMaxTags         = 32
	DefaultMaxTagLen       = 64
	DefaultCompactBytes    = 64 << 20

	MaxUID        = 128     // bytes of a caller-given uid
	MaxReason     = 4 << 10 // bytes of a retire reason
	DefaultLimit  = 5       // search results per page: what an agent usually reads; more by limit or cursor
	MaxLimit      = 200
	SearchPool    = 500      // traces a query search ranks
	IndexBatch    = 1000     // traces the indexer handles at once
	contentRender = 2 << 10  // bytes of content JSON embedded when a trace has no text
	tagWeight     = 0.2      // weight of the tag fraction in a query's score
	indexName     = "traces" // the one vector index
	logName       = "pathway.log"
)

func (c Config) withDefaults() Config {
	if c.MaxContentBytes <= 0 {
		c.MaxContentBytes = DefaultMaxContentBytes
	}
	if c.MaxTextBytes <= 0 {
		c.MaxTextBytes = DefaultMaxTextBytes
	}
	if c.MaxTags <= 0 {
		c.MaxTags = DefaultMaxTags
	}
	if c.MaxTagLen <= 0 {
		c.MaxTagLen = DefaultMaxTagLen
	}
	if c.CompactBytes <= 0 {
		c.CompactBytes = DefaultCompactBytes
	}
	return c
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("pathway memory is closed")

// Pathway is an open trace memory. It is safe for concurrent use.
type Pathway struct {
	dir     string
	disk    *disk.Dir // dir, for the snapshot and the log's head
	cfg     Config
	emb     Embedder
	log     *eventlog.Log
	commits *committer
	vec     *vector.Manager
	pg      *pgStore // in shared mode (see shared.go); nil in local mode, as log, commits and disk are in shared mode

	mu     sync.RWMutex
	traces map[string]*Trace
	order  []*Trace // by creation: order[i].seq == i
	last   time.Time
	counts counts
	closed bool
	fault  error // the state could not be rebuilt after a failed write (see reload)

	idx      *indexer
	unmarked sync.WaitGroup // changes committed whose traces are not yet marked for the indexer
	want     uint64         // the sum of the traces' ihash: the index's fingerprint when it is in step

	cover     cover        // what of the log the snapshot holds
	settled   uint64       // the committer's failures up to the last reload (see compact)
	snapBytes atomic.Int64 // the snapshot's size
	skip      atomic.Int64 // bytes at the start of the log that the snapshot holds (see compact)

	compacting atomic.Bool
	bg         sync.WaitGroup // compactions
}

// counts are kept up to date as traces change, for Stats.
type counts struct {
	active, retired, superseded int
	tags                        map[string]int
}

func (c *counts) account(t *Trace, d int) {
	switch t.State() {
	case StateActive:
		c.active += d
	case StateRetired:
		c.retired += d
	case StateSuperseded:
		c.superseded += d
	}
	for _, tag := range t.Tags {
		if n := c.tags[tag] + d; n > 0 {
			c.tags[tag] = n
		} else {
			delete(c.tags, tag)
		}
	}
}

// Open opens the trace memory in dir, creating it if needed: it loads
// <dir>/pathway.snap and replays <dir>/pathway.log after it, opens the
// search index in <dir>/index/ meanwhile, and starts the indexer, which
// reconciles the index with the traces in the background.
func Open(dir string, emb Embedder, cfg Config) (*Pathway, error) {
	if emb == nil {
		return nil, errors.New("open pathway: no embedder")
	}
	// Size the tables for the state at once rather than growing them
	// trace by trace: a small trace takes some 200 bytes.
	var guess int64
	for _, name := range []string{logName, snapName} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			guess += fi.Size() / 200
		}
	}
	guess = min(guess, 4<<20)
	d, err := disk.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open pathway: %w", err)
	}
	if err := removeTemps(d); err != nil {
		d.Close()
		return nil, fmt.Errorf("open pathway: %w", err)
	}
	p := newPathway(dir, emb, cfg, int(guess))
	p.disk = d
	index := openIndex(dir, p.cfg.Vector)
	start := time.Now()
	l, st, stale, err := p.load()
	p.log = l
	ix := <-index
	inStep := err == nil && ix.err == nil && ix.fpErr == nil && ix.fp == p.want
	if err == nil && ix.err == nil && stale {
		err = p.startLog()
	}
	if err != nil || ix.err != nil {
		if ix.vm != nil {
			ix.vm.Close()
		}
		if l != nil {
			l.Close()
		}
		p.disk.Close()
		if err != nil {
			return nil, fmt.Errorf("open pathway: %w", err)
		}
		return nil, fmt.Errorf("open pathway index: %w", ix.err)
	}
	p.commits = newCommitter(l)
	slog.Debug("pathway memory loaded", "snapshot_bytes", p.snapBytes.Load(), "log_records", st.Records, "skipped", st.Skipped,
		"torn_bytes", st.TornBytes, "traces", len(p.order), "took", time.Since(start).Round(time.Millisecond))
	if n := len(p.order); n > 0 {
		p.last = p.order[n-1].CreatedAt
	}
	p.vec = ix.vm
	p.idx = newIndexer(p, inStep)
	go p.idx.run()
	return p, nil
}

// opened is the search index opened, with its fingerprint.
type opened struct {
	vm    *vector.Manager
	err   error
	fp    uint64
	fpErr error
}

// openIndex opens the search index in dir/index/ on a goroutine of its
// own, which replays meanwhile need not wait for, and works out its
// fingerprint, which the replay's sum meets.
func openIndex(dir string, cfg vector.Config) <-chan opened {
	index := make(chan opened, 1)
	go func() {
		var o opened
		if o.vm, o.err = vector.Open(filepath.Join(dir, "index"), cfg); o.err == nil {
			o.fp, o.fpErr = o.vm.Fingerprint(indexName)
		}
		index <- o
	}()
	return index
}

// newPathway returns an empty memory in dir, its tables sized for about
// guess traces, its persistence and index yet to be opened.
func newPathway(dir string, emb Embedder, cfg Config, guess int) *Pathway {
	return &Pathway{
		dir:    dir,
		cfg:    cfg.withDefaults(),
		emb:    emb,
		traces: make(map[string]*Trace, guess),
		order:  make([]*Trace, 0, guess),
		counts: counts{tags: map[string]int{}},
	}
}

// Close lets the indexer catch up for a moment, stops it and any
// compaction, and closes the log and the index. Acknowledged writes are
// durable already. Later calls do nothing.
func (p *Pathway) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	if p.pg != nil {
		return p.closeShared()
	}
	// Every change is now durable or failed, and its traces marked; the
	// indexer has a moment to index them, so that the next open finds the
	// index in step and need not compare every trace with it.
	p.commits.stop()
	p.unmarked.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), closeDrain)
	p.idx.wait(ctx)
	cancel()
	p.idx.stop()
	p.bg.Wait()
	return errors.Join(p.log.Close(), p.vec.Close(), p.disk.Close())
}

// unusable is why p cannot be used: ErrClosed, or its fault; the caller
// holds p.mu.
func (p *Pathway) unusable() error {
	if p.closed {
		return ErrClosed
	}
	return p.fault
}

// closeDrain bounds how long Close lets the indexer catch up.
const closeDrain = 3 * time.Second

// now returns the time for a new change: UTC, and never before the last
// trace's creation, so that creation order and created_at agree.
func (p *Pathway) now() time.Time {
	t := time.Now().UTC()
	if t.Before(p.last) {
		t = p.last
	}
	p.last = t
	return t
}

// Stats describes the memory.
type Stats struct {
	Total        int        `json:"total"`
	Active       int        `json:"active"`
	Retired      int        `json:"retired"`
	Superseded   int        `json:"superseded"` // revised and not retired
	TopTags      []TagCount `json:"top_tags"`   // over all traces, most used first, at most 20
	LogBytes     int64      `json:"log_bytes"`
	IndexPending int        `json:"index_pending"` // traces waiting for the indexer
}

// TagCount is how many traces carry a tag.
type TagCount struct {
	Tag   string `json:"tag"`
	Count int    `json:"count"`
}
