package vector

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"lakehouse/backends/errs"
	"lakehouse/internal/sysmem"
)

// Memory accounting. Every index knows, in O(1), the bytes it holds and
// where they go (Memory): slices count by their capacity, and what is
// summed over items (the bytes of ids, texts, metadata, terms and postings
// lists) is kept in counters that the segment and its lexicon update as
// slots are appended and terms and postings added. A rebuild or a reload
// makes a new segment, whose counters start again from its slots.
//
// What Go adds on top of the data is estimated from how it lays things
// out (go1.26): a string or []byte takes its allocator size class (see
// heapSize); a string header is 16 bytes, a slice header 24, an interface
// value 16; a map is a swiss table of 8-slot groups (see mapBytes).
// Measured against the growth of the heap (TestIndex_Memory_MatchesHeap),
// the total is within 2% for an index with texts, metadata and a graph.

// Memory is the memory an index holds, in bytes, by part. The slots of
// deleted and replaced items count until the index compacts them away.
// Passing peaks are not counted: while a rebuild builds the compacted copy
// the index holds both, and a slice outgrowing its array briefly holds the
// old array and the new one (a quarter larger) while it copies (vectors
// grow by chunks, which are never copied).
type Memory struct {
	Vectors  int64 `json:"vectors"`  // the vectors, 4 bytes per dimension per slot; of an int8 index, its codes and the vectors no snapshot holds yet
	Links    int64 `json:"links"`    // the HNSW graph; 0 while the index is flat
	IDs      int64 `json:"ids"`      // ids, the id -> slot map, and the per-slot arrays
	Texts    int64 `json:"texts"`    // the items' texts
	Metadata int64 `json:"metadata"` // metadata as JSON, its values decoded for filters, and the per-item records holding both
	Postings int64 `json:"postings"` // the lexical (BM25) index of the texts
	Total    int64 `json:"total"`
}

// withTotal returns m with Total set to the sum of its parts.
func (m Memory) withTotal() Memory {
	m.Total = m.Vectors + m.Links + m.IDs + m.Texts + m.Metadata + m.Postings
	return m
}

// Sizes of Go values, in bytes, on 64-bit platforms.
const (
	stringHeader = 16
	sliceHeader  = 24
	ifaceValue   = 16
	extraStruct  = 64 // an extra: a string and two slices

	// The slot of the id map (a string key with a uint32 value, padded to
	// 8), and an attr (a string and an interface value).
	idSlot   = 24
	attrSize = 32
)

// heapSize is what the Go allocator takes for an object of n bytes without
// pointers (string bytes, a []byte, a boxed number): its size class, in
// steps of 16 bytes up to 256 and then of about an eighth (of 8 KiB from
// 32 KiB). Objects under 16 bytes share 16-byte blocks (the tiny
// allocator), but a block lives as long as any of its objects, and those
// here are made among the garbage of decoding a request: each is counted
// as a block of its own, which the heap measurements bear out. A string
// of one byte takes none (Go keeps them static).
func heapSize(n int) int64 {
	switch {
	case n <= 1:
		return 0
	case n <= 256:
		return roundUp(n, 16)
	case n <= 32<<10:
		return roundUp(n, 1<<(bits.Len(uint(n-1))-4))
	default:
		return roundUp(n, 8<<10)
	}
}

func roundUp(n, step int) int64 { return int64((n + step - 1) / step * step) }

// mapBytes estimates a Go map with room for n entries of slot bytes each
// (key and value). A map of up to 8 entries is a header of 48 bytes and
// one group: 8 control bytes and 8 slots. A larger one keeps its tables
// between 7/16 and 7/8 full as they split; measured here, about 7/10 on
// average, with a control byte per slot.
func mapBytes(n, slot int) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 8:
		return 48 + heapSize(8+8*slot)
	default:
		return 48 + int64(n)*int64(slot+1)*10/7
	}
}

