package embed

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"sync/atomic"
)

// vecCache is a fixed-size LRU of vectors, safe for concurrent use.
//
// A key is sha256(model + "\x00" + text): one cache may serve any model
// without mixing their vectors, and keys stay 32 bytes whatever the text.
// Vectors are copied in and out, so no caller can change a cached vector.
type vecCache struct {
	size int

	mu    sync.Mutex
	order *list.List // of *vecCacheEntry, most recent first
	items map[[32]byte]*list.Element

	hits, misses atomic.Uint64
}

type vecCacheEntry struct {
	key [32]byte
	vec []float32
}

// newVecCache returns a cache of size entries, or nil when size <= 0.
// A nil *vecCache is a valid, always-empty cache.
func newVecCache(size int) *vecCache {
	if size <= 0 {
		return nil
	}
	return &vecCache{size: size, order: list.New(), items: make(map[[32]byte]*list.Element)}
}

// cacheKey is the key of text under model.
func cacheKey(model, text string) [32]byte {
	h := sha256.New()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(text))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// get returns a copy of the vector under k and counts a hit or a miss.
func (c *vecCache) get(k [32]byte) ([]float32, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	el, ok := c.items[k]
	var v []float32
	if ok {
		c.order.MoveToFront(el)
		v = append([]float32(nil), el.Value.(*vecCacheEntry).vec...)
	}
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

// put stores a copy of v under k, evicting the least recently used entry
// when full.
func (c *vecCache) put(k [32]byte, v []float32) {
	if c == nil {
		return
	}
	v = append([]float32(nil), v...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value.(*vecCacheEntry).vec = v
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&vecCacheEntry{key: k, vec: v})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*vecCacheEntry).key)
	}
}

// len is the number of cached vectors.
func (c *vecCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// counts returns the hits and misses so far.
func (c *vecCache) counts() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}
