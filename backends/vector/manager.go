package vector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/internal/disk"
)

// A Manager keeps the vector indexes under one directory. It is safe for
// concurrent use: searches run in parallel with each other and with writes;
// writes to one index are serialised.
//
// Every file operation goes through a [disk.Dir] rooted at the directory,
// which never follows a symbolic link: an index folder, snapshot or log
// that is a link (planted there, since the engine makes none) leaves its
// index unavailable, with a reason that says so, and nothing it points to
// is read or changed.
type Manager struct {
	dir *disk.Dir
	cfg Config

	mu      sync.RWMutex
	indexes map[string]*index
	broken  map[string]string // name -> why the index could not be opened
	closed  bool

	pg *shared // in shared mode, the indexes' truth in PostgreSQL (shared.go); nil in local mode
}

// Open opens the Manager of dir, creating dir if needed, and loads every
// index in it. An index that cannot be loaded (a damaged snapshot, say) is
// reported by Unavailable and refuses use until dropped; the others work.
func Open(dir string, cfg Config) (*Manager, error) {
	d, err := disk.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open vector indexes: %w", err)
	}
	m := &Manager{dir: d, cfg: cfg.withDefaults(), indexes: map[string]*index{}, broken: map[string]string{}}
	if err := m.load(); err != nil {
		d.Close()
		return nil, fmt.Errorf("open vector indexes: %w", err)
	}
	return m, nil
}

// load removes the leftovers of a crash and loads every index.
func (m *Manager) load() error {
	entries, err := m.dir.ReadDir(".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") || strings.HasPrefix(name, ".drop-") {
			// An index being created or dropped when the process died.
			if err := m.dir.RemoveAll(name); err != nil {
				return fmt.Errorf("remove leftover %s: %w", name, err)
			}
			continue
		}
		// A link is loaded like a folder, to be refused with a reason.
		if validateName(name) != nil || !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		start := time.Now()
		ix, err := loadIndex(m.dir, name, m.cfg)
		if err != nil {
			why := err.Error()
			if errors.Is(err, disk.ErrLink) {
				why += " (planted in the vectors folder; dropping the index removes the link and nothing it points to)"
			}
			slog.Error("vector index is unavailable", "index", name, "err", why)
			m.broken[name] = why
			continue
		}
		m.indexes[name] = ix
		m.cfg.Budget.join(ix)
		slog.Debug("vector index loaded", "index", name, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

var errManagerClosed = errors.New("vector indexes are closed")

// describeLocked says which indexes exist, for error messages.
func (m *Manager) describeLocked() string {
	names := slices.Sorted(maps.Keys(m.indexes))
	var s string
	switch {
	case len(names) == 0:
		s = "there are no vector indexes yet (create_index creates one)"
	case len(names) == 1:
		s = "list_indexes shows 1 index: " + names[0]
	case len(names) > 20:
		s = fmt.Sprintf("list_indexes shows %d indexes: %s, …", len(names), strings.Join(names[:20], ", "))
	default:
		s = fmt.Sprintf("list_indexes shows %d indexes: %s", len(names), strings.Join(names, ", "))
	}
	if len(m.broken) > 0 {
		s += fmt.Sprintf("; unavailable: %s", strings.Join(slices.Sorted(maps.Keys(m.broken)), ", "))
	}
	return s
}

// lookup returns the open index name.
func (m *Manager) lookup(name string) (*index, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errManagerClosed
	}
	if ix, ok := m.indexes[name]; ok {
		return ix, nil
	}
	if why, ok := m.broken[name]; ok {
		return nil, fmt.Errorf("vector index %q is unavailable: %s; drop it and create it again to start over", name, why)
	}
	return nil, errs.New(errs.NotFound, "vector index %q not found; %s", name, m.describeLocked())
}

// Spec describes an index to create.
type Spec struct {
	Dim          int          // dimensions of its vectors
	Metric       Metric       // how they compare; "" means cosine
	Model        string       // the embedding model they come from; "" for raw vectors
	Quantization Quantization // how they are kept in memory; "" or "none" means float32
}

// Create makes an empty index as spec says.
func (m *Manager) Create(ctx context.Context, name string, spec Spec) (IndexInfo, error) {
	if err := ctx.Err(); err != nil {
		return IndexInfo{}, err
	}
	spec, err := checkSpec(name, spec)
	if err != nil {
		return IndexInfo{}, err
	}
	if m.pg != nil {
		return m.pg.create(ctx, name, spec)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return IndexInfo{}, errManagerClosed
	}
	if ix, ok := m.indexes[name]; ok {
		in := ix.info()
		return IndexInfo{}, errs.New(errs.Conflict, "vector index %q already exists (%d dims, %s, %d items); pick another name, or drop it first", name, in.Dim, in.Metric, in.Count)
	}
	if why, ok := m.broken[name]; ok {
		return IndexInfo{}, errs.New(errs.Conflict, "vector index %q already exists but is unavailable (%s); drop it first", name, why)
	}
	ix, err := createIndex(m.dir, name, spec, time.Now(), m.cfg)
	if err != nil {
		return IndexInfo{}, fmt.Errorf("create vector index %q: %w", name, err)
	}
	m.indexes[name] = ix
	m.cfg.Budget.join(ix)
	return ix.info(), nil
}

// checkSpec checks the name and spec of an index to create, and returns
// the spec with its defaults filled in.
func checkSpec(name string, spec Spec) (Spec, error) {
	if err := validateName(name); err != nil {
		return spec, err
	}
	if spec.Dim < 1 || spec.Dim > MaxDim {
		return spec, errs.New(errs.Invalid, "dims = %d is out of range; an index holds vectors of 1 to %d dimensions (the embedding model's output size)", spec.Dim, MaxDim)
	}
	var err error
	if spec.Metric, err = parseMetric(spec.Metric); err != nil {
		return spec, err
	}
	if len(spec.Model) > MaxModel {
		return spec, errs.New(errs.Invalid, "model name is %d bytes; at most %d", len(spec.Model), MaxModel)
	}
	if spec.Quantization == "none" {
		spec.Quantization = QuantNone
	}
	if spec.Quantization != QuantNone && spec.Quantization != QuantInt8 {
		return spec, errs.New(errs.Invalid, "quantization %q is unknown; use int8, or none to keep float32 vectors", spec.Quantization)
	}
	return spec, nil
}

// List describes the open indexes, sorted by name. Unavailable lists the
// others.
func (m *Manager) List() []IndexInfo {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]IndexInfo, 0, len(m.indexes))
	for _, name := range slices.Sorted(maps.Keys(m.indexes)) {
		out = append(out, m.indexes[name].info())
	}
	return out
}