// bytes returns the memory of e's text and of the rest of e, its metadata
// and the extra itself; 0, 0 for nil.
func (e *extra) bytes() (text, meta int64) {
	if e == nil {
		return 0, 0
	}
	// The keys of attrs are interned: shared by the items, not counted.
	meta = extraStruct + heapSize(cap(e.meta)) + heapSize(attrSize*cap(e.attrs))
	for _, a := range e.attrs {
		meta += valueBytes(a.val)
	}
	return heapSize(len(e.text)), meta
}

// valueBytes is what an attribute value (see attrsOf) holds beyond its
// interface value: a boxed float64, a boxed string header and its bytes, or
// a boxed slice header and its elements. Booleans and nil box nothing.
func valueBytes(v any) int64 {
	switch x := v.(type) {
	case float64:
		return heapSize(8)
	case string:
		return stringHeader + heapSize(len(x))
	case []any:
		b := sliceHeader + ifaceValue*int64(cap(x))
		for _, e := range x {
			b += valueBytes(e)
		}
		return b
	}
	return 0
}

// nodeBytes estimates a graph node: its level, its layer-0 list, its
// offset into the upper slab and, since a node reaches layer l with
// probability M^-l, on average 1/(M-1) upper lists.
func nodeBytes(m int) int64 {
	return 1 + 4*int64(2*m+1) + 4 + 4*int64(m+1)/int64(m-1)
}

// memory returns what s holds; the index's lock is held.
func (s *segment) memory() Memory {
	m := Memory{
		Vectors:  s.vectorBytes(),
		IDs:      stringHeader*int64(cap(s.ids)) + 8*int64(cap(s.extras)+cap(s.dead)) + s.idBytes + mapBytes(s.mapRoom, idSlot),
		Texts:    s.textBytes,
		Metadata: s.metaBytes,
		Postings: s.lex.bytes(),
	}
	if s.g != nil {
		m.Links = s.g.bytes()
	}
	return m.withTotal()
}

// vectorBytes is the memory of s's vectors: all of them, or for a
// quantised index its codes and the vectors that no snapshot file holds
// yet (the others are read from the file when re-ranking, not kept).
func (s *segment) vectorBytes() int64 {
	if s.codes == nil {
		return s.vecs.bytes()
	}
	mapped := 0
	for _, m := range s.vecs.mapped {
		if m {
			mapped++
		}
	}
	return s.codes.bytes() + max(0, s.vecs.bytes()-int64(mapped*s.vecs.chunkBytes()))
}

// growth estimates what upserting ps would add to s, by the same counts as
// memory: the items' vectors, ids, texts, metadata and postings, and the
// graph nodes they will get once linked (the graph is linked in the
// background; a graph about to be created counts every slot). It does not
// net out room the slices have spare, so it errs on the high side by up
// to their spare capacity. The index's lock is held, for reading at least.
func (s *segment) growth(ps []prepared, cfg Config) Memory {
	var m Memory
	fresh := 0 // ids not in s, which the id map must make room for
	newTerms := map[string]bool{}
	for _, p := range ps {
		m.Vectors += 4 * int64(len(p.vec))
		if s.codes != nil {
			m.Vectors += int64(s.codes.width)
		}
		m.IDs += heapSize(len(p.id)) + stringHeader + 8 // its bytes, and its entries in ids and extras
		if _, ok := s.slots[p.id]; !ok {
			fresh++
		}
		text, meta := p.ex.bytes()
		m.Texts += text
		m.Metadata += meta
		m.Postings += 8 // its offset into fwd and its length
		for _, tc := range p.doc.terms {
			m.Postings += 16 // its entries in fwd and in the term's list
			if _, ok := s.lex.ids[tc.term]; !ok && !newTerms[tc.term] {
				newTerms[tc.term] = true
				m.Postings += termBytes(tc.term)
			}
		}
	}
	// A tombstone bit each, and room in the id map and the lexicon's.
	m.IDs += int64(len(ps))/8 + mapBytes(max(s.mapRoom, len(s.slots)+fresh), idSlot) - mapBytes(s.mapRoom, idSlot)
	m.Postings += mapBytes(len(s.lex.ids)+len(newTerms), idSlot) - mapBytes(len(s.lex.ids), idSlot)
	switch n := s.n() + len(ps); {
	case s.g != nil:
		m.Links = nodeBytes(cfg.M) * int64(max(0, n-cap(s.g.levels)))
	case s.live()+len(ps) >= cfg.FlatThreshold:
		m.Links = nodeBytes(cfg.M) * int64(n)
	}
	return m.withTotal()
}

