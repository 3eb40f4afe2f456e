package corpus_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"lakehouse/backends/corpus"
	"lakehouse/backends/embed"
	"lakehouse/backends/vector"
)

// Sync embeds new and changed texts only, keeps the vector of an item whose
// metadata alone changed, leaves out a refused text (deleting the older one
// the index held) and deletes the gone ids.
func TestSync(t *testing.T) {
	ctx := context.Background()
	vec, err := vector.Open(filepath.Join(t.TempDir(), "vectors"), vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vec.Close() })
	emb, err := embed.New(embed.Config{Provider: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	dims, err := emb.Dims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vec.Create(ctx, "c", vector.Spec{Dim: dims, Metric: vector.Cosine, Model: emb.Model()}); err != nil {
		t.Fatal(err)
	}
	first := []vector.Item{
		{ID: "a", Text: "the cat sat", Metadata: map[string]any{"n": 1}},
		{ID: "b", Text: "the dog barked"},
		{ID: "c", Text: "a bird sang"},
		{ID: "d", Text: "fish swim"},
	}
	res, err := corpus.Sync(ctx, vec, emb, "c", first, nil)
	if err != nil || res.Embedded != 4 || len(res.Refused) != 0 {
		t.Fatalf("first sync = %+v, %v", res, err)
	}
	before, _ := vec.Get("c", []string{"a"})

	res, err = corpus.Sync(ctx, vec, emb, "c", []vector.Item{
		{ID: "a", Text: "the cat sat", Metadata: map[string]any{"n": 2}}, // metadata changed
		{ID: "b", Text: "the dog barked"},                                // unchanged
		{ID: "c", Text: "..."},                                           // refused: no words
		{ID: "e", Text: "a new text"},
	}, []string{"d"})
	if err != nil || res.Embedded != 1 || res.Updated != 1 || res.Unchanged != 1 || res.Refused["c"] == nil || len(res.Refused) != 1 {
		t.Fatalf("second sync = %+v, %v", res, err)
	}
	got, _ := vec.Get("c", []string{"a", "b", "c", "d", "e"})
	ids := map[string]vector.Item{}
	for _, it := range got {
		ids[it.ID] = it
	}
	if len(ids) != 3 || fmt.Sprint(ids["a"].Metadata["n"]) != "2" || ids["e"].Text != "a new text" {
		t.Errorf("items = %v", slices.Collect(maps.Keys(ids)))
	}
	if !slices.Equal(ids["a"].Vector, before[0].Vector) {
		t.Error("a's vector changed with its metadata")
	}
}
