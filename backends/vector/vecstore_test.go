package vector

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// mapping describes the memory mapping that holds addr, from
// /proc/self/smaps: the file it maps ("" for anonymous memory), its
// resident kilobytes and of those its anonymous (copied or written) ones.
func mapping(t *testing.T, addr uintptr) (file string, rssKB, anonKB int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps here")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			if in {
				break
			}
			if in = lo <= addr && addr < hi; in {
				if fields := strings.Fields(line); len(fields) >= 6 {
					file = fields[5]
				}
			}
			continue
		}
		if in {
			fmt.Sscanf(line, "Anonymous: %d kB", &anonKB)
			fmt.Sscanf(line, "Rss: %d kB", &rssKB)
		}
	}
	if !in {
		t.Fatalf("no mapping holds %#x", addr)
	}
	return file, rssKB, anonKB
}

// The vectors of an index live in its snapshot file once it is written:
// full chunks are the file's pages, mapped as they are, when the index
// opens and as soon as a snapshot has been written, so that none of their
// memory is anonymous; the rest are anonymous memory. What they hold reads
// the same either way. An int8 index keeps its codes in memory and the
// floats only in the file: once mapped, they are not resident, and its
// accounted vector memory is about a quarter of a float index's.
func TestVectors_MappedFromTheSnapshot(t *testing.T) {
	const dim = 1024 // 4096 vectors to a chunk
	ctx := context.Background()
	dir := t.TempDir()
	per := 1 << chunkShift(4*dim)
	items := itemsOf(gaussianMixture(rand.New(rand.NewPCG(2, 2)), per+300, dim, 4, 1), nil)
	cfg := Config{FlatThreshold: 1 << 20} // flat: no graph to wait for
	m := mustOpen(t, dir, cfg)
	names := []string{"v", "q"}
	mustCreate(t, m, "v", dim, Cosine)
	if _, err := m.Create(ctx, "q", Spec{Dim: dim, Quantization: QuantInt8}); err != nil {
		t.Fatal(err)
	}
	chunk := func(name string, k int) uintptr {
		ix, _ := m.lookup(name)
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		return uintptr(unsafe.Pointer(&ix.seg.vecs.chunks[k][0]))
	}
	for _, name := range names {
		mustUpsert(t, m, name, items[:per+100])
		if file, _, anon := mapping(t, chunk(name, 0)); file != "" || anon == 0 {
			t.Fatalf("%s: before a snapshot, chunk 0 maps %q with %d kB anonymous; want anonymous memory", name, file, anon)
		}
		if err := m.Snapshot(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, n int) {
		t.Helper()
		for _, name := range names {
			snap := filepath.Join(dir, name, snapshotName)
			file, rss, anon := mapping(t, chunk(name, 0))
			if file != snap || anon != 0 {
				t.Errorf("%s, %s: chunk 0 maps %q with %d kB anonymous; want %s and none", what, name, file, anon, snap)
			}
			if full := 4 * dim * per / 1024; name == "q" && rss > full/8 || name == "v" && what == "reopened and grown" && rss < full {
				t.Errorf("%s, %s: chunk 0 has %d kB resident of %d", what, name, rss, full)
			}
			if file, _, _ := mapping(t, chunk(name, 1)); file != "" {
				t.Errorf("%s, %s: chunk 1, not full, maps %q", what, name, file)
			}
			for _, i := range []int{0, per - 1, per, n - 1} {
				got, err := m.Get(name, []string{items[i].ID})
				want := append([]float32(nil), items[i].Vector...)
				normalize(want)
				if err != nil || len(got) != 1 || !closeVectors(got[0].Vector, want) {
					t.Fatalf("%s, %s: item %d reads back %v, %v", what, name, i, got, err)
				}
				hits, err := m.Search(ctx, name, items[i].Vector, SearchOptions{K: 1})
				if err != nil || hits[0].ID != items[i].ID {
					t.Fatalf("%s, %s: search for item %d: %v %v", what, name, i, hits, err)
				}
			}
		}
		v, _ := m.Info("v")
		q, _ := m.Info("q")
		if q.Memory.Vectors > v.Memory.Vectors/3 {
			t.Errorf("%s: vectors in memory: float %d bytes, int8 %d", what, v.Memory.Vectors, q.Memory.Vectors)
		}
	}
	check("after a snapshot", per+100)
	m.Close()

	m = mustOpen(t, dir, cfg)
	for _, name := range names {
		mustUpsert(t, m, name, items[per+100:])
	}
	check("reopened and grown", per+300)
}
