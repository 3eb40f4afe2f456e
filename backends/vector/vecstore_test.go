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
// /proc/self/smaps: the file it maps ("" for anonymous memory) and its
// anonymous (copied or written) kilobytes.
func mapping(t *testing.T, addr uintptr) (file string, anonKB int) {
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
		}
	}
	if !in {
		t.Fatalf("no mapping holds %#x", addr)
	}
	return file, anonKB
}

// The vectors of an index live in its snapshot file once it is written:
// full chunks are the file's pages, mapped as they are, when the index
// opens and as soon as a snapshot has been written, so that none of their
// memory is anonymous; the rest are anonymous memory. What they hold reads
// the same either way.
func TestVectors_MappedFromTheSnapshot(t *testing.T) {
	const dim = 1024 // 4096 vectors to a chunk
	ctx := context.Background()
	dir := t.TempDir()
	per := 1 << chunkShift(dim)
	items := itemsOf(gaussianMixture(rand.New(rand.NewPCG(2, 2)), per+300, dim, 4, 1), nil)
	cfg := Config{FlatThreshold: 1 << 20} // flat: no graph to wait for
	m := mustOpen(t, dir, cfg)
	mustCreate(t, m, "v", dim, Cosine)
	mustUpsert(t, m, "v", items[:per+100])
	ix, _ := m.lookup("v")
	chunk := func(k int) uintptr {
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		return uintptr(unsafe.Pointer(&ix.seg.vecs.chunks[k][0]))
	}
	snap := filepath.Join(dir, "v", snapshotName)
	if file, anon := mapping(t, chunk(0)); file != "" || anon == 0 {
		t.Fatalf("before a snapshot, chunk 0 maps %q with %d kB anonymous; want anonymous memory", file, anon)
	}
	if err := m.Snapshot(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	check := func(what string, m *Manager, n int) {
		t.Helper()
		if file, anon := mapping(t, chunk(0)); file != snap || anon != 0 {
			t.Errorf("%s: chunk 0 maps %q with %d kB anonymous; want %s and none", what, file, anon, snap)
		}
		if file, _ := mapping(t, chunk(1)); file != "" {
			t.Errorf("%s: chunk 1, not full, maps %q", what, file)
		}
		for _, i := range []int{0, per - 1, per, n - 1} {
			got, err := m.Get("v", []string{items[i].ID})
			want := append([]float32(nil), items[i].Vector...)
			normalize(want)
			if err != nil || len(got) != 1 || !closeVectors(got[0].Vector, want) {
				t.Fatalf("%s: item %d reads back %v, %v", what, i, got, err)
			}
			hits, err := m.Search(ctx, "v", items[i].Vector, SearchOptions{K: 1})
			if err != nil || hits[0].ID != items[i].ID {
				t.Fatalf("%s: search for item %d: %v %v", what, i, hits, err)
			}
		}
	}
	check("after a snapshot", m, per+100)
	m.Close()

	m = mustOpen(t, dir, cfg)
	ix, _ = m.lookup("v")
	mustUpsert(t, m, "v", items[per+100:])
	check("reopened and grown", m, per+300)
}
