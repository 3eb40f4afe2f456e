package vector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"lakehouse/internal/disk"
)

// mustOpen opens a Manager on dir and closes it when the test ends.
func mustOpen(t testing.TB, dir string, cfg Config) *Manager {
	t.Helper()
	m, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustCreate(t testing.TB, m *Manager, name string, dim int, metric Metric) {
	t.Helper()
	if _, err := m.Create(context.Background(), name, Spec{Dim: dim, Metric: metric, Model: "test-model"}); err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
}

func mustUpsert(t testing.TB, m *Manager, name string, items []Item) {
	t.Helper()
	for len(items) > 0 {
		n := min(len(items), MaxBatch)
		if _, err := m.Upsert(context.Background(), name, items[:n]); err != nil {
			t.Fatalf("Upsert: %v", err)
		}
		items = items[n:]
	}
}

func mustWait(t testing.TB, m *Manager, name string) {
	t.Helper()
	if err := m.WaitIndexed(context.Background(), name); err != nil {
		t.Fatalf("WaitIndexed: %v", err)
	}
}

// waitSnapshot returns once any background snapshot of index name already
// started is written. A write whose log is full takes snapMu for one before
// it returns, but Close skips a snapshot that has not begun yet, so a test
// that expects one waits here before closing.
func waitSnapshot(t testing.TB, m *Manager, name string) {
	t.Helper()
	ix, err := m.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ix.snapMu.Lock()
	ix.snapMu.Unlock()
}

// gaussianMixture returns n vectors of dim dimensions around clusters
// random centres, with the given spread around each centre.
func gaussianMixture(rng *rand.Rand, n, dim, clusters int, spread float64) [][]float32 {
	centres := make([][]float64, clusters)
	for i := range centres {
		centres[i] = make([]float64, dim)
		for j := range centres[i] {
			centres[i][j] = rng.NormFloat64()
		}
	}
	out := make([][]float32, n)
	for i := range out {
		c := centres[rng.IntN(clusters)]
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(c[j] + spread*rng.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// itemsOf makes items "i0", "i1", ... of vecs, with metadata from meta
// (which may be nil).
func itemsOf(vecs [][]float32, meta func(i int) map[string]any) []Item {
	items := make([]Item, len(vecs))
	for i, v := range vecs {
		items[i] = Item{ID: fmt.Sprintf("i%d", i), Vector: v}
		if meta != nil {
			items[i].Metadata = meta(i)
		}
	}
	return items
}

// bruteScore is the reference score of v for q under metric: higher is
// better.
func bruteScore(metric Metric, q, v []float32) float64 {
	var d, qq, vv, l2 float64
	for i := range q {
		d += float64(q[i]) * float64(v[i])
		qq += float64(q[i]) * float64(q[i])
		vv += float64(v[i]) * float64(v[i])
		x := float64(q[i]) - float64(v[i])
		l2 += x * x
	}
	switch metric {
	case Cosine:
		return d / math.Sqrt(qq*vv)
	case Dot:
		return d
	default:
		return -math.Sqrt(l2)
	}
}

// bruteForce returns the ids of the k best items that keep says to keep,
// best first, with their scores.
func bruteForce(metric Metric, items []Item, q []float32, k int, keep func(Item) bool) ([]string, []float64) {
	type scored struct {
		id string
		s  float64
	}
	var all []scored
	for _, it := range items {
		if keep == nil || keep(it) {
			all = append(all, scored{it.ID, bruteScore(metric, q, it.Vector)})
		}
	}
	slices.SortStableFunc(all, func(a, b scored) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return 0
	})
	all = all[:min(k, len(all))]
	ids := make([]string, len(all))
	scores := make([]float64, len(all))
	for i, s := range all {
		ids[i], scores[i] = s.id, s.s
	}
	return ids, scores
}

func hitIDs(hits []Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

// sameRanking compares a search result with brute force, allowing items
// whose scores tie (within float32 rounding) to swap places.
func sameRanking(t *testing.T, what string, got []Hit, wantIDs []string, wantScores []float64) {
	t.Helper()
	if len(got) != len(wantIDs) {
		t.Fatalf("%s: got %d hits %v, want %d %v", what, len(got), hitIDs(got), len(wantIDs), wantIDs)
	}
	for i, h := range got {
		if h.ID == wantIDs[i] {
			continue
		}
		if math.Abs(float64(h.Score)-wantScores[i]) > 1e-4*(1+math.Abs(wantScores[i])) {
			t.Fatalf("%s: hit %d is %s (score %v), want %s (score %v)\n got %v\nwant %v", what, i, h.ID, h.Score, wantIDs[i], wantScores[i], hitIDs(got), wantIDs)
		}
	}
}

// readSnapshotOf reads the current snapshot of index name in the vectors
// folder dir, failing the test if it cannot; graphErr is readSnapshot's.
func readSnapshotOf(t *testing.T, dir, name string) (h snapHeader, s *segment, graphErr error) {
	t.Helper()
	d, err := disk.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h, s, graphErr, err = readSnapshot(d, snapshotName, isL2)
	if err != nil {
		t.Fatal(err)
	}
	return h, s, graphErr
}
