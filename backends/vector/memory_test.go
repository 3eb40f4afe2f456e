package vector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// memItems makes items from..to-1 of dim dimensions, each with a text of
// a few words (from a vocabulary of 2000, and one word of its own) and
// metadata with a string, a number and a list, as documents would have.
// Every string is allocated afresh, as decoding a request would.
func memItems(from, to, dim int) []Item {
	rng := rand.New(rand.NewPCG(uint64(from), 7))
	items := make([]Item, 0, to-from)
	for i := from; i < to; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		var text strings.Builder
		for range 6 + rng.IntN(6) {
			fmt.Fprintf(&text, "w%d ", rng.IntN(2000))
		}
		fmt.Fprintf(&text, "item%d", i)
		items = append(items, Item{
			ID: fmt.Sprintf("doc-%06d", i), Vector: v, Text: text.String(),
			Metadata: map[string]any{"lang": []string{"en", "de", "fr"}[i%3], "year": 2000 + i%25, "tags": []string{"a", fmt.Sprint("t", i%50)}},
		})
	}
	return items
}

// heapAlloc returns the bytes of live heap objects, after collecting.
func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// upsertMem upserts items from..to-1, a batch at a time so that each
// batch's input is garbage once stored.
func upsertMem(t *testing.T, m *Manager, name string, from, to, dim int) {
	t.Helper()
	for lo := from; lo < to; lo += MaxBatch {
		mustUpsert(t, m, name, memItems(lo, min(lo+MaxBatch, to), dim))
	}
}

func memoryOf(t *testing.T, m *Manager, name string) Memory {
	t.Helper()
	info, err := m.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	return info.Memory
}

