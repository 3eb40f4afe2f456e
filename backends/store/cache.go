package store

// Design notes.
//
// A Cache keeps local copies of objects of another store (a bucket), in a
// folder of the data directory, for readers that need files: DuckDB reads
// the Parquet files of datasets in shared mode through it.
//
// Trust. The cache serves only objects whose keys are written once and
// never changed, as the datasets' files are (catalog/keys.go): a copy that
// was right when it was fetched stays right, so a hit asks the bucket
// nothing, and a query whose files are all here keeps working while the
// bucket is down. A fetch is checked as it lands: its size and sha256 must
// be those the bucket's answer gave (Info.Size, Info.ETag), else nothing is
// kept and the error says so.
//
// Crash safety. A fetch writes a temp file in tmp/, fsyncs it, and only
// then renames it to files/<key> and fsyncs the folder (disk.WriteAtomic).
// OpenCache empties tmp/ and indexes what files/ holds, so a crash
// mid-download leaves nothing half-written under a key's name.
//
// Bounds and eviction. The files together stay within Limit bytes: when a
// fetch goes over it, the least recently used files are removed first,
// but never one that is held. A reader holds the files it reads from
// before it opens them until it is done (Hold and its release); held files
// may take the cache over its limit for as long as they are held, and it
// shrinks back as they are released. Recency survives a restart only as
// each file's modification time, the time it was fetched.
//
// Concurrency. Readers wanting a file that is being fetched wait for that
// fetch rather than start another; a fetch runs under the context of the
// reader that started it, and when that reader gives up, the others try
// again themselves.

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"lakehouse/internal/disk"
)

// DefaultCacheBytes is the limit of a Cache whose limit is given as 0.
const DefaultCacheBytes = 4 << 30 // 4 GiB

// The folders of a Cache.
const (
	cacheFiles = "files" // files/<key>: the copies
	cacheTemp  = "tmp"   // downloads under way; emptied by OpenCache
)

// A Getter is what a Cache reads objects from.
type Getter interface {
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
}

// CacheStats describes what a Cache holds.
type CacheStats struct {
	Bytes     int64 `json:"bytes"`     // of the files held, together
	Files     int   `json:"files"`     // files held
	Limit     int64 `json:"limit"`     // the bound of Bytes
	InUse     int   `json:"in_use"`    // files that readers hold now
	Fetches   int64 `json:"fetches"`   // files fetched since the cache opened
	Evictions int64 `json:"evictions"` // files evicted since the cache opened
}

// Cache is a bounded local read-through cache of the objects of a Getter,
// whose keys must never change content (see the design notes). It is safe
// for concurrent use.
type Cache struct {
	src   Getter
	dir   *disk.Dir
	limit int64

	mu      sync.Mutex
	entries map[string]*cacheEntry
	lru     list.List // of the entries that no reader holds, most recent at the front
	loads   map[string]chan struct{}
	stats   CacheStats
}

// cacheEntry is one file of the cache.
type cacheEntry struct {
	key   string
	size  int64
	holds int           // readers holding it
	elem  *list.Element // in lru while holds == 0
	gone  bool          // its object was deleted: removed when released
}

// OpenCache opens the cache of src's objects in the folder dir, at most
// limit bytes of them (0 means DefaultCacheBytes). It removes what a crash
// left of downloads, and files beyond the limit.
func OpenCache(dir string, src Getter, limit int64) (*Cache, error) {
	if limit < 0 {
		return nil, fmt.Errorf("open cache %s: limit %d bytes: must be 0 (default %d) or more", dir, limit, int64(DefaultCacheBytes))
	}
	if limit == 0 {
		limit = DefaultCacheBytes
	}
	d, err := disk.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open cache: %w", err)
	}
	c := &Cache{src: src, dir: d, limit: limit, entries: map[string]*cacheEntry{}, loads: map[string]chan struct{}{}}
	if err := c.load(); err != nil {
		d.Close()
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// load empties tmp/ and indexes the files under files/, oldest last in the
// LRU list.
func (c *Cache) load() error {
	if err := c.dir.RemoveAll(cacheTemp); err != nil {
		return err
	}
	if err := c.dir.MkdirAll(cacheTemp); err != nil {
		return err
	}
	if err := c.dir.MkdirAll(cacheFiles); err != nil {
		return err
	}
	type found struct {
		key  string
		info fs.FileInfo
	}
	var all []found
	var walk func(name string) error
	walk = func(name string) error {
		items, err := c.dir.ReadDir(name)
		if err != nil {
			return err
		}
		for _, it := range items {
			child := name + "/" + it.Name()
			info, err := it.Info()
			switch {
			case err != nil:
				return err
			case it.IsDir():
				if err := walk(child); err != nil {
					return err
				}
			case info.Mode().IsRegular():
				all = append(all, found{strings.TrimPrefix(child, cacheFiles+"/"), info})
			}
		}
		return nil
	}
	if err := walk(cacheFiles); err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b found) int { return a.info.ModTime().Compare(b.info.ModTime()) })
	for _, f := range all {
		e := &cacheEntry{key: f.key, size: f.info.Size()}
		e.elem = c.lru.PushFront(e)
		c.entries[f.key] = e
		c.stats.Bytes += e.size
	}
	return nil
}

// Close closes the cache's folder. Files held stay readable.
func (c *Cache) Close() error { return c.dir.Close() }

// Stats describes the cache now.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Files, s.Limit = len(c.entries), c.limit
	s.InUse = len(c.entries) - c.lru.Len()
	return s
}

// Dir returns the folder that the paths of Hold are beneath.
func (c *Cache) Dir() string { return c.dir.Path(cacheFiles) }

