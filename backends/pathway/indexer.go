package pathway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"lakehouse/backends/corpus"
	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/vector"
)

// The indexer keeps the vector index in step with the traces, off the
// write path.
//
// Writers mark uids dirty once their change is durable. Each mark gets the
// next number of a counter (marked); a uid already waiting keeps its place
// in the queue, since handling it will read its latest state anyway. The
// indexer takes up to IndexBatch uids from the front of the queue, reads
// their current state, brings the index in line and then advances done to
// the number of the last mark it has covered: every mark before the next
// queued one. A search waits until done reaches the counter as it was when
// the search began (read-your-writes).
type indexer struct {
	p *Pathway

	mu       sync.Mutex
	queue    []mark
	head     int
	queued   map[string]bool
	marked   uint64        // marks made
	done     uint64        // marks handled
	ready    bool          // set up and reconciled
	base     uint64        // marked when ready was set: reconcile's marks are below it
	compared int           // traces reconcile compared with the index
	restale  int           // traces reconcile found missing or stale in the index
	inflight int           // uids taken but not yet handled
	err      error         // last failure, until the next success
	progress chan struct{} // closed (and replaced) when done, ready or err change

	// rejected maps the uid of each trace the embedder refused to the text
	// it refused; the trace stays out of the index until its text changes.
	// Only the indexer goroutine uses it. It is not persisted: after a
	// restart such a trace is tried once more.
	rejected map[string]string

	// inStep says that at Open the index's fingerprint was the traces'
	// sum (see itemHasher): then there is nothing to reconcile.
	inStep bool

	waiters atomic.Int32  // searches waiting for the indexer
	hurry   chan struct{} // a search is waiting
	kick    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	ctx     context.Context // cancelled by stop
	cancel  context.CancelFunc
}

type mark struct {
	uid string
	n   uint64
}