// termBytes is what a term new to a lexicon takes, besides its postings and
// its map entry: its bytes, its string header in terms, its postings list's
// header and its document frequency.
func termBytes(term string) int64 {
	return heapSize(len(term)) + stringHeader + sliceHeader + 4
}

// DefaultMaxMemory returns the memory that the vector indexes may hold
// under NewBudget(0), as under a Config without a Budget: half of what
// this process may use (the machine's memory, or its cgroup's limit when
// lower), leaving the rest to DuckDB (a quarter; see sqlengine) and the
// other engines. It is 0, no limit, where that memory cannot be read
// (outside Linux).
func DefaultMaxMemory() int64 { return sysmem.Usable() / 2 }

// A Budget bounds the memory (as [Memory] counts it) of the indexes of one
// or more Managers together: an upsert that would take their total past
// the limit fails before anything of it is written. Managers given the
// same Budget (through [Config.Budget]) share it: mcpd gives one to its
// indexes and to the pathway's trace index. Deletes and searches are
// never refused.
type Budget struct {
	limit int64 // 0: none (DefaultMaxMemory where memory cannot be read)

	// mu is held from an upsert's check until its items are in memory, so
	// that two upserts cannot both pass on the same room; it guards
	// indexes. It is taken after an index's wmu and before any index's mu.
	mu      sync.Mutex
	indexes map[*index]bool
}

// NewBudget returns a Budget of limit bytes; 0 means [DefaultMaxMemory].
func NewBudget(limit int64) *Budget {
	if limit == 0 {
		limit = DefaultMaxMemory()
	}
	return &Budget{limit: limit, indexes: map[*index]bool{}}
}

// used returns the bytes the indexes hold together.
func (b *Budget) used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.usedLocked()
}

func (b *Budget) usedLocked() int64 {
	var n int64
	for ix := range b.indexes {
		n += ix.memory().Total
	}
	return n
}

// join and leave add and remove an index of a Manager.
func (b *Budget) join(ix *index) {
	b.mu.Lock()
	b.indexes[ix] = true
	b.mu.Unlock()
}

func (b *Budget) leave(ix *index) {
	b.mu.Lock()
	delete(b.indexes, ix)
	b.mu.Unlock()
}

// admit checks that ix may grow by ps and, if so, returns with b.mu held,
// for the caller to write and apply them and then unlock. Otherwise it
// returns an error of kind TooLarge, with b.mu not held.
func (b *Budget) admit(ix *index, ps []prepared) error {
	b.mu.Lock()
	if b.limit == 0 {
		return nil
	}
	ix.mu.RLock()
	own, grow := ix.seg.memory(), ix.seg.growth(ps, ix.cfg)
	ix.mu.RUnlock()
	used := b.usedLocked()
	if used+grow.Total <= b.limit {
		return nil
	}
	b.mu.Unlock()
	these := fmt.Sprintf("these %d items", len(ps))
	if len(ps) == 1 {
		these = "this item"
	}
	return errs.New(errs.TooLarge, "vector index %q would grow to %s with %s; vector.max_memory is %s (all indexes hold %s): "+
		"delete items (an index frees them when it compacts, once %.0f%% of its slots are deleted), drop an index, or raise vector.max_memory",
		ix.name, formatBytes(own.Total+grow.Total), these, formatBytes(b.limit), formatBytes(used), 100*ix.cfg.RebuildFraction)
}

// formatBytes writes n in the largest binary unit it has one of, to one
// decimal: "512 B", "3.2 MiB", "1 GiB".
func formatBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	x, i := float64(n)/1024, 0
	for x >= 1024 && i < len(units)-1 {
		x /= 1024
		i++
	}
	return strings.TrimSuffix(strconv.FormatFloat(x, 'f', 1, 64), ".0") + " " + units[i:i+1] + "iB"
}