// TestIndex_Memory_MatchesHeap checks the accounting of an index with
// texts, metadata and a graph against the growth of the Go heap, once as
// built by upserts and once as read back from its snapshot (whose lexicon
// is laid out in one slab) and grown further, and that every part grows
// with the items.
func TestIndex_Memory_MatchesHeap(t *testing.T) {
	const dim, n, tolerance = 64, 6000, 0.2
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{FlatThreshold: 2000, Budget: NewBudget(1 << 50)}
	check := func(what string, mem Memory, accounted, grew int64) {
		t.Helper()
		t.Logf("%s: accounted %d bytes (%+v), heap grew %d: %+.1f%%", what, accounted, mem, grew, 100*float64(accounted-grew)/float64(grew))
		if d := float64(accounted - grew); d > tolerance*float64(grew) || -d > tolerance*float64(grew) {
			t.Errorf("%s: accounted %d bytes, but the heap grew by %d", what, accounted, grew)
		}
	}
	// The vectors live outside the Go heap (see vecstore.go), in pages.
	offHeap := func(m *Manager, mem Memory) int64 {
		t.Helper()
		ix, _ := m.lookup("docs")
		ix.mu.RLock()
		n := ix.seg.n()
		ix.mu.RUnlock()
		if want := roundUp(4*n*dim, 4096); mem.Vectors != want {
			t.Errorf("vectors of %d slots: accounted %d bytes, want %d", n, mem.Vectors, want)
		}
		return mem.Vectors
	}

	m, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "docs", dim, Cosine)
	empty := memoryOf(t, m, "docs")
	before := heapAlloc()
	upsertMem(t, m, "docs", 0, n/4, dim)
	mustWait(t, m, "docs")
	flat := memoryOf(t, m, "docs")
	upsertMem(t, m, "docs", n/4, n, dim)
	mustWait(t, m, "docs")
	if err := m.Snapshot(ctx, "docs"); err != nil { // so that no snapshot's copies are being written below
		t.Fatal(err)
	}
	built := memoryOf(t, m, "docs")
	check("built", built, built.Total-empty.Total-offHeap(m, built), heapAlloc()-before)

	if flat.Links != 0 {
		t.Errorf("a flat index has %d bytes of links", flat.Links)
	}
	parts := func(m Memory) []int64 { return []int64{m.Vectors, m.Links, m.IDs, m.Texts, m.Metadata, m.Postings} }
	for i, name := range []string{"vectors", "links", "ids", "texts", "metadata", "postings"} {
		if i != 1 && parts(flat)[i] == 0 {
			t.Errorf("%s: 0 bytes with %d items", name, n/4)
		}
		if parts(built)[i] <= parts(flat)[i] {
			t.Errorf("%s: %d bytes with %d items, %d with %d", name, parts(built)[i], n, parts(flat)[i], n/4)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	before = heapAlloc()
	m = mustOpen(t, dir, cfg)
	mustWait(t, m, "docs")
	read := memoryOf(t, m, "docs")
	check("read back", read, read.Total-offHeap(m, read), heapAlloc()-before)

	// Postings lists that outgrow the slab leave their old place in it.
	upsertMem(t, m, "docs", n, n+n/4, dim)
	mustWait(t, m, "docs")
	if err := m.Snapshot(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	more := memoryOf(t, m, "docs")
	check("read back, then grown", more, more.Total-offHeap(m, more), heapAlloc()-before)
}

// fill upserts batches of items, ids from on, into index name until the
// budget refuses one, and returns the items of that batch and the error.
func fill(t *testing.T, m *Manager, name string, dim, from int) ([]Item, error) {
	t.Helper()
	for lo := from; lo < from+1_000_000; lo += 500 {
		batch := memItems(lo, lo+500, dim)
		if _, err := m.Upsert(context.Background(), name, batch); err != nil {
			return batch, err
		}
	}
	t.Fatal("the budget never refused an upsert")
	return nil, nil
}

// absent fails the test if m holds any of items.
func absent(t *testing.T, m *Manager, name string, items []Item) {
	t.Helper()
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	got, err := m.Get(name, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 0 {
		t.Errorf("%d items of the refused batch are stored, %s among them", len(got), got[0].ID)
	}
}

// TestManager_Upsert_MaxMemory checks that an upsert past the budget fails
// with TooLarge, naming the key, and stores nothing of its batch (nor after
// reopening); that searches and deletes still work; and that the batch
// goes in once deletes have compacted the index, or under a larger budget.
func TestManager_Upsert_MaxMemory(t *testing.T) {
	const dim, limit = 32, 2 << 20
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{RebuildFraction: 0.2}
	cfg.Budget = NewBudget(limit)
	m, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "docs", dim, Cosine)
	refused, err := fill(t, m, "docs", dim, 0)
	if !errors.Is(err, errs.TooLarge) {
		t.Fatalf("refused with %v, want a TooLarge error", err)
	}
	for _, want := range []string{`vector index "docs" would grow to `, "with these 500 items; vector.max_memory is 2 MiB (all indexes hold ", "raise vector.max_memory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	info, _ := m.Info("docs")
	if used, lim := m.Memory(); used != info.Memory.Total || lim != limit || used > limit {
		t.Errorf("Memory() = %d, %d; want the index's %d, at most the limit %d", used, lim, info.Memory.Total, limit)
	}
	absent(t, m, "docs", refused)
	if _, err := m.Search(ctx, "docs", refused[0].Vector, SearchOptions{K: 3}); err != nil {
		t.Errorf("search when full: %v", err)
	}

	// Deleting half the items compacts the index, which makes room.
	var ids []string
	for i := range info.Count / 2 {
		ids = append(ids, fmt.Sprintf("doc-%06d", i))
	}
	for lo := 0; lo < len(ids); lo += MaxBatch {
		if _, err := m.Delete(ctx, "docs", ids[lo:min(lo+MaxBatch, len(ids))]); err != nil {
			t.Fatalf("delete when full: %v", err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = mustOpen(t, dir, cfg)
	absent(t, m, "docs", refused)
	mustWait(t, m, "docs")
	if _, err := m.Upsert(ctx, "docs", refused); err != nil {
		t.Errorf("upsert after deleting half: %v", err)
	}
	refused, _ = fill(t, m, "docs", dim, 1_000_000)
	m.Close()

	cfg.Budget = NewBudget(4 * limit)
	m = mustOpen(t, dir, cfg)
	if _, err := m.Upsert(ctx, "docs", refused); err != nil {
		t.Errorf("upsert under a larger limit: %v", err)
	}
}

// TestBudget_Shared checks that Managers given one Budget are bounded
// together, and that dropping an index of one makes room in the other.
func TestBudget_Shared(t *testing.T) {
	const dim = 32
	ctx := context.Background()
	b := NewBudget(1 << 20)
	m1 := mustOpen(t, t.TempDir(), Config{Budget: b})
	m2 := mustOpen(t, t.TempDir(), Config{Budget: b})
	mustCreate(t, m1, "big", dim, Cosine)
	mustCreate(t, m2, "small", dim, Cosine)
	fill(t, m1, "big", dim, 0)
	if _, err := m2.Upsert(ctx, "small", memItems(0, 500, dim)); !errors.Is(err, errs.TooLarge) {
		t.Errorf("upsert into the other Manager: %v, want TooLarge", err)
	}
	if err := m1.Drop(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Upsert(ctx, "small", memItems(0, 500, dim)); err != nil {
		t.Errorf("upsert after dropping the full index: %v", err)
	}
	if used, _ := m1.Memory(); used != memoryOf(t, m2, "small").Total {
		t.Errorf("the budget counts %d bytes, the one index left holds %d", used, memoryOf(t, m2, "small").Total)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 1 << 30: "1 GiB", 1288490188: "1.2 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
