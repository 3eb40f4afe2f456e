package vector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// A fingerprint depends on the live items' ids, texts and metadata only:
// not on their order, their vectors, tombstones, rebuilds, snapshots or
// quantization; and any change of an id, a text or a metadata changes it.
func TestFingerprint(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	vecs := gaussianMixture(rng, 300, 8, 4, 0.3)
	items := itemsOf(vecs, func(i int) map[string]any { return map[string]any{"n": i % 7} })
	for i := range items {
		items[i].Text = fmt.Sprintf("text %d", i)
	}
	fingerprint := func(m *Manager, name string) uint64 {
		t.Helper()
		fp, err := m.Fingerprint(name)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}

	dir := t.TempDir()
	m := mustOpen(t, dir, Config{})
	mustCreate(t, m, "a", 8, Cosine)
	if _, err := m.Create(ctx, "b", Spec{Dim: 8, Metric: L2, Quantization: QuantInt8}); err != nil {
		t.Fatal(err)
	}
	empty := fingerprint(m, "a")
	mustUpsert(t, m, "a", items)
	// b: the same items in another order, with other vectors, after a
	// stray item was added and deleted.
	other := append([]Item(nil), items...)
	rng.Shuffle(len(other), func(i, j int) { other[i], other[j] = other[j], other[i] })
	for i := range other {
		other[i].Vector = vecs[(i+1)%len(vecs)]
	}
	mustUpsert(t, m, "b", append(other, Item{ID: "stray", Vector: vecs[0]}))
	if _, err := m.Delete(ctx, "b", []string{"stray"}); err != nil {
		t.Fatal(err)
	}
	want := fingerprint(m, "a")
	if want == empty {
		t.Fatal("300 items print as an empty index")
	}
	if got := fingerprint(m, "b"); got != want {
		t.Fatalf("the same items in another order print %x, want %x", got, want)
	}

	// Every kind of change shows.
	for _, change := range []Item{
		{ID: "i5", Vector: vecs[5], Text: "text 6", Metadata: map[string]any{"n": 5}},  // a text
		{ID: "i5", Vector: vecs[5], Text: "text 5", Metadata: map[string]any{"n": 6}},  // a metadata
		{ID: "i5", Vector: vecs[5], Text: "text 5"},                                    // metadata gone
		{ID: "i5 ", Vector: vecs[5], Text: "text 5", Metadata: map[string]any{"n": 5}}, // another id
	} {
		mustUpsert(t, m, "b", []Item{change})
		if change.ID != "i5" {
			m.Delete(ctx, "b", []string{"i5"})
		}
		if fingerprint(m, "b") == want {
			t.Errorf("changing item i5 to %+v leaves the fingerprint as it was", change)
		}
		m.Delete(ctx, "b", []string{change.ID})
		mustUpsert(t, m, "b", []Item{items[5]})
		if got := fingerprint(m, "b"); got != want {
			t.Fatalf("undoing the change prints %x, want %x", got, want)
		}
	}

	// Reopened from a snapshot and logs, and after a rebuild.
	if err := m.Snapshot(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m = mustOpen(t, dir, Config{})
	if got := fingerprint(m, "a"); got != want {
		t.Fatalf("after a reopen: %x, want %x", got, want)
	}
	if got := fingerprint(m, "b"); got != want {
		t.Fatalf("int8 index after a reopen: %x, want %x", got, want)
	}
	var gone []string
	for i := range 100 {
		gone = append(gone, fmt.Sprintf("i%d", i))
	}
	if _, err := m.Delete(ctx, "a", gone); err != nil {
		t.Fatal(err)
	}
	mustWait(t, m, "a") // a third deleted: the index rebuilds
	mustUpsert(t, m, "a", items[:100])
	if got := fingerprint(m, "a"); got != want {
		t.Fatalf("after deletes, a rebuild and the same items again: %x, want %x", got, want)
	}
}
