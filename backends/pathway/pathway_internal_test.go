package pathway

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/backends/vector"
)

// testEmbedder is the hash provider under a model name of the test's choice.
type testEmbedder struct {
	embed.Provider
	model string
}

func (e testEmbedder) Model() string                     { return e.model }
func (e testEmbedder) Dims(context.Context) (int, error) { return e.Dim(), nil }

func openInternal(t *testing.T, dir, model string) *Pathway {
	t.Helper()
	p, err := Open(dir, testEmbedder{embed.NewHash(), model}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// reconciled waits for the indexer to be ready and returns how many traces
// reconcile had to re-index.
func reconciled(t *testing.T, p *Pathway) int {
	t.Helper()
	if err := p.idx.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p.idx.restale
}

func addN(t *testing.T, p *Pathway, n int) []string {
	t.Helper()
	var uids []string
	for i := range n {
		tr, _, err := p.Add(context.Background(), json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), fmt.Sprintf("note %d", i), []string{"t"}, "")
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, tr.UID)
	}
	return uids
}

func TestReconcile_CleanReopenReindexesNothing(t *testing.T) {
	dir := t.TempDir()
	p := openInternal(t, dir, "m1")
	uids := addN(t, p, 20)
	if _, err := p.Retire(context.Background(), uids[3], ""); err != nil {
		t.Fatal(err)
	}
	reconciled(t, p)
	p.Close()
	p = openInternal(t, dir, "m1")
	if n := reconciled(t, p); n != 0 {
		t.Fatalf("reconcile re-indexed %d traces of an index in step with the log", n)
	}
}

func TestReconcile_StaleAndUnknownItems(t *testing.T) {
	dir := t.TempDir()
	p := openInternal(t, dir, "m1")
	uids := addN(t, p, 10)
	reconciled(t, p)
	p.Close()

	// Behind the memory's back: an item of an unknown trace, a stale one
	// and a missing one.
	vm, err := vector.Open(dir+"/index", vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v := make([]float32, embed.NewHash().Dim())
	v[1] = 1
	if _, err := vm.Upsert(ctx, indexName, []vector.Item{
		{ID: "ghost", Vector: v, Text: "ghost", Metadata: map[string]any{"state": "active", "created": 5}},
		{ID: uids[0], Vector: v, Text: "stale", Metadata: map[string]any{"state": "active"}},
		{ID: uids[2], Vector: v, Text: "note 2", Metadata: map[string]any{"state": "retired", "tags": nil, "created": 5}}, // its metadata alone is stale
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Delete(ctx, indexName, uids[1:2]); err != nil {
		t.Fatal(err)
	}
	vm.Close()

	p = openInternal(t, dir, "m1")
	if n := reconciled(t, p); n != 3 {
		t.Fatalf("reconcile re-indexed %d traces; want 3 (a stale text, a stale metadata, a missing one)", n)
	}
	if items, _ := p.vec.Get(indexName, []string{"ghost"}); len(items) != 0 {
		t.Fatal("the item of an unknown trace is still in the index")
	}
	items, _ := p.vec.Get(indexName, uids[:2])
	if len(items) != 2 || items[0].Text != "note 0" {
		t.Fatalf("stale and missing items after reconcile: %+v", items)
	}
	if info, _ := p.vec.Info(indexName); info.Count != 10 {
		t.Fatalf("index holds %d items; want 10", info.Count)
	}
}

func TestReconcile_ModelChangeRebuilds(t *testing.T) {
	dir := t.TempDir()
	p := openInternal(t, dir, "m1")
	addN(t, p, 5)
	reconciled(t, p)
	p.Close()
	p = openInternal(t, dir, "m2")
	if n := reconciled(t, p); n != 5 {
		t.Fatalf("after a model change reconcile re-indexed %d traces; want 5", n)
	}
	if info, _ := p.vec.Info(indexName); info.Model != "m2" || info.Count != 5 {
		t.Fatalf("index after a model change: %+v", info)
	}
}

func TestEmbedText_ContentRendering(t *testing.T) {
	tr := &Trace{Content: json.RawMessage(`"` + strings.Repeat("é", 3000) + `"`)}
	s := embedText(tr)
	if len(s) > contentRender || len(s) < contentRender-3 {
		t.Fatalf("rendering is %d bytes", len(s))
	}
	if !json.Valid([]byte(s + `"`)) {
		t.Fatal("rendering cuts a character in two")
	}
}

// metaJSON writes, byte for byte, what encoding/json writes for a trace's
// index metadata, whatever its tags hold: characters JSON or HTML escape,
// invalid UTF-8, repeats, none at all.
func TestMetaJSON_IsEncodingJSON(t *testing.T) {
	odd := []string{"a", "b", "<script>", "a&b", `q"uote`, `back\\slash`, "tab\there", "nl\n", "\x00\x1f", "\u2028\u2029", "ünïcödé", "\xff\xfe bad", "tags", "tag:x", "", " ", "ZZ", "a"}
	rng := rand.New(rand.NewPCG(9, 9))
	enc := stringCache{}
	for i := range 2000 {
		tr := &Trace{CreatedAt: time.Unix(rng.Int64N(1<<40)-1<<39, 0), Retired: i%3 == 0}
		if i%5 == 1 {
			tr.SuccessorUID = "next"
		}
		switch i % 7 {
		case 0: // nil
		case 1:
			tr.Tags = []string{}
		default:
			for range rng.IntN(5) + 1 {
				tr.Tags = append(tr.Tags, odd[rng.IntN(len(odd))])
			}
		}
		want, err := json.Marshal(wantOf(tr).meta)
		if err != nil {
			t.Fatal(err)
		}
		if got := metaJSON(nil, tr, enc); string(got) != string(want) {
			t.Fatalf("trace %d (tags %q):\n got %s\nwant %s", i, tr.Tags, got, want)
		}
	}
}

// decodeRecord keeps nothing of its line, whose bytes the replay reuses
// (see eventlog.OpenDecoded): a record decoded, then its line overwritten,
// is as it was.
func TestDecodeRecord_KeepsNothingOfItsLine(t *testing.T) {
	line := []byte(`{"op":"put","traces":[{"uid":"u1","content":{"a":[1,"two"]},"text":"a text","tags":["x","y"],` +
		`"predecessor_uid":"u0","created_at":"2026-12-02T14:32:36.785200494Z","updated_at":"2026-12-02T14:32:36.785200494Z","retired_reason":"why"}]}`)
	r, err := decodeRecord(line)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(r)
	for i := range line {
		line[i] = 'z'
	}
	if after, _ := json.Marshal(r); string(after) != string(before) {
		t.Fatalf("the record changed with its line:\n%s\n%s", before, after)
	}
}
