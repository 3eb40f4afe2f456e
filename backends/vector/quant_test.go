package vector

import (
	"cmp"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// recallAt searches index name for each query and returns the mean
// fraction of the exact top k (truth) that the k hits hold, checking on
// the way that every hit's distance is its exact one.
func recallAt(t *testing.T, m *Manager, name string, queries [][]float32, truth [][]string, k, ef int, exact func(q []float32, id string) float32) float64 {
	t.Helper()
	found := 0
	for qi, q := range queries {
		hits, err := m.Search(context.Background(), name, q, SearchOptions{K: k, Ef: ef})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hits {
			if d := exact(q, h.ID); math.Abs(float64(h.Distance-d)) > 1e-4 {
				t.Fatalf("%s: hit %s at distance %v, exactly %v", name, h.ID, h.Distance, d)
			}
			if i > 0 && h.Distance < hits[i-1].Distance {
				t.Fatalf("%s: hits out of order: %+v", name, hits)
			}
			if slices.Contains(truth[qi], h.ID) {
				found++
			}
		}
	}
	return float64(found) / float64(len(queries)*k)
}

// An int8 index finds what a float index finds, within 0.01 of recall at
// the same ef, with exact distances (its candidates are re-ranked from the
// float vectors), before and after reopening; it gives back the float
// vectors, and filters as a float index does. (TestVectors_MappedFromTheSnapshot
// checks its memory.)
func TestQuantized_Int8(t *testing.T) {
	const n, dim, k = 4000, 96, 10
	ctx := context.Background()
	for _, metric := range []Metric{Cosine, L2} {
		t.Run(string(metric), func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(5, 5))
			vecs := gaussianMixture(rng, n+100, dim, 30, 1)
			items := itemsOf(vecs[:n], func(i int) map[string]any { return map[string]any{"odd": i%2 == 1} })
			queries := vecs[n:]
			cfg := Config{FlatThreshold: 1000}
			m := mustOpen(t, dir, cfg)
			mustCreate(t, m, "float", dim, metric)
			if _, err := m.Create(ctx, "q", Spec{Dim: dim, Metric: metric, Quantization: QuantInt8}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"float", "q"} {
				for lo := 0; lo < n; lo += MaxBatch {
					mustUpsert(t, m, name, items[lo:lo+MaxBatch])
				}
				mustWait(t, m, name)
			}
			stored := map[string][]float32{}
			for _, it := range items {
				v := slices.Clone(it.Vector)
				if metric == Cosine {
					normalize(v)
				}
				stored[it.ID] = v
			}
			exact := func(q []float32, id string) float32 {
				if metric == L2 {
					return float32(math.Sqrt(float64(l2sq(q, stored[id]))))
				}
				nq := slices.Clone(q)
				normalize(nq)
				return 1 - dot(nq, stored[id])
			}
			truth := make([][]string, len(queries))
			for qi, q := range queries {
				ds := make([]float32, n)
				order := make([]int, n)
				for i, it := range items {
					ds[i], order[i] = exact(q, it.ID), i
				}
				slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ds[a], ds[b]) })
				for _, i := range order[:k] {
					truth[qi] = append(truth[qi], items[i].ID)
				}
			}
			check := func(what string) {
				t.Helper()
				for _, ef := range []int{16, 64} {
					rf := recallAt(t, m, "float", queries, truth, k, ef, exact)
					rq := recallAt(t, m, "q", queries, truth, k, ef, exact)
					t.Logf("%s, ef %d: recall@%d float %.3f, int8 %.3f", what, ef, k, rf, rq)
					if rq < rf-0.01 {
						t.Errorf("%s, ef %d: int8 recall %.3f, float %.3f", what, ef, rq, rf)
					}
				}
				got, err := m.Get("q", []string{"i7"})
				if err != nil || len(got) != 1 || !slices.Equal(got[0].Vector, stored["i7"]) {
					t.Fatalf("%s: Get of an int8 index: %v %v", what, got, err)
				}
				hits, err := m.Search(ctx, "q", queries[0], SearchOptions{K: 20, Filter: Filter{"odd": true}})
				if err != nil || len(hits) != 20 {
					t.Fatalf("%s: filtered search: %d hits, %v", what, len(hits), err)
				}
				for _, h := range hits {
					if h.Metadata["odd"] != true {
						t.Fatalf("%s: filtered search returned %+v", what, h)
					}
				}
				info, _ := m.Info("q")
				if info.Quantization != QuantInt8 {
					t.Fatalf("%s: Info says quantization %q", what, info.Quantization)
				}
			}
			check("built")
			if err := m.Snapshot(ctx, "q"); err != nil {
				t.Fatal(err)
			}
			m.Close()
			m = mustOpen(t, dir, cfg)
			check("reopened")
		})
	}
}

func TestQuantized_UnknownIsRefused(t *testing.T) {
	m := mustOpen(t, t.TempDir(), Config{})
	_, err := m.Create(context.Background(), "x", Spec{Dim: 3, Quantization: "int4"})
	if err == nil || !strings.Contains(err.Error(), `quantization "int4" is unknown`) {
		t.Fatalf("Create with int4: %v", err)
	}
	// "none", which the error offers, is float32.
	if info, err := m.Create(context.Background(), "y", Spec{Dim: 3, Quantization: "none"}); err != nil || info.Quantization != QuantNone {
		t.Fatalf("Create with none: %+v, %v", info, err)
	}
}

