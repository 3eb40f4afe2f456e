package vector

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// model is what a test expects an index to hold.
type model map[string]Item

func (md model) ids() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for id := range md {
			if !yield(id) {
				return
			}
		}
	})
}

// checkModel compares index name with md: the same count, every item with
// the same vector, text and metadata, and no other.
func checkModel(t *testing.T, m *Manager, name string, md model) {
	t.Helper()
	info, err := m.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Count != len(md) {
		t.Fatalf("%s holds %d items, want %d", name, info.Count, len(md))
	}
	ids := md.ids()
	for start := 0; start < len(ids); start += MaxBatch {
		batch := ids[start:min(start+MaxBatch, len(ids))]
		got, err := m.Get(name, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(batch) {
			t.Fatalf("%s: Get found %d of %d items", name, len(got), len(batch))
		}
		for _, it := range got {
			want := md[it.ID]
			if !slices.Equal(it.Vector, want.Vector) || it.Text != want.Text || fmt.Sprint(it.Metadata) != fmt.Sprint(want.Metadata) {
				t.Fatalf("%s: item %s is %+v, want %+v", name, it.ID, it, want)
			}
		}
	}
	// No search finds an item the model lacks.
	hits, err := m.Search(context.Background(), name, make([]float32, info.Dim), SearchOptions{K: MaxK})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != min(len(md), MaxK) {
		t.Fatalf("%s: a search for everything found %d items, want %d", name, len(hits), min(len(md), MaxK))
	}
	for _, h := range hits {
		if _, ok := md[h.ID]; !ok {
			t.Fatalf("%s: search found %s, which should not exist", name, h.ID)
		}
	}
}

// churn upserts, replaces and deletes items of an l2 index of dim 6,
// recording the outcome in md.
func churn(t *testing.T, m *Manager, name string, md model, rng *rand.Rand, rounds int) {
	t.Helper()
	ctx := context.Background()
	for r := range rounds {
		var batch []Item
		for range 1 + rng.IntN(40) {
			id := fmt.Sprintf("id%d", rng.IntN(400))
			v := make([]float32, 6)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			it := Item{ID: id, Vector: v}
			if rng.IntN(2) == 0 {
				it.Text = fmt.Sprintf("text of %s in round %d", id, r)
				it.Metadata = map[string]any{"round": float64(r), "tags": []any{"a", id}}
			}
			batch = append(batch, it)
		}
		if _, err := m.Upsert(ctx, name, batch); err != nil {
			t.Fatal(err)
		}
		for _, it := range batch {
			md[it.ID] = it
		}
		if rng.IntN(3) == 0 {
			var del []string
			for range 1 + rng.IntN(20) {
				del = append(del, fmt.Sprintf("id%d", rng.IntN(400)))
			}
			want := 0
			for _, id := range slices.Compact(slices.Sorted(slices.Values(del))) {
				if _, ok := md[id]; ok {
					want++
					delete(md, id)
				}
			}
			if n, err := m.Delete(ctx, name, del); err != nil || n != want {
				t.Fatalf("Delete = %d, %v; want %d", n, err, want)
			}
		}
	}
}

func TestRestart_KeepsEverything(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"log only", Config{}},
		{"many snapshots", Config{SnapshotBytes: 8 << 10}},
		{"graph", Config{FlatThreshold: 50, SnapshotBytes: 32 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(11, 12))
			md := model{}
			m, err := Open(dir, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustCreate(t, m, "keep", 6, L2)
			mustCreate(t, m, "other", 3, Cosine)
			mustUpsert(t, m, "other", []Item{{ID: "x", Vector: []float32{1, 2, 3}, Text: "hello"}})
			churn(t, m, "keep", md, rng, 60)
			checkModel(t, m, "keep", md)
			before, _ := m.Info("keep")
			waitSnapshot(t, m, "keep")
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.cfg.SnapshotBytes > 0 {
				if log := logFile(t, dir, "keep"); log == filepath.Join(dir, "keep", walName(1)) {
					t.Fatalf("no snapshot was taken: the log is still %s", log)
				}
			}
			for round := range 3 {
				m = mustOpen(t, dir, tc.cfg)
				if bad := m.Unavailable(); len(bad) > 0 {
					t.Fatalf("unavailable after restart: %v", bad)
				}
				checkModel(t, m, "keep", md)
				after, _ := m.Info("keep")
				if after.CreatedAt != before.CreatedAt || after.Model != "test-model" || after.Metric != L2 {
					t.Fatalf("info changed: %+v -> %+v", before, after)
				}
				other, err := m.Get("other", []string{"x"})
				if err != nil || len(other) != 1 || other[0].Text != "hello" {
					t.Fatalf("other index: %+v %v", other, err)
				}
				churn(t, m, "keep", md, rng, 20) // more history on top of the replayed one
				if round == 1 {
					mustWait(t, m, "keep")
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			}
			m = mustOpen(t, dir, tc.cfg)
			checkModel(t, m, "keep", md)
		})
	}
}