// Memory returns the bytes that the indexes of the Manager's budget hold
// together (those of other Managers sharing it included), and its limit;
// 0 means no limit. See [Config.Budget].
func (m *Manager) Memory() (used, limit int64) {
	return m.cfg.Budget.used(), m.cfg.Budget.limit
}

// Unavailable returns the indexes that could not be opened, each with the
// reason (which names the damaged file). Drop removes them.
func (m *Manager) Unavailable() map[string]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.broken)
}

// Info describes index name.
func (m *Manager) Info(name string) (IndexInfo, error) {
	ix, err := m.lookup(name)
	if err != nil {
		return IndexInfo{}, err
	}
	return ix.info(), nil
}

// Drop deletes index name and its files. It also removes an unavailable
// index.
func (m *Manager) Drop(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.pg != nil {
		return m.pg.drop(ctx, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errManagerClosed
	}
	_, ok := m.indexes[name]
	if _, bad := m.broken[name]; !ok && !bad {
		return errs.New(errs.NotFound, "vector index %q not found; %s", name, m.describeLocked())
	}
	return m.dropLocked(name)
}

// dropLocked closes index name, if open, forgets it, and deletes its
// folder; m.mu is held.
func (m *Manager) dropLocked(name string) error {
	ix := m.indexes[name]
	delete(m.indexes, name)
	delete(m.broken, name)
	if ix != nil {
		m.cfg.Budget.leave(ix)
		if err := ix.close(true); err != nil {
			slog.Warn("closing a dropped vector index", "index", name, "err", err)
		}
	}
	// Rename first, so that the index is gone at once and for good even if
	// removing its files is cut short; Open clears .drop- leftovers.
	gone := fmt.Sprintf(".drop-%s-%d", name, time.Now().UnixNano())
	if err := m.dir.Rename(name, gone); err != nil {
		return fmt.Errorf("drop vector index %q: %w", name, err)
	}
	if err := m.dir.SyncDir("."); err != nil {
		return fmt.Errorf("drop vector index %q: %w", name, err)
	}
	if err := m.dir.RemoveAll(gone); err != nil {
		slog.Warn("removing a dropped vector index's files", "dir", m.dir.Path(gone), "err", err)
	}
	return nil
}

// Upsert adds items to index name, replacing items with the same ids, and
// returns how many distinct ids it stored (of duplicates in one call, the
// last wins). At most 1000 items per call. It returns once the items are
// durable.
func (m *Manager) Upsert(ctx context.Context, name string, items []Item) (int, error) {
	if m.pg != nil {
		return m.pg.upsert(ctx, name, items)
	}
	ix, err := m.lookup(name)
	if err != nil {
		return 0, err
	}
	return ix.upsert(ctx, items)
}

// Delete removes the items with ids from index name and returns how many of
// them existed. It returns once the deletion is durable.
func (m *Manager) Delete(ctx context.Context, name string, ids []string) (int, error) {
	if m.pg != nil {
		return m.pg.delete(ctx, name, ids)
	}
	ix, err := m.lookup(name)
	if err != nil {
		return 0, err
	}
	return ix.delete(ctx, ids)
}

// Get returns the items of index name with ids, in the order asked, leaving
// out ids it does not hold. Under cosine, vectors come back normalised.
func (m *Manager) Get(name string, ids []string) ([]Item, error) {
	ix, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return ix.get(ids)
}

// A Digest is what an item holds besides its vector: its text, and its
// metadata as the JSON it is stored as (as encoding/json writes the map it
// was given, keys sorted).
type Digest struct {
	ID       string
	Text     string
	Metadata json.RawMessage // nil when it has none; the caller must not change it
}

// Digests is Get without the vectors and without decoding the metadata:
// for a caller that compares what an index holds with what it would write,
// across many items.
func (m *Manager) Digests(name string, ids []string) ([]Digest, error) {
	ix, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return ix.digests(ids)
}

// Fingerprint returns a checksum of index name's live items: their ids,
// texts and metadata, not their vectors; the same whatever their order and
// however the index stores them. A caller that keeps an index in step with
// records of its own can tell from it, at its next start, that nothing
// changed the index meanwhile, without comparing every item.
func (m *Manager) Fingerprint(name string) (uint64, error) {
	ix, err := m.lookup(name)
	if err != nil {
		return 0, err
	}
	return ix.fingerprint()
}

// Search returns the items of index name nearest to query, best first.
func (m *Manager) Search(ctx context.Context, name string, query []float32, opts SearchOptions) ([]Hit, error) {
	ix, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return ix.search(ctx, query, opts)
}

// WaitIndexed returns once the background work on index name is done: its
// graph, if it is large enough to have one, links every item, and no
// rebuild is due. Searches are complete without waiting; this is for
// benchmarks, tests and callers that want graph-speed searches at once.
func (m *Manager) WaitIndexed(ctx context.Context, name string) error {
	ix, err := m.lookup(name)
	if err != nil {
		return err
	}
	return ix.waitIdle(ctx)
}

// Snapshot writes a snapshot of index name now, with its graph as built so
// far, and removes the log it replaces. Indexes also do this on their own,
// when their log grows past Config.SnapshotBytes and after building a
// graph; this is for backups and for shorter start-ups.
func (m *Manager) Snapshot(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix, err := m.lookup(name)
	if err != nil {
		return err
	}
	return ix.snapshotNow()
}

// Close stops background work and closes every index. Writes already
// acknowledged are durable; operations after Close fail.
func (m *Manager) Close() error {
	if m.pg != nil {
		m.pg.stop() // first, so that the marks written at close stay true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errList []error
	for _, name := range slices.Sorted(maps.Keys(m.indexes)) {
		m.cfg.Budget.leave(m.indexes[name])
		if err := m.indexes[name].close(false); err != nil {
			errList = append(errList, fmt.Errorf("close vector index %q: %w", name, err))
		}
	}
	if err := m.dir.Close(); err != nil {
		errList = append(errList, fmt.Errorf("close vector indexes: %w", err))
	}
	if m.pg != nil {
		m.pg.pool.Close()
	}
	return errors.Join(errList...)
}
