package vector

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

func TestManager_CreateListInfoDrop(t *testing.T) {
	ctx := context.Background()
	m := mustOpen(t, t.TempDir(), Config{})
	info, err := m.Create(ctx, "docs", Spec{Dim: 3, Model: "minilm"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "docs" || info.Dim != 3 || info.Metric != Cosine || info.Model != "minilm" || info.Engine != EngineFlat || info.Count != 0 || info.CreatedAt.IsZero() {
		t.Fatalf("Create returned %+v", info)
	}
	mustCreate(t, m, "alpha", 2, L2)
	if got := m.List(); len(got) != 2 || got[0].Name != "alpha" || got[1].Name != "docs" {
		t.Fatalf("List = %+v", got)
	}

	_, err = m.Create(ctx, "docs", Spec{Dim: 3, Metric: Cosine})
	if !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second Create: %v", err)
	}
	_, err = m.Info("nope")
	if !errors.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "alpha, docs") {
		t.Fatalf("Info of a missing index: %v", err)
	}
	if err := m.Drop(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Info("docs"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("Info after Drop: %v", err)
	}
	if err := m.Drop(ctx, "docs"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("second Drop: %v", err)
	}
	// The name is free again, with nothing of the old index left.
	mustCreate(t, m, "docs", 4, Dot)
	if info, _ := m.Info("docs"); info.Dim != 4 || info.Count != 0 {
		t.Fatalf("recreated index: %+v", info)
	}
}

func TestManager_UpsertGetDelete(t *testing.T) {
	ctx := context.Background()
	m := mustOpen(t, t.TempDir(), Config{})
	mustCreate(t, m, "v", 2, L2)
	n, err := m.Upsert(ctx, "v", []Item{
		{ID: "a", Vector: []float32{1, 0}, Text: "first", Metadata: map[string]any{"n": 1, "big": int64(1) << 60}},
		{ID: "b", Vector: []float32{0, 1}},
		{ID: "a", Vector: []float32{2, 0}, Text: "second", Metadata: map[string]any{"n": 2, "big": int64(1)<<60 + 1}},
	})
	if err != nil || n != 2 {
		t.Fatalf("Upsert = %d, %v; want 2 distinct ids", n, err)
	}
	items, err := m.Get("v", []string{"a", "zzz", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ID != "a" || items[1].ID != "b" {
		t.Fatalf("Get = %+v", items)
	}
	a := items[0]
	if !slices.Equal(a.Vector, []float32{2, 0}) || a.Text != "second" || a.Metadata["n"].(interface{ String() string }).String() != "2" {
		t.Fatalf("last duplicate did not win: %+v", a)
	}
	if got := a.Metadata["big"].(interface{ String() string }).String(); got != "1152921504606846977" {
		t.Fatalf("large integer metadata came back as %s", got)
	}
	// Callers may change what they get without changing the index.
	a.Metadata["n"] = "changed"
	a.Vector[0] = 99
	again, _ := m.Get("v", []string{"a"})
	if again[0].Vector[0] != 2 || again[0].Metadata["n"].(interface{ String() string }).String() != "2" {
		t.Fatalf("Get shares memory with the index: %+v", again[0])
	}

	if n, err := m.Delete(ctx, "v", []string{"a", "a", "missing"}); err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v; want 1", n, err)
	}
	if info, _ := m.Info("v"); info.Count != 1 {
		t.Fatalf("Count after delete = %d", info.Count)
	}
	hits, err := m.Search(ctx, "v", []float32{1, 0}, SearchOptions{})
	if err != nil || len(hits) != 1 || hits[0].ID != "b" {
		t.Fatalf("Search after delete = %+v, %v", hits, err)
	}
	if n, err := m.Upsert(ctx, "v", nil); n != 0 || err != nil {
		t.Fatalf("empty Upsert = %d, %v", n, err)
	}
}

func TestSearch_Scores(t *testing.T) {
	ctx := context.Background()
	m := mustOpen(t, t.TempDir(), Config{})
	q := []float32{3, 4}
	for _, tc := range []struct {
		metric         Metric
		score, distant float32
	}{
		{Cosine, 0.6, 0.4},        // (3,4)/5 . (1,0) = 0.6
		{Dot, 3, -3},              // (3,4) . (1,0)
		{L2, -4.472136, 4.472136}, // |(3,4)-(1,0)| = sqrt(20)
	} {
		name := "s_" + string(tc.metric)
		mustCreate(t, m, name, 2, tc.metric)
		mustUpsert(t, m, name, []Item{{ID: "x", Vector: []float32{1, 0}}})
		hits, err := m.Search(ctx, name, q, SearchOptions{IncludeVectors: true})
		if err != nil || len(hits) != 1 {
			t.Fatalf("%s: %v %v", tc.metric, hits, err)
		}
		h := hits[0]
		if math.Abs(float64(h.Score-tc.score)) > 1e-5 || math.Abs(float64(h.Distance-tc.distant)) > 1e-5 || len(h.Vector) != 2 {
			t.Errorf("%s: score %v distance %v vector %v; want %v %v", tc.metric, h.Score, h.Distance, h.Vector, tc.score, tc.distant)
		}
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	m := mustOpen(t, t.TempDir(), Config{})
	mustCreate(t, m, "v", 3, Cosine)
	mustCreate(t, m, "e", 3, L2)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	long := strings.Repeat("x", 257)
	many := make([]Item, 1001)
	for i := range many {
		many[i] = Item{ID: "id", Vector: []float32{1, 2, 3}}
	}
	good := []float32{1, 2, 3}

	for _, tc := range []struct {
		name string
		err  error
		want string // in the message
	}{
		{"create: bad name", errOf(m.Create(ctx, "Bad-Name", Spec{Dim: 3})), "invalid index name"},
		{"create: empty name", errOf(m.Create(ctx, "", Spec{Dim: 3})), "empty"},
		{"create: long name", errOf(m.Create(ctx, strings.Repeat("a", 64), Spec{Dim: 3})), "at most 63"},
		{"create: digit first", errOf(m.Create(ctx, "1abc", Spec{Dim: 3})), "invalid index name"},
		{"create: zero dims", errOf(m.Create(ctx, "z", Spec{Dim: 0})), "dims = 0"},
		{"create: bad metric", errOf(m.Create(ctx, "z", Spec{Dim: 3, Metric: "manhattan"})), `unknown metric "manhattan"`},
		{"upsert: dims", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: []float32{1, 2}}})), "has 2 dimensions but the index has 3"},
		{"upsert: no vector", errOf(m.Upsert(ctx, "v", []Item{{ID: "a"}})), "has no vector"},
		{"upsert: NaN", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: []float32{1, nan, 3}}})), "NaN at position 1"},
		{"upsert: Inf", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: []float32{inf, 2, 3}}})), "+Inf at position 0"},
		{"upsert: zero vector under cosine", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: []float32{0, 0, 0}}})), "all zeros"},
		{"upsert: empty id", errOf(m.Upsert(ctx, "v", []Item{{ID: "", Vector: good}})), "empty id"},
		{"upsert: long id", errOf(m.Upsert(ctx, "v", []Item{{ID: long, Vector: good}})), "257 bytes"},
		{"upsert: too many", errOf(m.Upsert(ctx, "v", many)), "at most 1000"},
		{"upsert: metadata NaN", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: good, Metadata: map[string]any{"x": math.NaN()}}})), "not JSON-compatible"},
		{"upsert: metadata func", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: good, Metadata: map[string]any{"f": func() {}}}})), "not JSON-compatible"},
		{"upsert: metadata chan", errOf(m.Upsert(ctx, "v", []Item{{ID: "a", Vector: good, Metadata: map[string]any{"c": make(chan int)}}})), "not JSON-compatible"},
		{"search: dims", errOf(m.Search(ctx, "v", []float32{1}, SearchOptions{})), "has 1 dimensions but the index has 3"},
		{"search: NaN", errOf(m.Search(ctx, "v", []float32{nan, 1, 1}, SearchOptions{})), "NaN"},
		{"search: zero under cosine", errOf(m.Search(ctx, "v", []float32{0, 0, 0}, SearchOptions{})), "all zeros"},
		{"search: k", errOf(m.Search(ctx, "v", good, SearchOptions{K: 1001})), "k = 1001"},
		{"search: negative k", errOf(m.Search(ctx, "v", good, SearchOptions{K: -1})), "k = -1"},
		{"search: ef", errOf(m.Search(ctx, "v", good, SearchOptions{Ef: -5})), "ef = -5"},
		{"filter: empty list", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": []any{}}})), "list of values is empty"},
		{"filter: bad operator", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": map[string]any{"gtt": 1}}})), `unknown range operator "gtt"`},
		{"filter: range of a string", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": map[string]any{"gt": "x"}}})), "needs a number"},
		{"filter: empty range", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": map[string]any{}}})), "range object is empty"},
		{"filter: gt and gte", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": map[string]any{"gt": 1, "gte": 2}}})), "only one of gt and gte"},
		{"filter: nested list", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": []any{[]any{1}}}})), "list element 0"},
		{"filter: empty key", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"": 1}})), "empty key"},
		{"filter: NaN", errOf(m.Search(ctx, "v", good, SearchOptions{Filter: Filter{"a": math.NaN()}})), "not a supported filter value"},
		{"delete: empty id", errOf(m.Delete(ctx, "v", []string{""})), "empty id"},
		{"get: long id", errOf(m.Get("v", []string{long})), "257 bytes"},
	} {
		if !errors.Is(tc.err, errs.Invalid) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v; want errs.Invalid containing %q", tc.name, tc.err, tc.want)
		}
	}
	// Zero vectors are fine where the metric allows them.
	if _, err := m.Upsert(ctx, "e", []Item{{ID: "z", Vector: []float32{0, 0, 0}}}); err != nil {
		t.Errorf("zero vector under l2: %v", err)
	}
	if _, err := m.Search(ctx, "e", []float32{0, 0, 0}, SearchOptions{}); err != nil {
		t.Errorf("zero query under l2: %v", err)
	}
	// Nothing of the refused batches got in.
	if info, _ := m.Info("v"); info.Count != 0 {
		t.Errorf("refused upserts stored %d items", info.Count)
	}
	for _, op := range []error{
		errOf(m.Upsert(ctx, "nope", []Item{{ID: "a", Vector: good}})),
		errOf(m.Search(ctx, "nope", good, SearchOptions{})),
		errOf(m.Get("nope", []string{"a"})),
		errOf(m.Delete(ctx, "nope", []string{"a"})),
		m.Drop(ctx, "nope"),
	} {
		if !errors.Is(op, errs.NotFound) || !strings.Contains(op.Error(), "list_indexes shows 2 indexes: e, v") {
			t.Errorf("unknown index: %v", op)
		}
	}
}

// errOf keeps the error of a two-result call.
func errOf[T any](_ T, err error) error { return err }

// Digests gives the texts and stored metadata of the items asked for, in
// the order asked, as the JSON encoding/json writes for their maps, and
// leaves out ids it does not hold.
func TestDigests(t *testing.T) {
	m := mustOpen(t, t.TempDir(), Config{})
	mustCreate(t, m, "d", 2, Cosine)
	meta := map[string]any{"lang": "en", "year": 2024, "tags": []string{"a", "b"}}
	mustUpsert(t, m, "d", []Item{
		{ID: "a", Vector: []float32{1, 0}, Text: "alpha", Metadata: meta},
		{ID: "b", Vector: []float32{0, 1}},
	})
	got, err := m.Digests("d", []string{"b", "nope", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(meta)
	if len(got) != 2 || got[0].ID != "b" || got[0].Text != "" || got[0].Metadata != nil ||
		got[1].ID != "a" || got[1].Text != "alpha" || string(got[1].Metadata) != string(want) {
		t.Errorf("Digests = %+v, want b (nothing) then a (alpha, %s)", got, want)
	}
	if _, err := m.Digests("d", []string{""}); err == nil {
		t.Error("an empty id was taken")
	}
}