// TestSnapshot_GraphIsSaved: a snapshot holds the graph, so an index opens
// with every node linked and no work left.
func TestSnapshot_GraphIsSaved(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{FlatThreshold: 100}
	rng := rand.New(rand.NewPCG(1, 9))
	items := itemsOf(gaussianMixture(rng, 1500, 8, 5, 1), func(i int) map[string]any { return map[string]any{"i": i} })
	m, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "g", 8, Cosine)
	mustUpsert(t, m, "g", items)
	m.Delete(context.Background(), "g", []string{"i1", "i2"})
	mustWait(t, m, "g")
	if err := m.Snapshot(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
	q := items[77].Vector
	want, _ := m.Search(context.Background(), "g", q, SearchOptions{K: 20})
	m.Close()
	logs, _ := filepath.Glob(filepath.Join(dir, "g", "wal-*.log"))
	if len(logs) > 2 { // the previous snapshot's and the current one's
		t.Fatalf("logs after a snapshot: %v", logs)
	}

	m = mustOpen(t, dir, cfg)
	ix, _ := m.lookup("g")
	ix.mu.RLock()
	g, n := ix.seg.g, ix.seg.n()
	linked := 0
	if g != nil {
		linked = g.size()
	}
	ix.mu.RUnlock()
	if linked != n || n != 1500 {
		t.Fatalf("opened with %d of %d slots linked; want all 1500", linked, n)
	}
	got, _ := m.Search(context.Background(), "g", q, SearchOptions{K: 20})
	if !slices.Equal(hitIDs(got), hitIDs(want)) {
		t.Fatalf("search after reopening:\n got %v\nwant %v", hitIDs(got), hitIDs(want))
	}
}

// logFile returns the one log of index name.
func logFile(t *testing.T, dir, name string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, name, "wal-*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("logs of %s: %v %v", name, logs, err)
	}
	return logs[len(logs)-1] // the newest; Glob sorts
}

