// Package vector keeps named vector indexes for similarity search: exact
// (flat) search for small indexes, an in-house HNSW graph for large ones,
// with metadata filters, tombstone deletes and crash-safe persistence.
//
// A [Manager] owns one directory and keeps every index in a subfolder of
// it, named after the index:
//
//	<dir>/<name>/snapshot      the items (and the graph, once built) as of generation G
//	<dir>/<name>/wal-<G>.log   upserts and deletes since, appended and fsynced
//
// # Engine
//
// Below [Config.FlatThreshold] live items an index answers by scanning
// every vector. Once it holds that many, a background goroutine links its
// items into an HNSW graph one by one; a search meanwhile uses the graph for
// the items linked so far and scans the rest, so results stay complete while
// the graph grows, and an Upsert never waits for graph work. Deletes and
// replacements leave tombstones, which searches skip but still walk
// through; when tombstones pass [Config.RebuildFraction] of the slots, the
// same goroutine builds a compacted copy with a fresh graph and swaps it in.
//
// # Filters
//
// A filtered search on the graph keeps going until it has ef matching items
// (tombstones and non-matching items still guide the walk). If that walk
// runs past an eighth of the graph, or ends with fewer than k results, the
// search falls back to an exact scan of every item, testing the filter
// first. So a result has fewer than k hits only when fewer than k live
// items match; a selective filter costs one scan.
//
// # Lexical and hybrid search
//
// Every index also keeps a BM25 inverted index of its items' texts
// (lexical.go), so a search can rank by the words of a query text
// ([Lexical]), by its vector ([Dense]), or by both fused ([Hybrid]; the
// fusion and the measurements behind it are in hybrid.go). The inverted
// index lives in memory only: it follows every write, and opening an index
// rebuilds it from the texts that the snapshot and the logs hold, so it is
// as durable as the items and can never disagree with them. That rebuild
// adds 0.35–0.75 s to opening an index of 100k texts of 31 words (which
// takes 0.14–0.17 s without texts; bench/README.md): not worth a postings
// file with a crash protocol of its own.
//
// The inverted index is written here, not taken from a library.
// github.com/blevesearch/bleve/v2 v2.6.3, the well-kept Go choice, took
// 11.4 s to index 100k Debian package descriptions (8.8k texts/s; this
// index links them in under 0.75 s), 76 MiB of files of its own, and
// 1.1 ms a query (this one: 44–101 µs); it adds 27 modules and about 19 MB
// of binary, and would keep a second copy of the texts, in files that
// package disk does not guard, to be kept in step with the snapshot and
// logs across crashes. This one is about 300 lines, splits words with the
// embedders' tokenizer, and needs no files.
//
// # Memory
//
// Every index counts the bytes it holds, by part, in O(1) ([Memory], in
// [IndexInfo]; memory.go says how). A [Budget] bounds the total of the
// indexes of one or more Managers: an upsert that would take it past its
// limit fails with a TooLarge error before anything of it is written.
// Deletes and searches always work; deleted items' memory is freed when
// their index compacts (see Engine).
//
// # Durability
//
// Upsert and Delete return once their log record is fsynced; concurrent
// calls share one fsync (group commit). Writes become visible to searches
// just before they are durable. When the log passes [Config.SnapshotBytes],
// a new log is started and a snapshot of the state at that point is written
// beside it (temp file, fsync, rename, fsync directory); then the older log
// is removed. Opening replays the logs over the snapshot; a torn or
// corrupt record ends its log, which is cut there with a warning. A
// snapshot that fails its checksum leaves its index unavailable
// ([Manager.Unavailable]) while the other indexes open normally.
//
// A write or fsync of a log that fails (ENOSPC, EIO) fails the Upsert or
// Delete with the disk's error, and the writes of its batch are undone by
// reading the index back from disk: its snapshot and logs, the broken log
// only as far as its last successful fsync. The next write reopens that
// log and cuts it back to the same point before it appends, so a failed
// fsync is never retried and trusted; until the disk lets it, writes fail
// and reads carry on.
//
// Every file operation stays beneath the directory and follows no
// symbolic link (package lakehouse/internal/disk): an index whose folder,
// snapshot or log is a link is unavailable, and nothing outside is read.
//
// # Shared mode
//
// [OpenShared] opens a Manager whose indexes' truth is in PostgreSQL,
// shared by several nodes: writes are transactions there, numbered on a
// change feed that every node follows, applying each change, its own
// included, through the write path above; the directory is then this
// node's cache of the indexes. shared.go has the design.
package vector

import (
	"time"
)

// Metric is how an index compares vectors.
type Metric string

// The metrics. Under Cosine, vectors are normalised to unit length when
// stored, and Get returns them normalised.
const (
	Cosine Metric = "cosine" // Score is the cosine similarity; Distance = 1 - Score
	L2     Metric = "l2"     // Distance is the euclidean distance; Score = -Distance
	Dot    Metric = "dot"    // Score is the inner product; Distance = -Score
)

// The engines an index reports in [IndexInfo].
const (
	EngineFlat = "flat"
	EngineHNSW = "hnsw"
)

