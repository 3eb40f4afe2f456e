package vector

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"lakehouse/backends/errs"
	"lakehouse/internal/disk"
)

// An index is one named vector index: its items in a segment, its log, and
// a background worker that builds and rebuilds its graph.
//
// Locks: snapMu is held while a snapshot is taken, and by recover; it is
// taken before wmu. wmu serialises writers (Upsert, Delete), log rotation
// and closing, and is taken before mu. mu guards seg and everything in it:
// searches and Get hold it for reading; a writer holds it for writing only
// while it changes the segment, and the worker only while it writes one
// node's links (see graph.plan and graph.apply).
//
// A failed write or fsync of the log breaks it; see recover for how the
// index comes back.
type index struct {
	name    string
	dir     *disk.Dir // the index's folder
	dim     int
	metric  Metric
	model   string
	quant   Quantization
	created time.Time
	cfg     Config

	wmu      sync.Mutex
	log      *wal // the log being appended to; guarded by wmu
	closed   bool // guarded by wmu
	closing  bool // close has begun; guarded by wmu
	reloaded bool // log is broken, and seg was read back from disk since; guarded by wmu

	mu       sync.RWMutex
	seg      *segment
	lost     error         // set while seg may hold failed writes that could not be read back from disk: reads return it
	progress chan struct{} // closed and replaced whenever the worker finishes a step
	unsaved  int           // nodes linked since the last snapshot

	wake   chan struct{} // nudges the worker; capacity 1
	stop   chan struct{} // closed by close: the worker returns
	abort  chan struct{} // closed by close when dropping: a snapshot being written gives up
	done   chan struct{} // closed when the worker returns
	snapMu sync.Mutex    // held while a snapshot is taken
	bg     sync.WaitGroup

	// The generations of the snapshot files, current and previous (0:
	// none); guarded by snapMu.
	snapCur, snapPrev uint64

	// floor, in shared mode, returns the feed number up to which every
	// change of the feed has been applied to this node's indexes; nil in
	// local mode. Read under wmu, it is a number the index's state covers,
	// which snapshot and close mark in the log (see shared.go).
	floor func() int64
}

func isL2(m Metric) bool { return m == L2 }

// createIndex makes the folder of a new, empty index name in root and
// opens it, as created at created. The folder is assembled under a
// temporary name and renamed into place, so a crash leaves either no index
// or a whole one.
func createIndex(root *disk.Dir, name string, spec Spec, created time.Time, cfg Config) (*index, error) {
	tmp, err := root.MkdirTemp(".", ".tmp-"+name+"-*")
	if err != nil {
		return nil, fmt.Errorf("create index folder: %w", err)
	}
	defer root.RemoveAll(tmp) // a no-op once renamed
	d, err := root.Sub(tmp)
	if err != nil {
		return nil, fmt.Errorf("create index folder: %w", err)
	}
	err = writeEmpty(d, snapHeader{gen: 1, dim: spec.Dim, metric: spec.Metric, model: spec.Model, quant: spec.Quantization, created: created.UTC()})
	d.Close()
	if err != nil {
		return nil, err
	}
	if err := root.Rename(tmp, name); err != nil {
		return nil, fmt.Errorf("create index folder: %w", err)
	}
	if err := root.SyncDir("."); err != nil {
		return nil, fmt.Errorf("create index folder: %w", err)
	}
	return loadIndex(root, name, cfg)
}

// writeEmpty writes the files of an empty index into the folder d: the
// snapshot of generation h.gen and its log.
func writeEmpty(d *disk.Dir, h snapHeader) error {
	if err := writeSnapshot(d, snapshotName, &capture{snapHeader: h, vecs: vecView{shift: minChunkShift}}, nil); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	w, err := createWAL(d, h.gen)
	if err != nil {
		return err
	}
	return w.close()
}