func TestLog_DamagePolicy(t *testing.T) {
	batches := [][]Item{
		{{ID: "a", Vector: []float32{1, 0}}, {ID: "b", Vector: []float32{0, 1}}},
		{{ID: "c", Vector: []float32{1, 1}, Text: "c", Metadata: map[string]any{"k": "v"}}},
		{{ID: "d", Vector: []float32{2, 1}}, {ID: "a", Vector: []float32{3, 3}}},
	}
	setup := func(t *testing.T) (string, string, []int64) {
		dir := t.TempDir()
		m, err := Open(dir, Config{})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, m, "t", 2, L2)
		mustCreate(t, m, "u", 2, L2)
		mustUpsert(t, m, "u", batches[0])
		path := logFile(t, dir, "t")
		var sizes []int64
		for _, b := range batches {
			mustUpsert(t, m, "t", b)
			fi, _ := os.Stat(path)
			sizes = append(sizes, fi.Size())
		}
		m.Close()
		return dir, path, sizes
	}
	ids := func(m *Manager) []string {
		items, err := m.Get("t", []string{"a", "b", "c", "d"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, fmt.Sprintf("%s%v", it.ID, it.Vector))
		}
		return out
	}
	all := []string{"a[3 3]", "b[0 1]", "c[1 1]", "d[2 1]"}
	firstTwo := []string{"a[1 0]", "b[0 1]", "c[1 1]"}

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, sizes []int64)
		want   []string
		size   func(sizes []int64) int64
	}{
		{"garbage appended", func(t *testing.T, path string, _ []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("\x10\x00\x00\x00garbage that is not a record"))
			f.Close()
		}, all, func(s []int64) int64 { return s[2] }},
		{"zeros appended", func(t *testing.T, path string, _ []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}, all, func(s []int64) int64 { return s[2] }},
		{"last record cut short", func(t *testing.T, path string, s []int64) {
			os.Truncate(path, s[2]-5)
		}, firstTwo, func(s []int64) int64 { return s[1] }},
		{"last record frame cut", func(t *testing.T, path string, s []int64) {
			os.Truncate(path, s[1]+3)
		}, firstTwo, func(s []int64) int64 { return s[1] }},
		{"byte flipped in the last record", func(t *testing.T, path string, s []int64) {
			flipByte(t, path, s[2]-3)
		}, firstTwo, func(s []int64) int64 { return s[1] }},
		// Damage with good records after it is not a crash (package
		// replay's policy): the record is skipped, the later ones kept.
		{"byte flipped in the middle record", func(t *testing.T, path string, s []int64) {
			flipByte(t, path, s[1]-3)
		}, []string{"a[3 3]", "b[0 1]", "d[2 1]"}, func(s []int64) int64 { return s[2] }},
		// A damaged length hides where the next record starts; the
		// checksums find it again.
		{"length of the middle record past the end", func(t *testing.T, path string, s []int64) {
			flipByte(t, path, s[0]+3)
		}, []string{"a[3 3]", "b[0 1]", "d[2 1]"}, func(s []int64) int64 { return s[2] }},
		{"length of the middle record shortened", func(t *testing.T, path string, s []int64) {
			flipByte(t, path, s[0])
		}, []string{"a[3 3]", "b[0 1]", "d[2 1]"}, func(s []int64) int64 { return s[2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, sizes := setup(t)
			tc.damage(t, path, sizes)
			m := mustOpen(t, dir, Config{})
			if got := ids(m); !slices.Equal(got, tc.want) {
				t.Fatalf("after damage: %v, want %v", got, tc.want)
			}
			if fi, _ := os.Stat(path); fi.Size() != tc.size(sizes) {
				t.Fatalf("log is %d bytes, want it cut to %d", fi.Size(), tc.size(sizes))
			}
			if items, _ := m.Get("u", []string{"a", "b"}); len(items) != 2 {
				t.Fatalf("the other index lost items: %v", items)
			}
			// The cut log takes new records, which survive another restart.
			mustUpsert(t, m, "t", []Item{{ID: "e", Vector: []float32{5, 5}}})
			m.Close()
			m = mustOpen(t, dir, Config{})
			if got := ids(m); !slices.Equal(got, tc.want) {
				t.Fatalf("after reopening: %v, want %v", got, tc.want)
			}
			if items, _ := m.Get("t", []string{"e"}); len(items) != 1 {
				t.Fatal("item written after the cut is lost")
			}
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A current snapshot that is damaged or missing is set aside, and the
// index is read from the previous snapshot and the logs since, losing
// nothing; only when the previous one is damaged too is the index
// unavailable, with an error naming the file.
func TestSnapshot_DamagedIsReadFromThePrevious(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"vector byte flipped", func(t *testing.T, path string) { flipByte(t, path, snapAlign+5) }},
		{"item byte flipped", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			flipByte(t, path, fi.Size()-20)
		}},
		{"header byte flipped", func(t *testing.T, path string) { flipByte(t, path, 30) }},
		{"cut short", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()-20)
		}},
		{"cut to its vectors", func(t *testing.T, path string) { os.Truncate(path, snapAlign+100) }},
		{"emptied", func(t *testing.T, path string) { os.Truncate(path, 0) }},
		{"missing", func(t *testing.T, path string) { os.Remove(path) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			m, err := Open(dir, Config{FlatThreshold: 100})
			if err != nil {
				t.Fatal(err)
			}
			mustCreate(t, m, "bad", 4, Cosine)
			mustCreate(t, m, "good", 4, Cosine)
			items := itemsOf(gaussianMixture(rand.New(rand.NewPCG(1, 1)), 300, 4, 3, 1), nil)
			mustUpsert(t, m, "good", items)
			// Two snapshots, with items written before, between and after.
			for _, part := range [][]Item{items[:100], items[100:200]} {
				mustUpsert(t, m, "bad", part)
				mustWait(t, m, "bad")
				if err := m.Snapshot(ctx, "bad"); err != nil {
					t.Fatal(err)
				}
			}
			mustUpsert(t, m, "bad", items[200:])
			if _, err := m.Delete(ctx, "bad", []string{"i7"}); err != nil {
				t.Fatal(err)
			}
			m.Close()
			path := filepath.Join(dir, "bad", snapshotName)
			tc.damage(t, path)

			m = mustOpen(t, dir, Config{FlatThreshold: 100})
			if bad := m.Unavailable(); len(bad) != 0 {
				t.Fatalf("Unavailable() = %v", bad)
			}
			if info, err := m.Info("bad"); err != nil || info.Count != 299 {
				t.Fatalf("the index read from its previous snapshot: %+v, %v; want 299 items", info, err)
			}
			for _, i := range []int{0, 150, 299} {
				if hits, err := m.Search(ctx, "bad", items[i].Vector, SearchOptions{K: 1}); err != nil || hits[0].ID != items[i].ID {
					t.Fatalf("search for %s: %v %v", items[i].ID, hits, err)
				}
			}
			if _, err := os.Stat(path + ".damaged"); (err == nil) != (tc.name != "missing") {
				t.Errorf("damaged snapshot set aside: %v", err)
			}
			// A good snapshot is written again, and reopening needs no fallback.
			mustUpsert(t, m, "bad", items[7:8])
			if err := m.Snapshot(ctx, "bad"); err != nil {
				t.Fatal(err)
			}
			m.Close()
			m = mustOpen(t, dir, Config{FlatThreshold: 100})
			if info, err := m.Info("bad"); err != nil || info.Count != 300 {
				t.Fatalf("reopened: %+v, %v", info, err)
			}
			m.Close()

			// With the previous snapshot damaged too, the index is unavailable.
			tc.damage(t, path)
			flipByte(t, filepath.Join(dir, "bad", prevSnapName), snapAlign+5)
			m = mustOpen(t, dir, Config{})
			bad := m.Unavailable()
			if why, ok := bad["bad"]; !ok || !strings.Contains(why, filepath.Join(dir, "bad", prevSnapName)) {
				t.Fatalf("Unavailable() = %v; want bad, naming %s", bad, prevSnapName)
			}
			if list := m.List(); len(list) != 1 || list[0].Name != "good" || list[0].Count != 300 {
				t.Fatalf("List() = %+v", list)
			}
			_, err = m.Search(ctx, "bad", items[0].Vector, SearchOptions{})
			if err == nil || !strings.Contains(err.Error(), "unavailable") {
				t.Fatalf("search of the damaged index: %v", err)
			}
			if _, err := m.Create(ctx, "bad", Spec{Dim: 4, Metric: Cosine}); !errors.Is(err, errs.Conflict) {
				t.Fatalf("Create over a damaged index: %v", err)
			}
			if err := m.Drop(ctx, "bad"); err != nil {
				t.Fatal(err)
			}
			if len(m.Unavailable()) != 0 {
				t.Fatal("still unavailable after Drop")
			}
		})
	}
}

