package vector

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse/internal/crashtest"
)

// crashConfig makes the writer take snapshots and link a graph all the
// time, so that the kill can land in the middle of either.
var crashConfig = Config{FlatThreshold: 200, SnapshotBytes: 256 << 10}

const crashDim = 16

// crashVector is the vector of item id: any torn or mixed-up write shows.
func crashVector(id string) []float32 {
	v := make([]float32, crashDim)
	h := uint32(2166136261)
	for i := range len(id) {
		h = (h ^ uint32(id[i])) * 16777619
	}
	for i := range v {
		h = h*1664525 + 1013904223
		v[i] = float32(h>>8)/float32(1<<24) - 0.5
	}
	return v
}

// crashWord is the one word of item id's text that no other text has.
func crashWord(id string) string { return strings.ReplaceAll(id, "-", "x") }

// TestCrash kills a process that is writing (SIGKILL, no chance to clean
// up) and checks that every write it acknowledged survives, its text
// searchable by its words.
func TestCrash(t *testing.T) {
	if crashtest.Writer(crashWriter) {
		return
	}
	dir := t.TempDir()
	ids := crashtest.Kill(t, dir, time.Second)
	m := mustOpen(t, dir, crashConfig)
	if bad := m.Unavailable(); len(bad) > 0 {
		t.Fatalf("unavailable after the crash: %v", bad)
	}
	for _, name := range crashIndexes {
		t.Run(name, func(t *testing.T) { checkCrashed(t, m, name, ids) })
	}
}

// crashIndexes are the indexes crashWriter writes every batch to: one of
// float vectors, one quantised.
var crashIndexes = []string{"crash", "crash_int8"}

// checkCrashed checks index name after the crash: it holds every item of
// ids, acknowledged, intact, and is searchable and writable.
func checkCrashed(t *testing.T, m *Manager, name string, ids []string) {
	for start := 0; start < len(ids); start += MaxBatch {
		batch := ids[start:min(start+MaxBatch, len(ids))]
		items, err := m.Get(name, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(batch) {
			have := map[string]bool{}
			for _, it := range items {
				have[it.ID] = true
			}
			for _, id := range batch {
				if !have[id] {
					t.Fatalf("acknowledged item %s is missing after the crash (%d acknowledged)", id, len(ids))
				}
			}
		}
		for _, it := range items {
			if !slices.Equal(it.Vector, crashVector(it.ID)) {
				t.Fatalf("item %s has vector %v, want %v", it.ID, it.Vector, crashVector(it.ID))
			}
		}
	}
	info, _ := m.Info(name)
	t.Logf("%d writes acknowledged before the kill; the index holds %d items", len(ids), info.Count)
	// The index is usable: searches find items, and writes go on.
	q := crashVector(ids[0])
	hits, err := m.Search(context.Background(), name, q, SearchOptions{K: 1})
	if err != nil || len(hits) != 1 || math.Abs(float64(hits[0].Distance)) > 1e-6 {
		t.Fatalf("search after the crash: %+v %v", hits, err)
	}
	mustUpsert(t, m, name, []Item{{ID: "after", Vector: crashVector("after")}})

	// The lexical index agrees: every item is found by the word all texts
	// share, and a sample of acknowledged ones by their own words.
	ctx := context.Background()
	all, err := m.Search(ctx, name, nil, SearchOptions{K: MaxK, Mode: Lexical, QueryText: "item"})
	if err != nil || len(all) != min(info.Count, MaxK) {
		t.Fatalf("lexical search for the shared word: %d hits, %v; want %d", len(all), err, min(info.Count, MaxK))
	}
	for _, id := range []string{ids[0], ids[len(ids)/2], ids[len(ids)-1]} {
		hits, err := m.Search(ctx, name, nil, SearchOptions{K: 2, Mode: Lexical, QueryText: crashWord(id)})
		if err != nil || len(hits) != 1 || hits[0].ID != id {
			t.Fatalf("lexical search for %s: %v %v, want %s alone", crashWord(id), hitIDs(hits), err, id)
		}
	}
}

// crashWriter upserts batches from several goroutines until it is killed,
// acknowledging the items of each once its Upsert has returned.
func crashWriter(dir string, ack func(...string)) {
	m, err := Open(dir, crashConfig)
	if err != nil {
		crashtest.Fail("%v", err)
	}
	specs := []Spec{{Dim: crashDim, Metric: L2}, {Dim: crashDim, Metric: L2, Quantization: QuantInt8}}
	for i, name := range crashIndexes {
		if _, err := m.Create(context.Background(), name, specs[i]); err != nil {
			crashtest.Fail("%v", err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for b := 0; ; b++ {
				items := make([]Item, 1+b%7)
				ids := make([]string, len(items))
				for j := range items {
					ids[j] = fmt.Sprintf("w%d-b%d-%d", w, b, j)
					items[j] = Item{ID: ids[j], Vector: crashVector(ids[j]), Text: "item " + crashWord(ids[j]), Metadata: map[string]any{"w": w}}
				}
				for _, name := range crashIndexes {
					if _, err := m.Upsert(context.Background(), name, items); err != nil {
						crashtest.Fail("upsert: %v", err)
					}
				}
				ack(ids...)
			}
		})
	}
	wg.Wait()
}