// fileName is the name of key's copy beneath the cache's folder.
func fileName(key string) string { return cacheFiles + "/" + key }

// Hold makes the objects of keys local and returns the paths of their
// copies, in the order of keys, which stay in place until release is
// called (once; later calls do nothing). Files not in the cache are
// fetched; when one cannot be, nothing stays held and the error is the
// source's (of kind errs.Unavailable when a bucket does not answer).
func (c *Cache) Hold(ctx context.Context, keys []string) (paths []string, release func(), err error) {
	held := make([]*cacheEntry, 0, len(keys))
	var once sync.Once
	release = func() { once.Do(func() { c.unhold(held) }) }
	paths = make([]string, len(keys))
	for i, key := range keys {
		if err := ValidateKey(key); err != nil {
			release()
			return nil, nil, err
		}
		e, err := c.acquire(ctx, key)
		if err != nil {
			release()
			return nil, nil, err
		}
		held = append(held, e)
		paths[i] = c.dir.Path(fileName(key))
	}
	return paths, release, nil
}

// acquire holds key's entry, fetching it first when it is not here.
func (c *Cache) acquire(ctx context.Context, key string) (*cacheEntry, error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok && !e.gone {
			c.holdLocked(e)
			c.mu.Unlock()
			return e, nil
		}
		if wait, ok := c.loads[key]; ok {
			c.mu.Unlock()
			select {
			case <-wait: // fetched, or failed: look again
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		c.loads[key] = done
		c.mu.Unlock()

		size, err := c.fetch(ctx, key)
		c.mu.Lock()
		delete(c.loads, key)
		close(done)
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		e := c.addLocked(key, size)
		c.holdLocked(e)
		c.evictLocked()
		c.mu.Unlock()
		return e, nil
	}
}

// fetch copies key's object to its file, checking its size and sha256
// against the source's answer, and returns its size.
func (c *Cache) fetch(ctx context.Context, key string) (int64, error) {
	body, info, err := c.src.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("fetch dataset file %q: %w", key, err)
	}
	defer body.Close()
	name := fileName(key)
	if err := c.dir.MkdirAll(path.Dir(name)); err != nil {
		return 0, fmt.Errorf("fetch dataset file %q: %w", key, err)
	}
	err = c.dir.WriteAtomic(name, cacheTemp, func(w io.Writer) error {
		h := sha256.New()
		n, err := copyContext(ctx, io.MultiWriter(w, h), body)
		if err != nil {
			return err
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != info.Size || sum != info.ETag {
			return fmt.Errorf("the copy has %d bytes of sha256 %s, the object %d bytes of sha256 %s; nothing was kept", n, sum, info.Size, info.ETag)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fetch dataset file %q: %w", key, err)
	}
	c.mu.Lock()
	c.stats.Fetches++
	c.mu.Unlock()
	return info.Size, nil
}

// Adopt moves the local file at localPath, of which info (from its upload)
// gives the size and sha256, into the cache as the copy of key, so that a
// file just written is not fetched again. The file must be on the cache's
// filesystem; when it cannot be moved, Adopt removes it and the cache
// fetches it when it is first read.
func (c *Cache) Adopt(key, localPath string, info Info) {
	name := fileName(key)
	err := c.dir.MkdirAll(path.Dir(name))
	if err == nil {
		err = os.Rename(localPath, c.dir.Path(name))
	}
	if err == nil {
		err = c.dir.SyncDir(path.Dir(name))
	}
	if err != nil {
		os.Remove(localPath)
		slog.Warn("cache: keep a written file", "key", key, "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		c.addLocked(key, info.Size)
		c.evictLocked()
	}
}

// Forget drops the copies of the objects under prefix (a key, or a folder
// ending in "/"), whose objects were deleted: at once, or those held when
// their last reader releases them.
func (c *Cache) Forget(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if key != prefix && !(strings.HasSuffix(prefix, "/") && strings.HasPrefix(key, prefix)) {
			continue
		}
		e.gone = true
		if e.holds == 0 {
			c.removeLocked(e)
		}
	}
}

// addLocked indexes the new file of key, not held.
func (c *Cache) addLocked(key string, size int64) *cacheEntry {
	e := &cacheEntry{key: key, size: size}
	e.elem = c.lru.PushFront(e)
	c.entries[key] = e
	c.stats.Bytes += size
	return e
}

// holdLocked holds e: out of the LRU list while any reader holds it.
func (c *Cache) holdLocked(e *cacheEntry) {
	if e.holds == 0 && e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
	}
	e.holds++
}

// unhold releases the entries held, which go to the front of the LRU list
// when no one holds them any more, and evicts what is over the limit.
func (c *Cache) unhold(held []*cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range held {
		e.holds--
		if e.holds > 0 {
			continue
		}
		if e.gone {
			c.removeLocked(e)
			continue
		}
		e.elem = c.lru.PushFront(e)
	}
	c.evictLocked()
}

// evictLocked removes the least recently used files that no one holds
// until the cache is within its limit, or only held files are left.
func (c *Cache) evictLocked() {
	for c.stats.Bytes > c.limit && c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back().Value.(*cacheEntry))
		c.stats.Evictions++
	}
}

// removeLocked removes e, which no one holds, and its file.
func (c *Cache) removeLocked(e *cacheEntry) {
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
	}
	c.stats.Bytes -= e.size
	if c.entries[e.key] != e {
		return // a copy fetched since has the file
	}
	delete(c.entries, e.key)
	if err := c.dir.Remove(fileName(e.key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("cache: remove evicted file", "key", e.key, "err", err)
	}
}
