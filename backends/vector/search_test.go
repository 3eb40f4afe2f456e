package vector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHNSW_Recall measures the graph alone (every item linked, nothing
// scanned) on a clustered set: recall@10 at the default ef must reach 0.95.
func TestHNSW_Recall(t *testing.T) {
	const n, dim, queries = 5000, 64, 200
	rng := rand.New(rand.NewPCG(42, 1))
	vecs := gaussianMixture(rng, n+queries, dim, 40, 1.5)
	items := itemsOf(vecs[:n], nil)
	m := mustOpen(t, t.TempDir(), Config{FlatThreshold: 1})
	mustCreate(t, m, "r", dim, Cosine)
	mustUpsert(t, m, "r", items)
	mustWait(t, m, "r")
	if info, _ := m.Info("r"); info.Engine != EngineHNSW || info.Count != n {
		t.Fatalf("info %+v; want hnsw with %d items", info, n)
	}
	ix, _ := m.lookup("r")
	if ix.seg.g.size() != n {
		t.Fatalf("graph links %d of %d items", ix.seg.g.size(), n)
	}
	found := 0
	for _, q := range vecs[n:] {
		want, _ := bruteForce(Cosine, items, q, 10, nil)
		hits, err := m.Search(context.Background(), "r", q, SearchOptions{K: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if slices.Contains(want, h.ID) {
				found++
			}
		}
	}
	recall := float64(found) / (queries * 10)
	t.Logf("recall@10 at ef=64: %.4f", recall)
	if recall < 0.95 {
		t.Fatalf("recall@10 = %.4f, want >= 0.95", recall)
	}
}

// engines runs f against an index of each engine: flat, and a graph that
// links every item.
func engines(t *testing.T, f func(t *testing.T, m *Manager, hnsw bool)) {
	for _, hnsw := range []bool{false, true} {
		t.Run(map[bool]string{false: "flat", true: "hnsw"}[hnsw], func(t *testing.T) {
			cfg := Config{}
			if hnsw {
				cfg.FlatThreshold = 1
			}
			f(t, mustOpen(t, t.TempDir(), cfg), hnsw)
		})
	}
}

func TestSearch_MetricsMatchBruteForce(t *testing.T) {
	engines(t, func(t *testing.T, m *Manager, hnsw bool) {
		rng := rand.New(rand.NewPCG(7, 7))
		vecs := gaussianMixture(rng, 420, 12, 6, 0.8)
		items := itemsOf(vecs[:400], nil)
		for _, metric := range []Metric{Cosine, L2, Dot} {
			name := "m_" + string(metric)
			mustCreate(t, m, name, 12, metric)
			mustUpsert(t, m, name, items)
			mustWait(t, m, name)
			if info, _ := m.Info(name); (info.Engine == EngineHNSW) != hnsw {
				t.Fatalf("engine %s", info.Engine)
			}
			for qi, q := range vecs[400:] {
				ids, scores := bruteForce(metric, items, q, 10, nil)
				hits, err := m.Search(context.Background(), name, q, SearchOptions{K: 10, Ef: 400})
				if err != nil {
					t.Fatal(err)
				}
				sameRanking(t, fmt.Sprintf("%s query %d", metric, qi), hits, ids, scores)
			}
		}
	})
}

// filterItems are 3000 items with metadata of every kind filters test.
func filterItems(rng *rand.Rand) ([]Item, [][]float32) {
	vecs := gaussianMixture(rng, 3030, 16, 8, 0.7)
	colors := []string{"red", "green", "blue", "black", "white"}
	items := itemsOf(vecs[:3000], func(i int) map[string]any {
		md := map[string]any{
			"color": colors[i%len(colors)],
			"n":     i % 100,
			"score": float64(i%37) / 4,
			"flag":  i%3 == 0,
			"tags":  []any{fmt.Sprintf("t%d", i%7), fmt.Sprintf("t%d", i%11)},
			"obj":   map[string]any{"nested": i},
		}
		if i%1000 == 17 {
			md["rare"] = true // three items
		}
		if i%10 == 0 {
			md["opt"] = nil
		}
		return md
	})
	return items, vecs[3000:]
}

func TestSearch_FiltersMatchBruteForce(t *testing.T) {
	num := func(v any) (float64, bool) {
		switch x := v.(type) {
		case int:
			return float64(x), true
		case float64:
			return x, true
		}
		return 0, false
	}
	md := func(key string) func(Item) (any, bool) {
		return func(it Item) (any, bool) { v, ok := it.Metadata[key]; return v, ok }
	}
	cases := []struct {
		name   string
		filter Filter
		keep   func(Item) bool
	}{
		{"exact", Filter{"color": "red"}, func(it Item) bool { return it.Metadata["color"] == "red" }},
		{"any of", Filter{"color": []any{"red", "blue"}}, func(it Item) bool { c := it.Metadata["color"]; return c == "red" || c == "blue" }},
		{"any of, Go slice", Filter{"color": []string{"green"}}, func(it Item) bool { return it.Metadata["color"] == "green" }},
		{"number", Filter{"n": 42}, func(it Item) bool { return it.Metadata["n"] == 42 }},
		{"range", Filter{"n": map[string]any{"gte": 10, "lt": 20}}, func(it Item) bool { n, _ := num(it.Metadata["n"]); return n >= 10 && n < 20 }},
		{"open range", Filter{"score": map[string]any{"gt": 8.5}}, func(it Item) bool { n, _ := num(it.Metadata["score"]); return n > 8.5 }},
		{"closed range", Filter{"score": map[string]any{"gte": 1.25, "lte": 2}}, func(it Item) bool { n, _ := num(it.Metadata["score"]); return n >= 1.25 && n <= 2 }},
		{"bool", Filter{"flag": true}, func(it Item) bool { return it.Metadata["flag"] == true }},
		{"list contains", Filter{"tags": "t3"}, func(it Item) bool { return slices.Contains(it.Metadata["tags"].([]any), any("t3")) }},
		{"list any of", Filter{"tags": []any{"t1", "t10"}}, func(it Item) bool {
			tags := it.Metadata["tags"].([]any)
			return slices.Contains(tags, any("t1")) || slices.Contains(tags, any("t10"))
		}},
		{"null", Filter{"opt": nil}, func(it Item) bool { _, ok := md("opt")(it); return ok }},
		{"combination", Filter{"color": []any{"red", "green"}, "n": map[string]any{"lte": 50}, "flag": false}, func(it Item) bool {
			c := it.Metadata["color"]
			n, _ := num(it.Metadata["n"])
			return (c == "red" || c == "green") && n <= 50 && it.Metadata["flag"] == false
		}},
		{"selective: fewer than k", Filter{"rare": true}, func(it Item) bool { return it.Metadata["rare"] == true }},
		{"selective: one", Filter{"n": 7, "color": "green", "flag": false}, func(it Item) bool {
			return it.Metadata["n"] == 7 && it.Metadata["color"] == "green" && it.Metadata["flag"] == false
		}},
		{"no match", Filter{"color": "purple"}, func(Item) bool { return false }},
		{"missing key", Filter{"nope": 1}, func(Item) bool { return false }},
		{"type mismatch", Filter{"n": "42"}, func(Item) bool { return false }},
		{"nested objects do not match", Filter{"obj": 1}, func(Item) bool { return false }},
	}
	engines(t, func(t *testing.T, m *Manager, hnsw bool) {
		rng := rand.New(rand.NewPCG(3, 3))
		items, queries := filterItems(rng)
		mustCreate(t, m, "f", 16, Cosine)
		mustUpsert(t, m, "f", items)
		// Tombstones must not show up either: delete and replace some.
		ctx := context.Background()
		var del []string
		for i := 0; i < len(items); i += 13 {
			del = append(del, items[i].ID)
		}
		if _, err := m.Delete(ctx, "f", del); err != nil {
			t.Fatal(err)
		}
		live := slices.DeleteFunc(slices.Clone(items), func(it Item) bool { return slices.Contains(del, it.ID) })
		mustWait(t, m, "f")
		for _, tc := range cases {
			for qi, q := range queries {
				ids, scores := bruteForce(Cosine, live, q, 10, tc.keep)
				hits, err := m.Search(ctx, "f", q, SearchOptions{K: 10, Ef: 200, Filter: tc.filter})
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				sameRanking(t, fmt.Sprintf("%s, query %d", tc.name, qi), hits, ids, scores)
				for _, h := range hits {
					if h.Metadata == nil {
						t.Fatalf("%s: hit without metadata", tc.name)
					}
				}
			}
		}
	})
}

// TestSearch_FewerItemsThanK: k larger than the index returns every live
// item, on both engines, with tombstones left out.
func TestSearch_FewerItemsThanK(t *testing.T) {
	engines(t, func(t *testing.T, m *Manager, hnsw bool) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(5, 5))
		items := itemsOf(gaussianMixture(rng, 30, 8, 2, 1), nil)
		mustCreate(t, m, "s", 8, L2)
		mustUpsert(t, m, "s", items)
		m.Delete(ctx, "s", []string{"i0", "i1"})
		mustWait(t, m, "s")
		hits, err := m.Search(ctx, "s", items[5].Vector, SearchOptions{K: 100})
		if err != nil || len(hits) != 28 {
			t.Fatalf("got %d hits, %v; want 28", len(hits), err)
		}
		if hits[0].ID != "i5" || hits[0].Distance != 0 {
			t.Fatalf("nearest is %+v, want i5 at 0", hits[0])
		}
	})
}
