package store

import "context"

// Remote is what [Cached] needs of the store that keeps the objects: a
// bucket ([S3]) in shared mode.
type Remote interface {
	Getter
	Stat(ctx context.Context, key string) (Info, error)
	Upload(ctx context.Context, key, localPath, contentType string) (Info, error)
	Delete(ctx context.Context, key string) error
	DeletePrefix(ctx context.Context, prefix string) error
}

var _ Remote = (*S3)(nil)

// Cached keeps files in a remote store and lets local readers read them
// through a [Cache]: the dataset files of shared mode, which each node's
// DuckDB reads from its own cache. It has the methods of [FS] that the
// ingest and the SQL engine use, so that they work on either.
type Cached struct {
	remote Remote
	cache  *Cache
}

// NewCached returns the store of remote's objects read through cache,
// which must be a cache of remote.
func NewCached(remote Remote, cache *Cache) *Cached { return &Cached{remote: remote, cache: cache} }

// Cache returns the store's cache.
func (c *Cached) Cache() *Cache { return c.cache }

// Stat describes key's object in the remote store.
func (c *Cached) Stat(ctx context.Context, key string) (Info, error) { return c.remote.Stat(ctx, key) }

// Adopt uploads the local file at localPath as key's object, then moves it
// into the cache, so that this node does not fetch what it just wrote. On
// success localPath no longer exists (as with [FS.Adopt]); on error it is
// left where it was, and nothing is visible under key: the remote store
// shows an object only once all of it has arrived.
func (c *Cached) Adopt(ctx context.Context, key, localPath, contentType string) (Info, error) {
	info, err := c.remote.Upload(ctx, key, localPath, contentType)
	if err != nil {
		return Info{}, err
	}
	c.cache.Adopt(key, localPath, info)
	return info, nil
}

// Delete deletes key's object and its copy.
func (c *Cached) Delete(ctx context.Context, key string) error {
	if err := c.remote.Delete(ctx, key); err != nil {
		return err
	}
	c.cache.Forget(key)
	return nil
}

// DeletePrefix deletes the objects under prefix and their copies.
func (c *Cached) DeletePrefix(ctx context.Context, prefix string) error {
	if err := c.remote.DeletePrefix(ctx, prefix); err != nil {
		return err
	}
	c.cache.Forget(prefix)
	return nil
}

// Hold makes the files of keys local; see [Cache.Hold].
func (c *Cached) Hold(ctx context.Context, keys []string) ([]string, func(), error) {
	return c.cache.Hold(ctx, keys)
}

// Dir is the folder beneath which the paths of Hold are.
func (c *Cached) Dir() string { return c.cache.Dir() }

// Hold returns the paths of the content files of keys, which are local
// already; release does nothing. It is the [Cached.Hold] of a local store.
func (f *FS) Hold(ctx context.Context, keys []string) (paths []string, release func(), err error) {
	paths = make([]string, len(keys))
	for i, key := range keys {
		if err := checkKey(ctx, key); err != nil {
			return nil, nil, err
		}
		paths[i] = f.Path(key)
	}
	return paths, func() {}, nil
}

// Path returns where the copy of key's object is while it is held (see
// [Cache.Hold]), or "" for an invalid key.
func (c *Cached) Path(key string) string {
	if keyRule(key) != "" {
		return ""
	}
	return c.cache.dir.Path(fileName(key))
}