// encode rounds each component to the nearest of 255 levels of the
// vector's scale, the largest magnitude to ±127, and a zero vector to
// zeros with a zero scale.
func TestEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, dim := range []int{1, 3, 4, 97, 384} {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		v[rng.IntN(dim)] = -3.5 // the largest magnitude
		rec := make([]byte, codeWidth(dim))
		encode(rec, v)
		c, s := codesOf(rec, dim)
		if want := float32(3.5 / 127); math.Abs(float64(s-want)) > 1e-7 {
			t.Fatalf("dim %d: scale %v, want %v", dim, s, want)
		}
		if slices.Min(c) != -127 {
			t.Fatalf("dim %d: the largest magnitude became %d, want -127", dim, slices.Min(c))
		}
		back := decode(make([]float32, dim), rec)
		for i := range v {
			if d := math.Abs(float64(back[i] - v[i])); d > float64(s)/2+1e-6 {
				t.Fatalf("dim %d: component %d is %v, decodes to %v: off by %v, more than half a step %v", dim, i, v[i], back[i], d, s/2)
			}
		}
		clear(v)
		encode(rec, v)
		if c, s := codesOf(rec, dim); s != 0 || slices.Max(c) != 0 || slices.Min(c) != 0 {
			t.Fatalf("dim %d: a zero vector encodes to %v scale %v", dim, c, s)
		}
	}
}

// sameCodes fails t unless every slot of s has the codes its vector
// encodes to.
func sameCodes(t *testing.T, s *segment) {
	t.Helper()
	want := make([]byte, codeWidth(s.dim))
	for i := range s.n() {
		encode(want, s.vecs.at(uint32(i)))
		if got := s.codes.record(uint32(i)); string(got) != string(want) {
			t.Fatalf("slot %d: codes %v, want %v", i, got, want)
		}
	}
}

// A snapshot of an int8 index holds its codes, which an open maps as they
// are (full chunks) rather than encoding every vector again, and which a
// snapshot maps over the file it wrote.
func TestQuantized_CodesInSnapshot(t *testing.T) {
	const dim, n = 1024, 4096 + 100 // a full chunk of codes, and some
	ctx := context.Background()
	dir := t.TempDir()
	m := mustOpen(t, dir, Config{FlatThreshold: 1 << 20})
	if _, err := m.Create(ctx, "q", Spec{Dim: dim, Metric: Dot, Quantization: QuantInt8}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	mustUpsert(t, m, "q", itemsOf(gaussianMixture(rng, n, dim, 8, 0.5), nil))
	q := gaussianMixture(rng, 1, dim, 1, 1)[0]
	before, err := m.Search(ctx, "q", q, SearchOptions{K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Snapshot(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	ix, _ := m.lookup("q")
	ix.mu.RLock()
	remapped := ix.seg.codes.mapped[0]
	ix.mu.RUnlock()
	if !remapped {
		t.Error("after a snapshot, the first chunk of codes is not mapped over the file")
	}
	m.Close()

	h, s, _ := readSnapshotOf(t, dir, "q")
	if h.quant != QuantInt8 || s.codes.n != n || !s.codes.mapped[0] || s.codes.mapped[1] {
		t.Fatalf("read back: %s, %d codes, chunks mapped %v; want int8, %d, the first chunk mapped", h.quant, s.codes.n, s.codes.mapped, n)
	}
	sameCodes(t, s)
	m = mustOpen(t, dir, Config{FlatThreshold: 1 << 20})
	after, err := m.Search(ctx, "q", q, SearchOptions{K: 10})
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("search after the reopen: %v, %v; want %v", after, err, before)
	}
}

// An int8 index written before snapshots held codes (testdata/v2: a graph,
// tombstones, a log after the snapshot) opens with every item and codes
// encoded from its vectors, and its next snapshot is of version 3, with
// its codes.
func TestQuantized_ReadsVersion2(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/v2")); err != nil {
		t.Fatal(err)
	}
	check := func(m *Manager) {
		t.Helper()
		info, err := m.Info("q")
		if err != nil || info.Count != 59 || info.Quantization != QuantInt8 || info.Model != "v2-model" {
			t.Fatalf("Info = %+v, %v; want 59 int8 items", info, err)
		}
		for _, id := range []string{"item-3", "item-4", "item-9"} {
			if got, _ := m.Get("q", []string{id}); len(got) != 0 {
				t.Fatalf("deleted %s reads back", id)
			}
		}
		got, err := m.Get("q", []string{"item-8", "item-61"})
		if err != nil || len(got) != 2 || got[0].Text != "text of item 8" || got[1].Metadata["tag"] != "b" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		hits, err := m.Search(ctx, "q", got[0].Vector, SearchOptions{K: 3, Filter: Filter{"tag": "a"}})
		if err != nil || len(hits) != 3 || hits[0].ID != "item-8" || hits[0].Distance > 1e-5 {
			t.Fatalf("filtered search for item-8's vector: %+v, %v", hits, err)
		}
	}
	m := mustOpen(t, dir, Config{})
	check(m)
	if err := m.Snapshot(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	h, s, _ := readSnapshotOf(t, dir, "q")
	if b, _ := os.ReadFile(filepath.Join(dir, "q", snapshotName)); binary.LittleEndian.Uint32(b[8:]) != snapVersion || h.quant != QuantInt8 {
		t.Fatalf("the snapshot written after reading version 2 is of version %d", binary.LittleEndian.Uint32(b[8:]))
	}
	sameCodes(t, s)
	check(mustOpen(t, dir, Config{}))
}