// loadIndex opens the index in the folder name of root: it removes the
// temp files a crash left, reads the snapshot, replays the logs of its
// generation and later, and starts the worker.
func loadIndex(root *disk.Dir, name string, cfg Config) (_ *index, err error) {
	d, err := root.Sub(name)
	if err != nil {
		return nil, err
	}
	var cur *wal
	defer func() {
		if err != nil {
			if cur != nil {
				cur.close()
			}
			d.Close()
		}
	}()
	if err := removeTemps(d); err != nil {
		return nil, err
	}
	st, err := readState(d, name, cfg, func(gen uint64, apply func([]byte) error) error {
		if cur != nil {
			if err := cur.close(); err != nil {
				return err
			}
		}
		w, st, err := openWAL(d, gen, apply)
		cur = w
		if err != nil {
			return err
		}
		if st.Records > 0 || st.TornBytes > 0 || st.Skipped > 0 {
			slog.Debug("vector index log replayed", "index", name, "file", d.Path(w.name), "records", st.Records, "skipped", st.Skipped, "cut_bytes", st.TornBytes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := st.h
	if st.damaged != nil {
		// Set the damaged file aside, for a look, and write a good one soon.
		slog.Warn("vector index snapshot is damaged; read the previous one and the logs instead", "index", name, "err", st.damaged)
		if err := d.Rename(snapshotName, badSnapName); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if cur == nil {
		if cur, err = createWAL(d, h.gen); err != nil {
			return nil, err
		}
	}
	ix := &index{
		name: name, dir: d, dim: h.dim, metric: h.metric, model: h.model, quant: h.quant, created: h.created, cfg: cfg,
		log:      cur,
		seg:      st.seg,
		snapCur:  st.cur,
		snapPrev: st.prev,
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	go ix.run()
	ix.kick()
	if st.damaged != nil {
		ix.startSnapshot()
	}
	return ix, nil
}

// state is an index as read from its folder: its header and segment, and
// the generations of its current and previous snapshot files (0: none).
// damaged, if set, says why the current file could not be read, the
// previous one having been read instead.
type state struct {
	h         snapHeader
	seg       *segment
	cur, prev uint64
	damaged   error
}

// readState reads the index folder d: its snapshot and, over it, the logs
// of the snapshot's generation and later (it holds the older ones): replay
// is called with each such generation, oldest first, and the function that
// applies one of the log's records. If the current snapshot is missing or
// damaged, the previous one is read instead, with the logs from its
// generation on, which are kept for that (see snapshot). Then it indexes
// the texts of the live items for lexical search, all at once
// (lexicon.link). It only reads.
func readState(d *disk.Dir, name string, cfg Config, replay func(gen uint64, apply func([]byte) error) error) (st state, err error) {
	gens, err := listLogs(d)
	if err != nil {
		return st, err
	}
	h, seg, graphErr, err := readSnapshot(d, snapshotName, isL2)
	st.cur = h.gen
	if errors.Is(err, errDamaged) || errors.Is(err, fs.ErrNotExist) {
		var perr error
		if h, seg, graphErr, perr = readSnapshot(d, prevSnapName, isL2); perr != nil {
			if errors.Is(perr, fs.ErrNotExist) {
				return st, err
			}
			return st, fmt.Errorf("%w; and the previous snapshot: %w", err, perr)
		}
		st.cur, st.prev = 0, h.gen
		if !errors.Is(err, fs.ErrNotExist) {
			st.damaged = err
		}
	} else if err != nil {
		return st, err
	}
	st.h = h
	if graphErr != nil {
		slog.Warn("vector index graph is unusable; it will be rebuilt", "index", name, "err", graphErr)
	}
	if seg.g != nil {
		seg.g.efc = cfg.EfConstruction
	}
	// Every generation from the snapshot's on has a log (see snapshot).
	want := h.gen
	for _, gen := range gens {
		if gen < h.gen {
			continue
		}
		if gen != want {
			return st, fmt.Errorf("vector index %q: the log of generation %d is missing from %s", name, want, d.Path("."))
		}
		want++
	}
	apply := func(p []byte) error { return applyRecord(seg, p) }
	for gen := h.gen; gen < want; gen++ {
		if err := replay(gen, apply); err != nil {
			return st, err
		}
	}
	seg.lex.link(seg.extras, seg.dead)
	st.seg = seg
	return st, nil
}

// listLogs returns the generations of the logs in the index folder d,
// oldest first.
func listLogs(d *disk.Dir) ([]uint64, error) {
	entries, err := d.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("list index folder: %w", err)
	}
	var gens []uint64
	for _, e := range entries {
		name := e.Name()
		var gen uint64
		if n, _ := fmt.Sscanf(name, "wal-%016x.log", &gen); n == 1 && name == walName(gen) {
			gens = append(gens, gen)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// removeLogsBefore removes the logs of the index folder d older than
// generation gen, whose snapshot is durable and holds them. It does not
// fsync the folder: a removal that a power cut undoes leaves a log that
// loading skips, and removes again.
func removeLogsBefore(d *disk.Dir, gen uint64) error {
	gens, err := listLogs(d)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g >= gen {
			break
		}
		if err := d.Remove(walName(g)); err != nil {
			return fmt.Errorf("remove old log: %w", err)
		}
	}
	return nil
}

// removeTemps removes the temp files of writes that a crash cut short from
// the index folder d: "*.tmp" of [disk.Dir.WriteAtomic], ".tmp-*" as
// earlier versions of this package named them, and a snapshot written but
// not yet put in place.
func removeTemps(d *disk.Dir) error {
	entries, err := d.ReadDir(".")
	if err != nil {
		return fmt.Errorf("list index folder: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".tmp") || strings.HasPrefix(name, ".tmp-") || name == nextSnapName {
			if err := d.Remove(name); err != nil {
				return fmt.Errorf("remove temp file: %w", err)
			}
		}
	}
	return nil
}

func (ix *index) info() IndexInfo {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	engine := EngineFlat
	if ix.seg.g != nil {
		engine = EngineHNSW
	}
	return IndexInfo{
		Name: ix.name, Dim: ix.dim, Metric: ix.metric, Model: ix.model, Quantization: ix.quant,
		Count: ix.seg.live(), Engine: engine, CreatedAt: ix.created,
		Memory: ix.seg.memory(),
	}
}

// memory returns what the index holds in memory.
func (ix *index) memory() Memory {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.seg.memory()
}

func (ix *index) errClosed() error {
	return errs.New(errs.NotFound, "vector index %q was dropped or closed", ix.name)
}

// kick tells the worker to look for work.
func (ix *index) kick() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

func (ix *index) upsert(ctx context.Context, items []Item) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ps, err := prepareItems(items, ix.dim, ix.metric)
	if err != nil || len(ps) == 0 {
		return 0, err
	}
	return ix.put(ps, 0)
}

// put writes and applies the prepared items ps: upsert's second half, and
// how a change of the feed numbered seq is applied in shared mode (seq 0:
// local mode). A shared change is not refused for want of memory: it has
// committed, and the node that wrote it checked its budget (see shared.go).
func (ix *index) put(ps []prepared, seq int64) (int, error) {
	payload := encodeUpsert(ps, ix.dim)
	if seq > 0 {
		payload = encodeShared(seq, payload)
	}
	if err := ix.lockWriter(); err != nil {
		return 0, err
	}
	// Nothing is written unless the budget has room for the items; it
	// stays locked until they are in memory.
	b := ix.cfg.Budget
	if seq > 0 {
		b.mu.Lock()
	} else if err := b.admit(ix, ps); err != nil {
		ix.wmu.Unlock()
		return 0, err
	}
	w := ix.log
	n, err := w.add(payload)
	if err != nil {
		b.mu.Unlock()
		ix.wmu.Unlock()
		return 0, err
	}
	ix.mu.Lock()
	for _, p := range ps {
		ix.seg.put(p.id, p.vec, p.ex, p.doc)
	}
	ix.seg.feedSeq = max(ix.seg.feedSeq, seq)
	ix.mu.Unlock()
	b.mu.Unlock()
	if err := ix.acknowledge(w, n); err != nil {
		return 0, err
	}
	return len(ps), nil
}

func checkIDs(ids []string, what string) error {
	if len(ids) > MaxBatch {
		return errs.New(errs.Invalid, "%d ids in one %s; send at most %d per call", len(ids), what, MaxBatch)
	}
	for i, id := range ids {
		if err := validateID(id, i); err != nil {
			return err
		}
	}
	return nil
}

func (ix *index) delete(ctx context.Context, ids []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkIDs(ids, "delete"); err != nil {
		return 0, err
	}
	return ix.remove(ids, 0)
}

// remove writes and applies the deletion of those of ids that are live:
// delete's second half, and how a change of the feed numbered seq is
// applied in shared mode (seq 0: local mode).
func (ix *index) remove(ids []string, seq int64) (int, error) {
	if err := ix.lockWriter(); err != nil {
		return 0, err
	}
	// Only writers change which ids are live, and this one holds wmu: the
	// set found here stays true until it is applied below.
	ix.mu.RLock()
	var gone []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if _, ok := ix.seg.slots[id]; ok && !seen[id] {
			gone = append(gone, id)
			seen[id] = true
		}
	}
	ix.mu.RUnlock()
	if len(gone) == 0 {
		ix.wmu.Unlock()
		return 0, nil
	}
	payload := encodeDelete(gone)
	if seq > 0 {
		payload = encodeShared(seq, payload)
	}
	w := ix.log
	n, err := w.add(payload)
	if err != nil {
		ix.wmu.Unlock()
		return 0, err
	}
	ix.mu.Lock()
	for _, id := range gone {
		ix.seg.remove(id)
	}
	ix.seg.feedSeq = max(ix.seg.feedSeq, seq)
	ix.mu.Unlock()
	if err := ix.acknowledge(w, n); err != nil {
		return 0, err
	}
	return len(gone), nil
}

// mark records in the log, in shared mode, that the index's state covers
// the feed up to seq (see shared.go), and returns once that is durable.
func (ix *index) mark(seq int64) error {
	if err := ix.lockWriter(); err != nil {
		return err
	}
	w := ix.log
	n, err := w.add(encodeShared(seq, nil))
	if err != nil {
		ix.wmu.Unlock()
		return err
	}
	ix.mu.Lock()
	ix.seg.feedSeq = max(ix.seg.feedSeq, seq)
	ix.mu.Unlock()
	return ix.acknowledge(w, n)
}

// markFloorLocked adds to the log w, in shared mode, a mark of the feed
// number that the index's state covers now: its own, or the node's floor
// if higher; wmu is held. A local index adds nothing.
func (ix *index) markFloorLocked(w *wal) error {
	if ix.floor == nil {
		return nil
	}
	ix.mu.Lock()
	seq := max(ix.seg.feedSeq, ix.floor())
	ix.seg.feedSeq = seq
	ix.mu.Unlock()
	if seq == 0 {
		return nil
	}
	_, err := w.add(encodeShared(seq, nil))
	return err
}

// acknowledge finishes a write whose record seq is in log w and applied:
// it releases wmu, wakes the graph builder and returns once the record is
// durable, starting a snapshot when the log has outgrown SnapshotBytes.
func (ix *index) acknowledge(w *wal, seq uint64) error {
	full := w.bytes() > ix.cfg.SnapshotBytes
	ix.wmu.Unlock()
	ix.kick()
	if err := w.sync(seq); err != nil {
		// The record is applied but not durable, and so may be others of
		// its batch: put memory back to what the disk holds before saying
		// so. If the log cannot be reopened yet, the next write tries
		// again; the caller learns of the failure from err either way.
		ix.recover()
		return err
	}
	if full {
		ix.startSnapshot()
	}
	return nil
}

// lockWriter takes wmu for a write to the index, first bringing the log
// back (recover) if a write or fsync of it failed. On error wmu is not
// held.
func (ix *index) lockWriter() error {
	ix.wmu.Lock()
	if !ix.closed && ix.log.failed() != nil {
		ix.wmu.Unlock()
		if err := ix.recover(); err != nil {
			return err
		}
		ix.wmu.Lock()
	}
	if ix.closed {
		ix.wmu.Unlock()
		return ix.errClosed()
	}
	return nil
}

// recover brings the index back after a write or fsync of its log failed,
// from what is on disk. The records of the failed batch were applied in
// memory, and their writers are told that they failed, so first seg is
// replaced by the state read back from disk: the snapshot and the logs, the
// broken one only as far as its last successful fsync (readDurable). That
// is the simplest way to undo a batch of writes of several callers, and it
// needs only reads, so it works while the disk still refuses writes. If
// even reading fails, reads of the index return the error instead (lost)
// until a later attempt succeeds. Then the log is reopened and cut back to
// its durable bytes (wal.reopen); until that succeeds, every write fails
// with the disk's error and tries again. The failed fsync is never retried
// and trusted.
//
// recover holds snapMu, so that no snapshot writes or removes files while
// they are read back.
func (ix *index) recover() error {
	ix.snapMu.Lock()
	defer ix.snapMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	w := ix.log
	failure := w.failed()
	if ix.closed || failure == nil {
		return nil // closed, or brought back by another writer
	}
	if !ix.reloaded {
		seg, err := ix.readDurable(w)
		ix.mu.Lock()
		if err != nil {
			ix.lost = fmt.Errorf("vector index %q holds writes that failed (%v), and reading it back from disk failed: %w", ix.name, failure, err)
		} else {
			ix.seg, ix.lost, ix.unsaved = seg, nil, 0
		}
		lost := ix.lost
		ix.mu.Unlock()
		if lost != nil {
			return lost
		}
		ix.reloaded = true
		ix.kick()
	}
	next, err := w.reopen()
	if err != nil {
		return fmt.Errorf("vector index %q cannot take writes: its log failed (%v), and reopening it failed: %w", ix.name, failure, err)
	}
	ix.log, ix.reloaded = next, false
	return nil
}

// readDurable reads back the state that the disk holds durably while the
// log w is broken: the snapshot and the logs, w's only as far as its last
// successful fsync (what its file holds after that may be in the page
// cache only, or nowhere). It only reads.
func (ix *index) readDurable(w *wal) (*segment, error) {
	st, err := readState(ix.dir, ix.name, ix.cfg, func(gen uint64, apply func([]byte) error) error {
		f, err := ix.dir.Open(walName(gen))
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		defer f.Close()
		size := int64(-1)
		if gen == w.gen {
			size = w.syncedBytes()
		}
		if _, err := scanWAL(f, size, gen, apply); err != nil {
			return fmt.Errorf("read log %s: %w", f.Path(), err)
		}
		return nil
	})
	return st.seg, err
}

func (ix *index) get(ids []string) ([]Item, error) {
	items := make([]Item, 0, len(ids))
	err := ix.each(ids, "get", func(s *segment, id string, i uint32) {
		ex := s.extras[i]
		items = append(items, Item{ID: id, Vector: slices.Clone(s.vec(i)), Text: ex.getText(), Metadata: ex.metadata()})
	})
	return items, err
}

// digests returns the texts and stored metadata of the live items among
// ids, in the order asked.
func (ix *index) digests(ids []string) ([]Digest, error) {
	out := make([]Digest, 0, len(ids))
	err := ix.each(ids, "get", func(s *segment, id string, i uint32) {
		ex := s.extras[i]
		d := Digest{ID: id, Text: ex.getText()}
		if ex != nil {
			d.Metadata = ex.meta
		}
		out = append(out, d)
	})
	return out, err
}

// fingerprint is Manager.Fingerprint: the sum of ItemHash over the live
// items, over ranges of slots on every CPU.
func (ix *index) fingerprint() (uint64, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.lost != nil {
		return 0, ix.lost
	}
	s := ix.seg
	parts := max(1, min(runtime.GOMAXPROCS(0), s.n()/4096))
	sums := make([]uint64, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			for i := p * s.n() / parts; i < (p+1)*s.n()/parts; i++ {
				if s.isDead(uint32(i)) {
					continue
				}
				var text string
				var meta []byte
				if ex := s.extras[i]; ex != nil {
					text, meta = ex.text, ex.meta
				}
				sums[p] += ItemHash(s.ids[i], text, meta)
			}
		})
	}
	wg.Wait()
	var sum uint64
	for _, v := range sums {
		sum += v
	}
	return sum, nil
}

// ItemHash is the hash of an item that [Manager.Fingerprint] sums: of its
// id, text and metadata JSON (nil when it has none). A caller that knows
// what an index should hold sums it over those items to compare.
func ItemHash(id, text string, meta []byte) uint64 {
	// The id ends in a byte no string of it holds (0xff is not UTF-8), so
	// no shift of bytes between id and text hashes the same; the metadata
	// is hashed with the id after it.
	a := crc32.Update(crc32.Update(crc32.Update(0, castagnoli, bytesOf(id)), castagnoli, idEnd), castagnoli, bytesOf(text))
	b := crc32.Update(crc32.Update(0, castagnoli, meta), castagnoli, bytesOf(id))
	return mix64(uint64(a)<<32 | uint64(b))
}

var idEnd = []byte{0xff}

// bytesOf is s's bytes, not copied, for reading only.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// mix64 spreads the bits of x over all of the result (splitmix64's
// finaliser), so that a sum of hashes does not cancel out.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// each calls f, under the read lock, with the slot of each live item among
// ids (checked as op checks them), in the order asked.
func (ix *index) each(ids []string, op string, f func(s *segment, id string, i uint32)) error {
	if err := checkIDs(ids, op); err != nil {
		return err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.lost != nil {
		return ix.lost
	}
	for _, id := range ids {
		if i, ok := ix.seg.slots[id]; ok {
			f(ix.seg, id, i)
		}
	}
	return nil
}

func searchParams(opts SearchOptions) (k, ef int, err error) {
	k, ef = opts.K, opts.Ef
	switch {
	case k == 0:
		k = DefaultK
	case k < 0 || k > MaxK:
		return 0, 0, errs.New(errs.Invalid, "k = %d is out of range; ask for 1 to %d results", k, MaxK)
	}
	switch {
	case ef == 0:
		ef = max(DefaultEf, k)
	case ef < 0 || ef > MaxEf:
		return 0, 0, errs.New(errs.Invalid, "ef = %d is out of range; use 1 to %d, or 0 for the default (64, or k if larger)", ef, MaxEf)
	}
	return k, max(ef, k), nil
}

func (ix *index) search(ctx context.Context, q []float32, opts SearchOptions) ([]Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, ef, err := searchParams(opts)
	if err != nil {
		return nil, err
	}
	if len(opts.Only) > MaxK {
		return nil, errs.New(errs.Invalid, "only lists %d ids; ask for at most %d", len(opts.Only), MaxK)
	}
	mode, terms, err := checkQuery(q, opts)
	if err != nil {
		return nil, err
	}
	f, err := compileFilter(opts.Filter)
	if err != nil {
		return nil, err
	}
	sc := getScratch()
	defer putScratch(sc)
	if mode != Lexical {
		if err := checkVector(q, ix.dim, ix.metric, "the query vector"); err != nil {
			return nil, err
		}
		sc.query = append(sc.query[:0], q...)
		if ix.metric == Cosine {
			normalize(sc.query)
		}
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.lost != nil {
		return nil, ix.lost
	}
	s := ix.seg
	var only map[uint32]bool // nil: the top k
	if opts.Only != nil {
		only = s.slotsOf(opts.Only)
	}
	var res []scored
	switch mode {
	case Dense:
		res = s.denseSearch(sc.query, k, ef, f, only, sc)
	case Lexical:
		res = s.lexicalSearch(terms, k, f, only, sc)
	case Hybrid:
		res = s.hybridSearch(sc.query, terms, k, ef, ix.metric, f, only, sc)
	}
	if opts.MinScore != nil {
		// res is best first: cut at the first hit below the minimum.
		cut := slices.IndexFunc(res, func(r scored) bool { return float64(r.score) < *opts.MinScore })
		if cut >= 0 {
			res = res[:cut]
		}
	}
	hits := make([]Hit, len(res))
	for i, r := range res {
		ex := s.extras[r.slot]
		h := Hit{ID: s.ids[r.slot], Score: r.score, Text: ex.getText(), Metadata: ex.metadata()}
		switch {
		case mode == Lexical:
			h.Distance, h.Lexical = -r.score, r.lex
		case ix.metric == Cosine:
			h.Distance = 1 + r.d
		case ix.metric == Dot:
			h.Distance = r.d
		case ix.metric == L2:
			h.Distance = float32(math.Sqrt(float64(max(r.d, 0))))
		}
		if mode == Hybrid {
			h.Lexical = r.lex
		}
		if opts.IncludeVectors {
			h.Vector = slices.Clone(s.vec(r.slot))
		}
		hits[i] = h
	}
	return hits, nil
}

// The worker.

// run is the worker: it links new items into the graph, creates the graph
// when an index grows past the flat threshold, and rebuilds when tombstones
// pile up, until close.
func (ix *index) run() {
	defer close(ix.done)
	sc, p := new(scratch), new(linkPlan)
	for {
		worked := ix.step(sc, p)
		ix.mu.Lock()
		close(ix.progress)
		ix.progress = make(chan struct{})
		// Once a graph has been built, or has grown by a quarter, save it,
		// so that opening the index again need not link those nodes again.
		save := !worked && ix.unsaved >= 1024 && ix.unsaved >= ix.seg.n()/4
		ix.mu.Unlock()
		if save {
			ix.startSnapshot()
		}
		if worked {
			select {
			case <-ix.stop:
				return
			default:
			}
			continue
		}
		select {
		case <-ix.stop:
			return
		case <-ix.wake:
		}
	}
}

// pendingLocked says whether the worker has work; mu is held.
func (ix *index) pendingLocked() bool {
	s := ix.seg
	switch {
	case ix.needsRebuild(s):
		return true
	case s.g == nil:
		return s.live() >= ix.cfg.FlatThreshold
	default:
		return s.g.size() < s.n()
	}
}

func (ix *index) needsRebuild(s *segment) bool {
	return s.nDead > 0 && float64(s.nDead) >= ix.cfg.RebuildFraction*float64(s.n())
}

func (ix *index) stopped() bool {
	select {
	case <-ix.stop:
		return true
	default:
		return false
	}
}

// step does one bounded piece of work and reports whether there was any.
func (ix *index) step(sc *scratch, p *linkPlan) bool {
	ix.mu.RLock()
	s := ix.seg
	n := s.n()
	vecs := s.space() // slots below n never change, so this view stays valid
	rebuild := ix.needsRebuild(s)
	create := s.g == nil && s.live() >= ix.cfg.FlatThreshold
	g := s.g
	ix.mu.RUnlock()
	switch {
	case rebuild:
		ix.rebuild(sc, p)
	case create:
		ix.mu.Lock()
		s.g = newGraph(ix.dim, ix.cfg.M, ix.cfg.EfConstruction, n)
		ix.mu.Unlock()
	case g != nil && g.size() < n:
		// Only this goroutine changes g, so it may plan without the lock;
		// apply needs it, to keep searches out while links change.
		for i := 0; i < 256 && g.size() < n && !ix.stopped(); i++ {
			g.plan(&vecs, uint32(g.size()), p, sc)
			ix.mu.Lock()
			g.apply(p)
			ix.unsaved++
			ix.mu.Unlock()
		}
	default:
		return false
	}
	runtime.KeepAlive(s) // vecs's store: recover may replace s meanwhile
	return true
}

// rebuild compacts the segment into a new one holding only live items, with
// a new graph if it is large enough, and swaps it in. The slow part runs
// with no lock held, on a private segment, while the old one keeps serving
// searches and taking writes; at the swap, the writes made meanwhile are
// carried over.
func (ix *index) rebuild(sc *scratch, p *linkPlan) {
	start := time.Now()
	ix.mu.RLock()
	old := ix.seg
	n0 := old.n()
	dead := slices.Clone(old.dead)
	vecs, ids, extras := old.vecs.view(), old.ids[:n0], old.extras[:n0]
	docs := old.lex.view(n0)
	ix.mu.RUnlock()

	live := 0
	for i := range n0 {
		if dead[i>>6]&(1<<(i&63)) == 0 {
			live++
		}
	}
	ns := newSegment(ix.dim, old.l2, ix.quant, live)
	orig := make([]uint32, 0, live) // slot in old of each slot of ns
	for i := range n0 {
		if dead[i>>6]&(1<<(i&63)) != 0 {
			continue
		}
		ns.appendSlot(ids[i], vecs.at(uint32(i)), extras[i], docs.doc(uint32(i)))
		orig = append(orig, uint32(i))
	}
	if live >= ix.cfg.FlatThreshold {
		ns.g = newGraph(ix.dim, ix.cfg.M, ix.cfg.EfConstruction, live)
		nv := ns.space()
		for j := range live {
			if j%64 == 0 && ix.stopped() {
				return
			}
			ns.g.insert(&nv, uint32(j), p, sc)
		}
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.seg != old {
		return // recover replaced old, which may hold failed writes
	}
	for j, o := range orig {
		if old.isDead(o) {
			ns.kill(uint32(j))
		}
	}
	since := old.lex.view(old.n())
	for i := n0; i < old.n(); i++ {
		if !old.isDead(uint32(i)) {
			ns.put(old.ids[i], old.vec(uint32(i)), old.extras[i], since.doc(uint32(i)))
		}
	}
	ns.feedSeq = old.feedSeq
	ix.seg = ns
	if ns.g != nil {
		ix.unsaved += ns.g.size()
	}
	slog.Info("vector index rebuilt", "index", ix.name, "live", ns.live(), "dropped_tombstones", n0-live,
		"graph", ns.g != nil, "took", time.Since(start).Round(time.Millisecond))
}

// waitIdle returns once the worker has nothing left to do.
func (ix *index) waitIdle(ctx context.Context) error {
	for {
		ix.mu.RLock()
		busy, ch := ix.pendingLocked(), ix.progress
		ix.mu.RUnlock()
		if !busy {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-ix.done:
			return ix.errClosed()
		}
	}
}

// Snapshots.

// startSnapshot writes a snapshot in the background, unless one is being
// written already.
func (ix *index) startSnapshot() {
	if !ix.enter() {
		return
	}
	if !ix.snapMu.TryLock() {
		ix.bg.Done()
		return
	}
	go func() {
		defer ix.bg.Done()
		defer ix.snapMu.Unlock()
		if err := ix.snapshot(); err != nil && !errors.Is(err, errStopped) {
			slog.Error("vector index snapshot failed; its logs are kept instead", "index", ix.name, "err", err)
		}
	}()
}

// snapshotNow writes a snapshot and returns when it is done, waiting for
// one being written first.
func (ix *index) snapshotNow() error {
	if !ix.enter() {
		return ix.errClosed()
	}
	defer ix.bg.Done()
	ix.snapMu.Lock()
	defer ix.snapMu.Unlock()
	return ix.snapshot()
}

// enter registers a piece of background work with bg, unless the index is
// closed. Checking and adding under wmu orders every Add before close's
// Wait.
func (ix *index) enter() bool {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed {
		return false
	}
	ix.bg.Add(1)
	return true
}

// snapshot starts the log of the next generation, captures the state the
// previous logs lead to, and writes it as the snapshot of the new
// generation. The current snapshot becomes the previous one, and the logs
// older than that are removed: the previous snapshot and the logs from its
// generation on are kept, so that a current snapshot found damaged loses
// nothing (see readState). A crash at any point leaves snapshots and logs
// that replay to the same state.
func (ix *index) snapshot() error {
	ix.wmu.Lock()
	if ix.closed {
		ix.wmu.Unlock()
		return errStopped
	}
	old := ix.log
	if err := old.flush(); err != nil {
		ix.wmu.Unlock()
		return err
	}
	next, err := createWAL(ix.dir, old.gen+1)
	if err != nil {
		ix.wmu.Unlock()
		return err
	}
	// In shared mode the new log starts with the feed number the snapshot
	// covers, durable before the snapshot replaces the logs that said it.
	if err := ix.markFloorLocked(next); err == nil {
		err = next.flush()
	}
	if err != nil {
		next.close()
		ix.wmu.Unlock()
		return err
	}
	ix.log = next
	ix.mu.Lock()
	c := captureOf(snapHeader{gen: next.gen, dim: ix.dim, metric: ix.metric, model: ix.model, quant: ix.quant, created: ix.created}, ix.seg)
	ix.unsaved = 0
	ix.mu.Unlock()
	ix.wmu.Unlock()

	// Writers may still be waiting on old for records it already holds;
	// close flushes them first, and later syncs find them durable.
	if err := old.close(); err != nil {
		return err
	}
	if err := writeSnapshot(ix.dir, nextSnapName, c, ix.abort); err != nil {
		return err
	}
	if ix.snapCur != 0 {
		if err := ix.dir.Rename(snapshotName, prevSnapName); err != nil {
			return err
		}
		ix.snapCur, ix.snapPrev = 0, ix.snapCur
	}
	if err := ix.dir.Rename(nextSnapName, snapshotName); err != nil {
		return err
	}
	if err := ix.dir.SyncDir("."); err != nil {
		return err
	}
	ix.snapCur = c.gen
	ix.mapSnapshot(c)
	return removeLogsBefore(ix.dir, ix.snapPrev)
}

// mapSnapshot maps the vectors (and codes) of c's full chunks over the
// snapshot just written from c, which holds the same bytes: memory that
// was anonymous becomes page cache, which the system may reclaim and read
// back, and chunks mapped from an older snapshot file let go of it.
// Failing that, the chunks stay as they are.
func (ix *index) mapSnapshot(c *capture) {
	f, err := ix.dir.Open(snapshotName)
	if err != nil {
		return
	}
	defer f.Close()
	l := layoutOf(c.dim, int64(len(c.ids)), 0, 0, 0, 0)
	ix.remapChunks(c.keep, len(c.ids), f, snapAlign)
	if c.keepCodes != nil {
		ix.remapChunks(c.keepCodes, len(c.ids), f, l.codes)
	}
}

// remapChunks maps v's full chunks among its first n records over the
// file f, where they lie from offset off on.
func (ix *index) remapChunks(v *vecStore, n int, f *disk.File, off int64) {
	cb := v.chunkBytes()
	if cb%pageSize != 0 {
		return
	}
	var done []int
	ix.mu.RLock() // v's chunks may grow meanwhile
	for k := range n >> v.shift {
		if !v.offHeap[k] {
			continue
		}
		if err := remapFile(v.chunks[k], f.Fd(), off+int64(k)*int64(cb)); err != nil {
			slog.Warn("vector index chunk could not be mapped to its snapshot", "index", ix.name, "err", err)
			break
		}
		done = append(done, k)
	}
	ix.mu.RUnlock()
	ix.mu.Lock()
	for _, k := range done {
		v.mapped[k] = true
	}
	ix.mu.Unlock()
}

// close stops the worker, waits for a snapshot being written (or, if
// dropping, stops it), and closes the log. Every acknowledged write is
// already durable. Unless dropping, it first saves the graph if the worker
// has linked so many nodes since the last snapshot that linking them again
// at the next open would cost more than writing it (see worthSaving).
func (ix *index) close(dropping bool) error {
	ix.wmu.Lock()
	if ix.closed || ix.closing {
		ix.wmu.Unlock()
		return nil
	}
	ix.closing = true
	close(ix.stop)
	if dropping {
		close(ix.abort)
	}
	ix.wmu.Unlock()
	<-ix.done
	if !dropping && ix.worthSaving() {
		if err := ix.snapshotNow(); err != nil {
			slog.Warn("vector index: the graph could not be saved at close; the next open links its newest nodes again", "index", ix.name, "err", err)
		}
	}
	ix.wmu.Lock()
	ix.closed = true
	ix.wmu.Unlock()
	ix.bg.Wait()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if !dropping && ix.log.failed() == nil {
		// In shared mode, the next start catches up from here.
		if err := ix.markFloorLocked(ix.log); err != nil {
			slog.Warn("vector index: the feed number could not be marked at close; the next start catches up from further back", "index", ix.name, "err", err)
		}
	}
	err := ix.log.close()
	if cerr := ix.dir.Close(); err == nil {
		err = cerr
	}
	return err
}

// worthSaving says whether the nodes linked since the last snapshot are
// more than 1/32 of the slots (and at least 1024): linking a node again
// costs about 30 times what writing a slot into a snapshot does
// (bench/vector: 0.4 ms against 13 µs at 1M), so past that share a
// snapshot is the cheaper way to keep them.
func (ix *index) worthSaving() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.unsaved >= 1024 && ix.unsaved >= ix.seg.n()/32
}