// Each snapshot keeps the previous one and the logs from its generation
// on, and removes the older logs.
func TestSnapshot_KeepsThePrevious(t *testing.T) {
	dir := t.TempDir()
	m := mustOpen(t, dir, Config{})
	mustCreate(t, m, "x", 2, L2)
	for i := range 4 {
		mustUpsert(t, m, "x", []Item{{ID: fmt.Sprint(i), Vector: []float32{1, float32(i)}}})
		if err := m.Snapshot(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	entries, _ := os.ReadDir(filepath.Join(dir, "x"))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// Created at generation 1, then snapshots 2 to 5.
	want := []string{prevSnapName, snapshotName, walName(4), walName(5)}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("index folder holds %q, want %q", names, want)
	}
	if g := snapshotGen(t, dir, "x"); g != 5 {
		t.Fatalf("snapshot generation %d, want 5", g)
	}
}

// TestOpen_CleansLeftovers: folders of a create or drop cut short by a
// crash, and temporary files, are removed.
func TestOpen_CleansLeftovers(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, Config{SnapshotBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "x", 2, L2)
	mustUpsert(t, m, "x", []Item{{ID: "a", Vector: []float32{1, 2}}})
	if err := m.Snapshot(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	os.Mkdir(filepath.Join(dir, ".tmp-y-123"), 0o755)
	os.Mkdir(filepath.Join(dir, ".drop-z-456"), 0o755)
	// A snapshot written in full but not renamed into place is left aside.
	temps := []string{filepath.Join(dir, "x", "snapshot-789.tmp"), filepath.Join(dir, "x", ".tmp-snapshot-789"), filepath.Join(dir, "x", nextSnapName)}
	for _, tmp := range temps {
		os.WriteFile(tmp, []byte("partial"), 0o644)
	}

	m = mustOpen(t, dir, Config{})
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "x" {
		t.Fatalf("entries: %v", entries)
	}
	for _, tmp := range temps {
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Fatalf("temporary file %s kept", tmp)
		}
	}
	if items, _ := m.Get("x", []string{"a"}); len(items) != 1 {
		t.Fatal("item lost")
	}
}

// A restart in the middle of a graph build resumes it: the snapshot taken
// while the worker was linking holds the nodes linked so far, and an index
// opens with them, left to link only the rest.
func TestSnapshot_BuildResumes(t *testing.T) {
	const n, dim = 20000, 32
	dir := t.TempDir()
	cfg := Config{FlatThreshold: 100}
	items := itemsOf(gaussianMixture(rand.New(rand.NewPCG(3, 4)), n, dim, 10, 0.5), nil)
	m, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "g", dim, Cosine)
	mustUpsert(t, m, "g", items)
	ix, _ := m.lookup("g")
	linked := func() int {
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		if ix.seg.g == nil {
			return 0
		}
		return ix.seg.g.size()
	}
	for linked() < 1000 { // wait for the worker's steps, not for time
		ix.mu.RLock()
		ch := ix.progress
		ix.mu.RUnlock()
		<-ch
	}
	if err := ix.snapshotNow(); err != nil {
		t.Fatal(err)
	}
	m.Close()

	_, seg, graphErr := readSnapshotOf(t, dir, "g")
	if graphErr != nil {
		t.Fatal(graphErr)
	}
	saved := 0
	if seg.g != nil {
		saved = seg.g.size()
	}
	if saved < 1000 || saved >= n {
		t.Fatalf("the snapshot taken mid-build holds a graph of %d of %d nodes, want the part linked by then", saved, n)
	}

	m = mustOpen(t, dir, cfg)
	ix, _ = m.lookup("g")
	if got := linked(); got < saved {
		t.Errorf("reopened with %d nodes linked, fewer than the %d saved: the build started over", got, saved)
	}
	mustWait(t, m, "g")
	if got := linked(); got != n {
		t.Errorf("after resuming, %d of %d nodes are linked", got, n)
	}
}

