package embed

import "testing"

func TestVecCache_LRU(t *testing.T) {
	t.Parallel()
	c := newVecCache(2)
	a, b, d := cacheKey("m", "a"), cacheKey("m", "b"), cacheKey("m", "d")
	c.put(a, []float32{1})
	c.put(b, []float32{2})
	if _, ok := c.get(a); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(d, []float32{3}) // evicts b
	if _, ok := c.get(b); ok {
		t.Fatal("b survived; the least recently used entry should go")
	}
	for _, k := range [][32]byte{a, d} {
		if _, ok := c.get(k); !ok {
			t.Fatal("a recent entry was evicted")
		}
	}
	if c.len() != 2 {
		t.Fatalf("len = %d, want 2", c.len())
	}
	if h, m := c.counts(); h != 3 || m != 1 {
		t.Fatalf("hits %d misses %d, want 3 and 1", h, m)
	}
}

func TestVecCache_Copies(t *testing.T) {
	t.Parallel()
	c := newVecCache(4)
	k := cacheKey("m", "x")
	v := []float32{1, 2}
	c.put(k, v)
	v[0] = 9 // the caller's slice, after put
	got, _ := c.get(k)
	got[1] = 9 // the caller's slice, after get
	again, _ := c.get(k)
	if again[0] != 1 || again[1] != 2 {
		t.Fatalf("cached vector changed to %v", again)
	}
}

func TestVecCache_Off(t *testing.T) {
	t.Parallel()
	var c *vecCache = newVecCache(0)
	c.put(cacheKey("m", "x"), []float32{1})
	if _, ok := c.get(cacheKey("m", "x")); ok || c.len() != 0 {
		t.Fatal("a size-0 cache kept a vector")
	}
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	if cacheKey("m1", "text") == cacheKey("m2", "text") {
		t.Fatal("two models share a key")
	}
	// The separator keeps model/text boundaries apart.
	if cacheKey("ab", "c") == cacheKey("a", "bc") {
		t.Fatal("model and text run together")
	}
	if cacheKey("m", "t") != cacheKey("m", "t") {
		t.Fatal("key not deterministic")
	}
}