// IndexInfo describes an index.
type IndexInfo struct {
	Name   string `json:"name"`
	Dim    int    `json:"dims"`
	Metric Metric `json:"metric"`
	Model  string `json:"model"` // embedding model that built it ("" for raw vectors)
	// Quantization is how it keeps its vectors in memory: "int8", or ""
	// for float32.
	Quantization Quantization `json:"quantization,omitempty"`
	Count        int          `json:"count"`      // live items
	Engine       string       `json:"engine"`     // "flat" or "hnsw"
	CreatedAt    time.Time    `json:"created_at"` // UTC
	Memory       Memory       `json:"memory"`     // what it holds in memory; Config.Budget bounds the total
}

// Item is one vector with its id, and optionally the text it embeds and
// metadata to filter on.
type Item struct {
	ID       string         `json:"id"` // 1 to 256 bytes
	Vector   []float32      `json:"vector,omitempty"`
	Text     string         `json:"text,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"` // a JSON object
}

// Hit is one search result.
type Hit struct {
	ID       string         `json:"id"`
	Score    float32        `json:"score"`             // higher is better; what the search's Mode ranks by (see Mode)
	Distance float32        `json:"distance"`          // to the query vector: cosine: 1-sim; l2: euclidean distance; dot: -dot. Lexical mode, which has no vector: -Score
	Lexical  float32        `json:"lexical,omitempty"` // BM25 score of the item's text for the query text; lexical and hybrid modes
	Text     string         `json:"text,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Vector   []float32      `json:"vector,omitempty"` // only when asked
}

// Filter selects items by metadata. Each key names a top-level metadata
// key, and an item must meet the condition of every key:
//
//	{"lang": "en"}                    the value equals "en"
//	{"lang": ["en", "de"]}            the value equals one of them
//	{"year": {"gte": 2020, "lt": 2024}} the value is a number in the range (gt, gte, lt, lte)
//
// A metadata value that is a list matches when any element does. Values are
// strings, numbers, booleans or null; numbers compare by value.
type Filter map[string]any

// Mode is what a search ranks items by.
//
// Hit.Score is, by mode: under Dense, the metric's similarity (cosine
// similarity, inner product, or minus the euclidean distance); under
// Lexical, the BM25 score of the item's text (k1 = 1.2, b = 0.75), which
// grows with the number and rarity of the query words it holds; under
// Hybrid, the fused score, from 0 to 1 (see the package doc).
type Mode string

// The modes.
const (
	Dense   Mode = "dense"   // by the similarity of the item's vector to the query vector
	Lexical Mode = "lexical" // by BM25 of the item's text for the words of the query text
	Hybrid  Mode = "hybrid"  // by both, fused
)

// SearchOptions tune a Search. The zero value asks for the 10 nearest items.
type SearchOptions struct {
	K              int    // results wanted; 0 means 10, at most 1000
	Ef             int    // breadth of the graph search; 0 means max(64, K); raised to K when smaller; at most 10000
	Filter         Filter // only items whose metadata match
	IncludeVectors bool   // fill Hit.Vector

	// Mode says what to rank by. "" decides by the query: hybrid when it
	// has a vector and QueryText, lexical when it has only QueryText, dense
	// otherwise.
	Mode Mode
	// QueryText is the query in words, for the lexical and hybrid modes;
	// at most MaxText bytes. Dense ignores it.
	QueryText string
	// MinScore, if not nil, leaves out the hits whose Score is below it, so
	// a search may return fewer than K. nil keeps K hits whenever K items
	// match, however low they score.
	MinScore *float64
	// Only, if not empty, asks for these items alone (at most MaxK ids),
	// scored as the search would score them among its hits and returned
	// best first, however far down they rank: those that are live, match
	// Filter and MinScore and, under lexical, hold a word of the query. K
	// does not cut them. It is how a caller that knows which items it
	// wants (a playbook's recorded answers) learns their scores in a mode.
	Only []string
}

// Config tunes a Manager. The zero value gives the defaults.
type Config struct {
	FlatThreshold   int     // live items from which an index builds a graph; 0 means 20000
	M               int     // graph links per node (2M on layer 0); 0 means 16
	EfConstruction  int     // breadth of the search that links a new node; 0 means 200
	RebuildFraction float64 // tombstones, as a fraction of slots, that trigger a rebuild; 0 means 0.2
	SnapshotBytes   int64   // log size that triggers a new snapshot; 0 means 64 MiB

	// Budget bounds the memory of the Manager's indexes, together with
	// those of any other Manager given the same Budget; nil means one of
	// its own, of DefaultMaxMemory.
	Budget *Budget
}

// Defaults of Config.
const (
	DefaultFlatThreshold   = 20000
	DefaultRebuildFraction = 0.2
	DefaultSnapshotBytes   = 64 << 20
)

func (c Config) withDefaults() Config {
	if c.FlatThreshold <= 0 {
		c.FlatThreshold = DefaultFlatThreshold
	}
	if c.M <= 0 {
		c.M = DefaultM
	}
	if c.M < 2 {
		c.M = 2
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = DefaultEfConstruction
	}
	if c.RebuildFraction <= 0 {
		c.RebuildFraction = DefaultRebuildFraction
	}
	if c.SnapshotBytes <= 0 {
		c.SnapshotBytes = DefaultSnapshotBytes
	}
	if c.Budget == nil {
		c.Budget = NewBudget(0)
	}
	return c
}
