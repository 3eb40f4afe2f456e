package vector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrent runs searches, upserts, deletes and reads at once, while
// the worker builds, extends and rebuilds the graph and snapshots come and
// go, and the garbage collector runs all the time. Run under -race. Each id is written by one goroutine at a time (the
// test's per-id locks), so the test knows what the index must hold at the
// end.
func TestConcurrent(t *testing.T) {
	const dim, ids = 8, 600
	dir := t.TempDir()
	cfg := Config{FlatThreshold: 150, SnapshotBytes: 64 << 10, RebuildFraction: 0.2}
	m := mustOpen(t, dir, cfg)
	mustCreate(t, m, "c", dim, Cosine)
	ctx := context.Background()

	var (
		locks [ids]sync.Mutex
		state [ids]int // version of each id; 0 = absent
		next  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		fails = make(chan error, 100)
	)
	vectorOf := func(id, version int) []float32 {
		rng := rand.New(rand.NewPCG(uint64(id), uint64(version)))
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		normalize(v)
		return v
	}
	fail := func(err error) {
		select {
		case fails <- err:
		default:
		}
	}
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Lock a run of ids in order (no deadlock), then upsert them.
				lo := rng.IntN(ids - 20)
				n := 1 + rng.IntN(20)
				for i := lo; i < lo+n; i++ {
					locks[i].Lock()
				}
				var items []Item
				for i := lo; i < lo+n; i++ {
					v := int(next.Add(1))
					state[i] = v
					items = append(items, Item{ID: fmt.Sprint("id", i), Vector: vectorOf(i, v), Metadata: map[string]any{"mod": i % 5}})
				}
				if _, err := m.Upsert(ctx, "c", items); err != nil {
					fail(err)
				}
				for i := lo; i < lo+n; i++ {
					locks[i].Unlock()
				}
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(5, 5))
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := rng.IntN(ids)
			locks[i].Lock()
			n, err := m.Delete(ctx, "c", []string{fmt.Sprint("id", i)})
			if err != nil {
				fail(err)
			} else if (n == 1) != (state[i] != 0) {
				fail(fmt.Errorf("Delete of id%d returned %d, but its state is %d", i, n, state[i]))
			}
			state[i] = 0
			locks[i].Unlock()
		}
	})
	// Collect often, so that the memory of a segment that a rebuild or a
	// recovery replaced is released as soon as nothing refers to it: a
	// view used after its store was released would fault.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	})
	for s := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := vectorOf(rng.IntN(1000), 0)
				opts := SearchOptions{K: 1 + rng.IntN(30)}
				if s == 1 {
					opts.Filter = Filter{"mod": []any{1, 3}}
				}
				hits, err := m.Search(ctx, "c", q, opts)
				if err != nil {
					fail(err)
					continue
				}
				seen := map[string]bool{}
				for i, h := range hits {
					if seen[h.ID] || i > 0 && h.Score > hits[i-1].Score {
						fail(fmt.Errorf("bad result: duplicate or unsorted at %d: %+v", i, hits))
						break
					}
					seen[h.ID] = true
				}
				if s == 2 {
					m.Get("c", []string{"id1", "id2"})
					m.Info("c")
					m.List()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(fails)
	for err := range fails {
		t.Fatal(err)
	}

	md := model{}
	for i, v := range state {
		if v != 0 {
			id := fmt.Sprint("id", i)
			md[id] = Item{ID: id, Vector: vectorOf(i, v), Metadata: map[string]any{"mod": i % 5}}
		}
	}
	check := func(m *Manager) {
		t.Helper()
		info, _ := m.Info("c")
		if info.Count != len(md) {
			t.Fatalf("index holds %d items, want %d", info.Count, len(md))
		}
		for id, want := range md {
			got, _ := m.Get("c", []string{id})
			if len(got) != 1 || !closeVectors(got[0].Vector, want.Vector) {
				t.Fatalf("item %s: %+v, want vector %v", id, got, want.Vector)
			}
		}
		hits, err := m.Search(ctx, "c", vectorOf(1, 0), SearchOptions{K: MaxK})
		if err != nil || len(hits) != len(md) {
			t.Fatalf("search for everything found %d of %d items (%v)", len(hits), len(md), err)
		}
	}
	mustWait(t, m, "c")
	check(m)
	ix, _ := m.lookup("c")
	ix.mu.RLock()
	t.Logf("%d items, %d writes; %d slots, %d tombstones, graph: %v", len(md), next.Load(), ix.seg.n(), ix.seg.nDead, ix.seg.g != nil)
	ix.mu.RUnlock()
	m.Close()
	check(mustOpen(t, dir, cfg))
}

// closeVectors compares vectors that went through normalisation twice.
func closeVectors(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-6 || d < -1e-6 {
			return false
		}
	}
	return true
}