func newIndexer(p *Pathway, inStep bool) *indexer {
	ctx, cancel := context.WithCancel(context.Background())
	return &indexer{
		p:        p,
		inStep:   inStep,
		queued:   map[string]bool{},
		rejected: map[string]string{},
		progress: make(chan struct{}),
		kick:     make(chan struct{}, 1),
		hurry:    make(chan struct{}, 1),
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// mark queues uids for indexing.
func (x *indexer) mark(uids ...string) {
	x.mu.Lock()
	for _, uid := range uids {
		x.marked++
		if !x.queued[uid] {
			x.queued[uid] = true
			x.queue = append(x.queue, mark{uid, x.marked})
		}
	}
	x.mu.Unlock()
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// take removes up to n uids from the front of the queue and returns them
// with the number of the last mark they cover.
func (x *indexer) take(n int) ([]string, uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	end := min(x.head+n, len(x.queue))
	uids := make([]string, 0, end-x.head)
	for _, m := range x.queue[x.head:end] {
		uids = append(uids, m.uid)
		delete(x.queued, m.uid)
	}
	x.head = end
	x.inflight = len(uids)
	upto := x.marked
	if x.head < len(x.queue) {
		upto = x.queue[x.head].n - 1
	}
	if x.head == len(x.queue) {
		x.queue, x.head = x.queue[:0], 0
	} else if x.head > len(x.queue)/2 {
		x.queue = append(x.queue[:0], x.queue[x.head:]...)
		x.head = 0
	}
	return uids, upto
}

// signal wakes waiters; x.mu is held.
func (x *indexer) signalLocked() {
	close(x.progress)
	x.progress = make(chan struct{})
}

func (x *indexer) setErr(err error) {
	x.mu.Lock()
	x.err = err
	x.signalLocked()
	x.mu.Unlock()
}

// pending counts the uids queued or being handled.
func (x *indexer) pending() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.queue) - x.head + x.inflight
}

// wait returns once the index reflects every write acknowledged before the
// call, or with ctx's error, or with the indexer's error when it is failing.
func (x *indexer) wait(ctx context.Context) error {
	x.mu.Lock()
	target := x.marked
	x.mu.Unlock()
	x.waiters.Add(1)
	defer x.waiters.Add(-1)
	select {
	case x.hurry <- struct{}{}:
	default:
	}
	for {
		x.mu.Lock()
		ok, err, ch := x.ready && x.done >= max(target, x.base), x.err, x.progress
		x.mu.Unlock()
		switch {
		case ok:
			return nil
		case err != nil:
			return fmt.Errorf("the trace search index is behind: %w", err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the trace search index to catch up: %w", ctx.Err())
		case <-x.stopped:
			return ErrClosed
		}
	}
}

func (x *indexer) stop() {
	close(x.quit)
	x.cancel()
	<-x.stopped
}

// sleep waits d, or returns false when the indexer is stopping.
func (x *indexer) sleep(d time.Duration) bool {
	select {
	case <-x.quit:
		return false
	case <-time.After(d):
		return true
	}
}

// retry runs f until it succeeds or the indexer stops, backing off after
// failures; it reports whether f succeeded.
func (x *indexer) retry(what string, f func() error) bool {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			if x.hasErr() {
				x.setErr(nil)
			}
			return true
		}
		select {
		case <-x.quit:
			return false
		default:
		}
		slog.Warn("trace index: "+what+" failed; retrying", "err", err, "in", backoff)
		x.setErr(err)
		if !x.sleep(backoff) {
			return false
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (x *indexer) hasErr() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err != nil
}

func (x *indexer) run() {
	defer close(x.stopped)
	var kept bool
	setup := func() (err error) { kept, err = x.setup(); return err }
	if !x.retry("setup", setup) || !(kept && x.inStep) && !x.retry("reconcile", x.reconcile) {
		return
	}
	x.mu.Lock()
	x.ready, x.base = true, x.marked
	x.signalLocked()
	x.mu.Unlock()
	for {
		for {
			uids, upto := x.take(IndexBatch)
			if len(uids) > 0 && !x.retry("update", func() error { return x.sync(uids) }) {
				return
			}
			x.mu.Lock()
			x.inflight = 0
			if upto > x.done {
				x.done = upto
				x.signalLocked()
			}
			x.mu.Unlock()
			if len(uids) == 0 {
				break
			}
		}
		select {
		case <-x.quit:
			return
		case <-x.kick:
		}
		// Let marks gather into a larger batch, unless a search is waiting:
		// an upsert of many items costs much less than many upserts of few.
		if x.pending() < IndexBatch && x.waiters.Load() == 0 {
			t := time.NewTimer(indexDelay)
			select {
			case <-x.quit:
				t.Stop()
				return
			case <-x.hurry:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// indexDelay is how long the indexer lets marks gather when no search waits.
const indexDelay = 50 * time.Millisecond

// setup makes sure the index exists and was built by the embedder's model,
// dropping it otherwise; kept says that the index was there already.
func (x *indexer) setup() (kept bool, err error) {
	ctx, p := x.ctx, x.p
	dim, err := p.emb.Dims(ctx)
	if err != nil {
		return false, fmt.Errorf("embedder dimensions: %w", err)
	}
	info, err := p.vec.Info(indexName)
	switch {
	case err == nil && info.Model == p.emb.Model() && info.Dim == dim:
		return true, nil
	case err == nil:
		slog.Info("trace index was built by another embedding model; rebuilding it",
			"was", info.Model, "dims_was", info.Dim, "model", p.emb.Model(), "dims", dim)
		if err := p.vec.Drop(ctx, indexName); err != nil {
			return false, err
		}
	case errors.Is(err, errs.NotFound):
	default:
		if _, broken := p.vec.Unavailable()[indexName]; !broken {
			return false, err
		}
		slog.Warn("trace index is damaged; rebuilding it", "err", err)
		if err := p.vec.Drop(ctx, indexName); err != nil {
			return false, err
		}
	}
	_, err = p.vec.Create(ctx, indexName, vector.Spec{Dim: dim, Metric: vector.Cosine, Model: p.emb.Model()})
	return false, err
}

// want is what the index should hold for a trace.
type want struct {
	uid  string
	text string
	meta map[string]any
}

// wantOf returns the index item of t; p.mu is held.
func wantOf(t *Trace) want {
	meta := map[string]any{
		"state":   t.State(),
		"tags":    t.Tags,
		"created": t.CreatedAt.Unix(),
	}
	for _, tag := range t.Tags {
		meta["tag:"+tag] = true
	}
	return want{uid: t.UID, text: embedText(t), meta: meta}
}

// embedText is the text a trace is embedded by: its text, or else the start
// of its content's JSON.
func embedText(t *Trace) string {
	if t.Text != "" {
		return t.Text
	}
	c := t.Content
	if len(c) <= contentRender {
		return string(c)
	}
	c = c[:contentRender]
	for range utf8.UTFMax - 1 { // cut off a rune split at the end
		if r, size := utf8.DecodeLastRune(c); r != utf8.RuneError || size != 1 {
			break
		}
		c = c[:len(c)-1]
	}
	return string(c)
}

// sync brings the index items of uids in line with the traces.
func (x *indexer) sync(uids []string) error {
	p := x.p
	var items []vector.Item
	var gone []string
	p.mu.RLock()
	for _, uid := range uids {
		e, ok := p.traces[uid]
		if !ok {
			gone = append(gone, uid)
			delete(x.rejected, uid)
			continue
		}
		w := wantOf(e)
		if x.refused(w) { // an earlier text the index may hold is no longer its text
			gone = append(gone, uid)
			continue
		}
		items = append(items, vector.Item{ID: w.uid, Text: w.text, Metadata: w.meta})
	}
	p.mu.RUnlock()
	res, err := corpus.Sync(x.ctx, p.vec, nonZero{p.emb}, indexName, items, gone)
	if err != nil {
		return fmt.Errorf("index traces: %w", err)
	}
	for _, it := range items {
		why, ok := res.Refused[it.ID]
		if !ok {
			delete(x.rejected, it.ID)
			continue
		}
		slog.Warn("trace index: the embedder rejects this trace's text; the trace is left out of the index "+
			"(query searches miss it) until its text changes", "uid", it.ID, "err", why)
		x.rejected[it.ID] = it.Text
	}
	return nil
}

// refused reports whether the embedder refused w's text before.
func (x *indexer) refused(w want) bool {
	text, ok := x.rejected[w.uid]
	return ok && text == w.text
}

// nonZero embeds with an embedder, making every all-zero vector usable.
type nonZero struct{ emb embed.Batcher }

func (n nonZero) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, err := n.emb.Embed(ctx, texts)
	for i := range vecs {
		vecs[i] = usable(vecs[i])
	}
	return vecs, err
}

// usable returns v, or a tiny non-zero vector when v is all zeros (a text
// with nothing the embedder knows), which a cosine index refuses.
func usable(v []float32) []float32 {
	for _, f := range v {
		if f != 0 {
			return v
		}
	}
	out := make([]float32, len(v))
	if len(out) > 0 {
		out[0] = 1e-6
	}
	return out
}

// metaJSON writes the JSON that encoding/json writes for wantOf(t)'s
// metadata, which is what the index stores, without going through a map:
// its keys in encoding/json's order ("created" < "state" < "tag:…" <
// "tags"), its strings encoded by enc. Reconciling a million traces at
// open spent most of its time marshalling those maps.
func metaJSON(b []byte, t *Trace, enc stringCache) []byte {
	b = append(b, `{"created":`...)
	b = strconv.AppendInt(b, t.CreatedAt.Unix(), 10)
	b = append(b, `,"state":`...)
	b = append(b, enc.json(t.State())...)
	var few [8]string // most traces have a few tags: sorted here, not in a new slice
	tags := append(few[:0], t.Tags...)
	slices.Sort(tags)
	for _, tag := range slices.Compact(tags) {
		// "tag:"+tag as JSON is "tag: and tag as JSON after its quote: the
		// escaping goes rune by rune.
		b = append(b, `,"tag:`...)
		b = append(b, enc.json(tag)[1:]...)
		b = append(b, ":true"...)
	}
	b = append(b, `,"tags":`...)
	switch {
	case t.Tags == nil:
		b = append(b, "null"...)
	default:
		b = append(b, '[')
		for i, tag := range t.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, enc.json(tag)...)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// An itemHasher works out the vector.ItemHash of the index item a trace
// should have: its uid, embedText and metaJSON. The traces' sum of it,
// kept as they change (Pathway.want), is the index's fingerprint when the
// index is in step. One goroutine uses one at a time.
type itemHasher struct {
	enc stringCache
	buf []byte
}

func newItemHasher() *itemHasher { return &itemHasher{enc: stringCache{}} }

func (h *itemHasher) of(t *Trace) uint64 {
	h.buf = metaJSON(h.buf[:0], t, h.enc)
	return vector.ItemHash(t.UID, embedText(t), h.buf)
}

// hashers are the itemHashers of the goroutines that decode a replay or
// apply a change.
var hashers = sync.Pool{New: func() any { return newItemHasher() }}

// hashOf is the itemHasher hash of t.
func hashOf(t *Trace) uint64 {
	h := hashers.Get().(*itemHasher)
	defer hashers.Put(h)
	return h.of(t)
}

// stringCache remembers strings as encoding/json writes them: a trace
// memory's tags and states repeat.
type stringCache map[string][]byte

func (c stringCache) json(s string) []byte {
	if b, ok := c[s]; ok {
		return b
	}
	b, _ := json.Marshal(s)
	if len(c) < 1<<16 {
		c[s] = b
	}
	return b
}

// reconcile queues every trace whose index item is missing or stale, and
// deletes index items of unknown uids. It runs before the indexer takes
// any queued work, so nothing else writes the index meanwhile.
func (x *indexer) reconcile() error {
	p := x.p
	info, err := p.vec.Info(indexName)
	if err != nil {
		return err
	}
	p.mu.RLock()
	uids := make([]string, len(p.order))
	for i, e := range p.order {
		uids[i] = e.UID
	}
	p.mu.RUnlock()
	x.compared = len(uids)
	if info.Count == 0 {
		x.restale = len(uids)
		x.mark(uids...)
		return nil
	}
	// Batches are compared on every CPU.
	batches := (len(uids) + vector.MaxBatch - 1) / vector.MaxBatch
	stales := make([][]string, batches)
	founds := make([]int, batches)
	errs := make([]error, batches)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(batches, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			enc := stringCache{}
			for b := int(next.Add(1) - 1); b < batches; b = int(next.Add(1) - 1) {
				select {
				case <-x.quit:
					errs[b] = ErrClosed
					return
				default:
				}
				batch := uids[b*vector.MaxBatch : min((b+1)*vector.MaxBatch, len(uids))]
				stales[b], founds[b], errs[b] = x.staleOf(batch, enc)
				if errs[b] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var stale []string
	found := 0
	for b := range batches {
		stale = append(stale, stales[b]...)
		found += founds[b]
	}
	if extra := info.Count - found; extra > 0 {
		rebuilt, err := x.deleteUnknown(extra)
		if err != nil {
			return err
		}
		if rebuilt {
			x.restale = len(uids)
			x.mark(uids...)
			return nil
		}
	}
	if len(stale) > 0 {
		slog.Info("trace index: re-indexing traces missing or stale in it", "traces", len(stale))
	}
	x.restale = len(stale)
	x.mark(stale...)
	return nil
}

// staleOf returns the uids of batch whose index items are missing or
// stale, and how many of batch the index holds; enc is the caller's.
func (x *indexer) staleOf(batch []string, enc stringCache) (stale []string, found int, err error) {
	p := x.p
	// Digests, not Get: neither the vectors nor decoded metadata are
	// needed to compare, and at 100k traces Get's copies and decoding were
	// most of the time an open took.
	held, err := p.vec.Digests(indexName, batch)
	if err != nil {
		return nil, 0, err
	}
	have := make(map[string]*vector.Digest, len(held))
	for i := range held {
		have[held[i].ID] = &held[i]
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	var buf []byte
	for _, uid := range batch {
		t := p.traces[uid]
		h := have[uid]
		if h != nil && h.Text == embedText(t) {
			if buf = metaJSON(buf[:0], t, enc); bytes.Equal(h.Metadata, buf) {
				continue
			}
		}
		stale = append(stale, uid)
	}
	return stale, len(held), nil
}

// deleteUnknown finds the n index items whose uids the log does not know
// (left by a damaged log, say) and deletes them. The index cannot list its
// ids, so it walks ranges of the created metadata, splitting any range with
// more than vector.MaxK items; if that cannot find them all, it drops the
// index and empties it, reporting rebuilt (every trace must then be queued).
func (x *indexer) deleteUnknown(n int) (rebuilt bool, err error) {
	ctx, p := x.ctx, x.p
	info, err := p.vec.Info(indexName)
	if err != nil {
		return false, err
	}
	q := make([]float32, info.Dim)
	q[0] = 1
	var unknown []string
	var walk func(lo, hi int64) (bool, error)
	walk = func(lo, hi int64) (bool, error) {
		hits, err := p.vec.Search(ctx, indexName, q, vector.SearchOptions{
			K: vector.MaxK, Filter: vector.Filter{"created": map[string]any{"gte": lo, "lt": hi}},
		})
		if err != nil {
			return false, err
		}
		if len(hits) == vector.MaxK {
			if hi-lo <= 1 {
				return false, nil
			}
			mid := lo + (hi-lo)/2
			ok, err := walk(lo, mid)
			if !ok || err != nil {
				return ok, err
			}
			return walk(mid, hi)
		}
		p.mu.RLock()
		for _, h := range hits {
			if _, ok := p.traces[h.ID]; !ok {
				unknown = append(unknown, h.ID)
			}
		}
		p.mu.RUnlock()
		return true, nil
	}
	ok, err := walk(math.MinInt32, 1<<40)
	if err != nil {
		return false, err
	}
	if !ok || len(unknown) < n {
		slog.Warn("trace index holds items of unknown traces it cannot list; rebuilding it", "unknown", n)
		if err := p.vec.Drop(ctx, indexName); err != nil {
			return false, err
		}
		if _, err := p.vec.Create(ctx, indexName, vector.Spec{Dim: info.Dim, Metric: vector.Cosine, Model: info.Model}); err != nil {
			return false, err
		}
		return true, nil
	}
	slog.Info("trace index: deleting items of traces the log does not know", "items", len(unknown))
	for start := 0; start < len(unknown); start += vector.MaxBatch {
		if _, err := p.vec.Delete(ctx, indexName, unknown[start:min(start+vector.MaxBatch, len(unknown))]); err != nil {
			return false, err
		}
	}
	return false, nil
}