// An index written before snapshots had version 2 (testdata/v1: a
// snapshot with a graph and tombstones, and a log after it) opens with
// every item, and its next snapshot is written as the present version.
func TestSnapshot_ReadsVersion1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/v1")); err != nil {
		t.Fatal(err)
	}
	check := func(m *Manager) {
		t.Helper()
		info, err := m.Info("old")
		if err != nil || info.Count != 57 || info.Dim != 3 || info.Model != "v1-model" {
			t.Fatalf("Info = %+v, %v; want 57 items of 3 dimensions", info, err)
		}
		for _, id := range []string{"item-3", "item-4", "item-9"} {
			if got, _ := m.Get("old", []string{id}); len(got) != 0 {
				t.Fatalf("deleted %s reads back", id)
			}
		}
		got, err := m.Get("old", []string{"item-8", "item-55"})
		if err != nil || len(got) != 2 || got[0].Text != "text of item 8" || got[1].Metadata["n"] != json.Number("55") {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		hits, err := m.Search(ctx, "old", []float32{1.5, 0, 0.1}, SearchOptions{K: 3, Filter: Filter{"tag": "b"}})
		if err != nil || len(hits) != 3 {
			t.Fatalf("filtered search: %+v, %v", hits, err)
		}
		for _, h := range hits {
			if h.Metadata["tag"] != "b" {
				t.Fatalf("filtered search returned %+v", h)
			}
		}
	}
	m := mustOpen(t, dir, Config{})
	check(m)
	if err := m.Snapshot(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	b, err := os.ReadFile(filepath.Join(dir, "old", snapshotName))
	if err != nil || binary.LittleEndian.Uint32(b[8:]) != snapVersion {
		t.Fatalf("snapshot written after reading version 1: %v, version %d", err, binary.LittleEndian.Uint32(b[8:]))
	}
	check(mustOpen(t, dir, Config{}))
}

// An item's filterable values read back from a snapshot as stored, the
// same as parsing its metadata gives.
func TestSnapshot_KeepsFilterableValues(t *testing.T) {
	dir := t.TempDir()
	m := mustOpen(t, dir, Config{})
	mustCreate(t, m, "f", 2, L2)
	meta := map[string]any{"lang": "en", "n": 3, "big": 1e300, "neg": -0.5, "ok": true, "no": false, "none": nil,
		"tags": []any{"a", 2, true, nil, map[string]any{"skip": 1}}, "empty": []any{}, "deep": map[string]any{"x": 1}}
	mustUpsert(t, m, "f", []Item{{ID: "a", Vector: []float32{1, 2}, Metadata: meta}, {ID: "b", Vector: []float32{2, 1}, Metadata: map[string]any{"deep": map[string]any{}}}, {ID: "c", Vector: []float32{0, 1}, Text: "only text"}})
	if err := m.Snapshot(context.Background(), "f"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	_, s, _ := readSnapshotOf(t, dir, "f")
	for i, ex := range s.extras {
		var want []attr
		if m := ex.metadata(); m != nil {
			want = attrsOf(jsonRoundTrip(t, m))
		}
		if !reflect.DeepEqual(ex.attrs, want) {
			t.Errorf("slot %d: filterable values %#v, want %#v", i, ex.attrs, want)
		}
	}
}

// jsonRoundTrip decodes m's JSON as setMeta does, numbers as float64.
func jsonRoundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A snapshot stores the words of its texts, and an index read back from it
// and its logs ranks lexical searches exactly as before, and as an index
// freshly given the same live items does (the statistics count live texts
// only); words damaged behind a good checksum are analysed again.
func TestSnapshot_StoresWords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon")
	text := func() string {
		var w []string
		for range 3 + rng.IntN(8) {
			w = append(w, vocab[rng.IntN(len(vocab))])
		}
		return strings.Join(w, " ")
	}
	live := map[string]Item{}
	put := func(m *Manager, items ...Item) {
		mustUpsert(t, m, "w", items)
		for _, it := range items {
			live[it.ID] = it
		}
	}
	del := func(m *Manager, ids ...string) {
		if _, err := m.Delete(ctx, "w", ids); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			delete(live, id)
		}
	}
	item := func(i int) Item {
		return Item{ID: fmt.Sprint("d", i), Vector: []float32{rng.Float32(), rng.Float32()}, Text: text()}
	}
	m := mustOpen(t, dir, Config{})
	mustCreate(t, m, "w", 2, L2)
	for i := range 300 {
		put(m, item(i))
	}
	del(m, "d3", "d30", "d33", "d100")
	put(m, item(5), item(6)) // replaced: new texts
	if err := m.Snapshot(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	for i := 300; i < 340; i++ {
		put(m, item(i)) // in the log only
	}
	del(m, "d7", "d310")
	queries := []string{"alpha", "beta gamma", "omicron pi rho", "tau tau upsilon", "zeta"}
	results := func(m *Manager, name string) [][]Hit {
		t.Helper()
		var out [][]Hit
		for _, q := range queries {
			hits, err := m.Search(ctx, name, nil, SearchOptions{K: 50, Mode: Lexical, QueryText: q})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, hits)
		}
		return out
	}
	same := func(what string, got, want [][]Hit) {
		t.Helper()
		for qi := range want {
			if len(got[qi]) != len(want[qi]) {
				t.Fatalf("%s, %q: %d hits, want %d", what, queries[qi], len(got[qi]), len(want[qi]))
			}
			for i := range want[qi] {
				g, w := got[qi][i], want[qi][i]
				if math.Abs(float64(g.Score-w.Score)) > 1e-5 || g.Score != w.Score && g.ID != w.ID {
					t.Fatalf("%s, %q: hit %d is %s %v, want %s %v", what, queries[qi], i, g.ID, g.Score, w.ID, w.Score)
				}
			}
		}
	}
	before := results(m, "w")
	mustCreate(t, m, "fresh", 2, L2)
	var items []Item
	for _, it := range live {
		items = append(items, it)
	}
	mustUpsert(t, m, "fresh", items)
	same("a fresh index of the live items", results(m, "fresh"), before)
	m.Close()

	// The words read back are the snapshot's own, not analysed again.
	if _, s, _ := readSnapshotOf(t, dir, "w"); s.lex.stored == nil || len(s.lex.stored.len) != s.n() || len(s.lex.stored.terms) != len(vocab) {
		t.Fatalf("the snapshot's words: read %+v", s.lex.stored)
	}

	m = mustOpen(t, dir, Config{})
	same("reopened", results(m, "w"), before)
	m.Close()

	// Damage a word's term number behind a good checksum: the texts are
	// analysed again, with the same ranking.
	path := filepath.Join(dir, "w", snapshotName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	itemsEnd := itemsAt(b) + int(binary.LittleEndian.Uint64(b[len(b)-20:]))
	lexEnd := len(b) - 20
	b[lexEnd-1] = 0x7f // the last posting's count...
	b[lexEnd-2] = 0x7f // ...and its term number: past the terms
	if itemsEnd >= lexEnd-2 {
		t.Fatal("no words in the snapshot")
	}
	if err := os.WriteFile(path, fixChecksums(b), 0o600); err != nil {
		t.Fatal(err)
	}
	m = mustOpen(t, dir, Config{})
	same("reopened with damaged words", results(m, "w"), before)
}

// Closing an index whose worker linked many nodes since the last snapshot
// saves them, so that the next open need not link them again.
func TestClose_SavesTheGraph(t *testing.T) {
	const n, more, dim = 6000, 1500, 8
	dir := t.TempDir()
	cfg := Config{FlatThreshold: 100}
	items := itemsOf(gaussianMixture(rand.New(rand.NewPCG(6, 6)), n+more, dim, 10, 0.5), nil)
	m := mustOpen(t, dir, cfg)
	mustCreate(t, m, "g", dim, Cosine)
	mustUpsert(t, m, "g", items[:n])
	mustWait(t, m, "g")
	if err := m.Snapshot(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
	// Fewer than a quarter of the nodes, which the worker would save by
	// itself, but more than 1/32.
	mustUpsert(t, m, "g", items[n:])
	mustWait(t, m, "g")
	m.Close()

	m = mustOpen(t, dir, cfg)
	ix, _ := m.lookup("g")
	ix.mu.RLock()
	linked := ix.seg.g.size()
	ix.mu.RUnlock()
	if linked != n+more {
		t.Fatalf("opened with %d of %d nodes linked: the nodes linked after the last snapshot were not saved at close", linked, n+more)
	}
}

// A snapshot's slots may repeat an id only in tombstoned slots: a second
// live slot of an id is refused, naming the first.
func TestLoadSlot_DuplicateLiveIDs(t *testing.T) {
	s := newSegment(2, false, QuantNone, 4)
	for _, c := range []struct {
		id    string
		dead  bool
		ok    bool
		other int
	}{
		{"a", true, true, 0},
		{"a", false, true, 0},
		{"b", false, true, 0},
		{"a", true, true, 0},
		{"b", false, false, 2},
		{"a", false, false, 1},
	} {
		if other, ok := s.loadSlot(c.id, nil, c.dead); ok != c.ok || !ok && other != c.other {
			t.Fatalf("loadSlot(%q, dead %v) = %d, %v; want %d, %v", c.id, c.dead, other, ok, c.other, c.ok)
		}
	}
}
