package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// notes is a dataset of short texts, one topic each.
const notes = `id,lang,year,body
n1,en,2019,The cat sat on the warm windowsill and purred all afternoon
n2,en,2020,Quarterly revenue grew because enterprise customers renewed their contracts
n3,de,2021,The train to Berlin was delayed by two hours because of a signal failure
n4,en,2022,Bake the bread at 220 degrees until the crust turns golden brown
n5,en,2023,The goalkeeper saved a penalty in the final minute of the football match
n6,fr,2024,Rising sea levels threaten coastal cities and low islands
n7,en,2024,The compiler reported a type error in the generic function signature
n8,en,2021,Volcanic ash closed the airport and grounded every flight for a week
`

func hitIDs(out map[string]any) []string {
	var ids []string
	for _, h := range out["hits"].([]any) {
		ids = append(ids, h.(map[string]any)["id"].(string))
	}
	return ids
}

func TestIndexDatasetAndSearchByText(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	progress := make(chan *mcp.ProgressNotificationParams, 100)
	cs, closeSession := session(t, cfg, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		progress <- r.Params
	}})
	call(t, cs, "ingest_dataset", map[string]any{"name": "notes", "source": map[string]any{"content": notes}})

	params := &mcp.CallToolParams{Name: "index_dataset", Arguments: map[string]any{
		"dataset": "notes", "text_column": "body", "id_column": "id", "metadata_columns": []string{"lang", "year"},
	}}
	params.SetProgressToken("ix")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil || res.IsError {
		t.Fatalf("index_dataset: %v %s", err, contentText(res))
	}
	select {
	case p := <-progress:
		if p.ProgressToken != "ix" || p.Progress != 8 || !strings.Contains(p.Message, "8 of 8") {
			t.Errorf("progress = %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Error("no progress notification")
	}
	out := call(t, cs, "list_indexes", nil)
	ix := out["indexes"].([]any)[0].(map[string]any)
	emb := out["embedder"].(map[string]any)
	if ix["name"] != "notes" || ix["count"] != 8.0 || ix["model"] != emb["model"] || ix["dims"] != 484.0 || emb["misses"].(float64) < 8 {
		t.Errorf("list_indexes = %v", out)
	}

	// Words of a row, reworded, find that row first.
	for query, want := range map[string]string{
		"kitten purring on a windowsill":    "n1",
		"train delays in Berlin":            "n3",
		"penalty saved by the goalkeeper":   "n5",
		"a flight grounded by volcanic ash": "n8",
	} {
		got := hitIDs(call(t, cs, "search_vectors", map[string]any{"index": "notes", "query_text": query, "k": 3}))
		if len(got) != 3 || got[0] != want {
			t.Errorf("search %q = %v, want %s first", query, got, want)
		}
	}

	// Filters: equality, any-of, numeric range; all must hold.
	got := hitIDs(call(t, cs, "search_vectors", map[string]any{
		"index": "notes", "query_text": "anything", "k": 10,
		"filter": map[string]any{"lang": []string{"en", "fr"}, "year": map[string]any{"gte": 2022}},
	}))
	if strings.Join(slices.Sorted(slices.Values(got)), ",") != "n4,n5,n6,n7" {
		t.Errorf("filtered search = %v, want n4 n5 n6 n7", got)
	}

	// Re-running embeds nothing; changing one text embeds only that row,
	// and changing only metadata keeps the vector.
	again := call(t, cs, "index_dataset", map[string]any{"dataset": "notes", "text_column": "body", "id_column": "id", "metadata_columns": []string{"lang", "year"}})
	if again["embedded"] != 0.0 || again["unchanged"] != 8.0 || again["created"] != false {
		t.Errorf("re-run = %v, want nothing embedded", again)
	}
	changed := strings.Replace(notes, "The cat sat on the warm windowsill and purred all afternoon", "A submarine dived under the polar ice", 1)
	changed = strings.Replace(changed, "n2,en,2020", "n2,en,2025", 1)
	call(t, cs, "ingest_dataset", map[string]any{"name": "notes", "mode": "replace", "source": map[string]any{"content": changed}})
	again = call(t, cs, "index_dataset", map[string]any{"dataset": "notes", "text_column": "body", "id_column": "id", "metadata_columns": []string{"lang", "year"}})
	if again["embedded"] != 1.0 || again["metadata_updated"] != 1.0 || again["unchanged"] != 6.0 || again["version"] != 2.0 {
		t.Errorf("after one text and one year changed: %v", again)
	}
	if got := hitIDs(call(t, cs, "search_vectors", map[string]any{"index": "notes", "query_text": "submarine under polar ice", "k": 1})); got[0] != "n1" {
		t.Errorf("search for the new text = %v", got)
	}

	// A where clause and a named index.
	sub := call(t, cs, "index_dataset", map[string]any{"dataset": "notes", "text_column": "body", "id_column": "id", "where": "lang = 'en'", "index": "english"})
	if sub["count"] != 6.0 || sub["created"] != true {
		t.Errorf("index with where = %v, want 6 rows", sub)
	}

	// Everything survives a restart.
	closeSession()
	cs, _ = session(t, cfg, nil)
	if got := hitIDs(call(t, cs, "search_vectors", map[string]any{"index": "notes", "query_text": "goalkeeper penalty", "k": 1})); got[0] != "n5" {
		t.Errorf("after restart: %v", got)
	}
	hit := call(t, cs, "search_vectors", map[string]any{"index": "notes", "query_text": "goalkeeper penalty", "k": 1})["hits"].([]any)[0].(map[string]any)
	meta := hit["metadata"].(map[string]any)
	if meta["lang"] != "en" || meta["year"] != 2023.0 || !strings.Contains(hit["text"].(string), "goalkeeper") {
		t.Errorf("hit after restart = %v", hit)
	}
}

func TestVectorsRawAndBadInput(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cs, _ := session(t, cfg, nil)

	// An index of vectors computed elsewhere.
	info := call(t, cs, "create_index", map[string]any{"name": "raw", "dims": 3, "metric": "l2"})
	if info["dims"] != 3.0 || info["model"] != "" || info["metric"] != "l2" {
		t.Errorf("create_index = %v", info)
	}
	up := call(t, cs, "upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{
		{"id": "a", "vector": []float32{0, 0, 0}}, {"id": "b", "vector": []float32{1, 0, 0}}, {"id": "c", "vector": []float32{5, 5, 5}, "text": "far away"},
	}})
	if up["upserted"] != 3.0 || up["embedded"] != 0.0 || up["count"] != 3.0 {
		t.Errorf("upsert = %v", up)
	}
	out := call(t, cs, "search_vectors", map[string]any{"index": "raw", "query_vector": []float32{0.9, 0, 0}, "k": 2, "include_vectors": true})
	hits := out["hits"].([]any)
	first := hits[0].(map[string]any)
	if first["id"] != "b" || len(first["vector"].([]any)) != 3 || hitIDs(out)[1] != "a" {
		t.Errorf("l2 search = %v", out)
	}
	del := call(t, cs, "delete_vectors", map[string]any{"index": "raw", "ids": []string{"b", "zz"}})
	if del["deleted"] != 1.0 || del["count"] != 2.0 {
		t.Errorf("delete = %v", del)
	}
	emb := call(t, cs, "embed_text", map[string]any{"texts": []string{"hello world", "goodbye"}})
	if vecs := emb["vectors"].([]any); len(vecs) != 2 || len(vecs[0].([]any)) != 484 || emb["dims"] != 484.0 {
		t.Errorf("embed_text = %d vectors", len(vecs))
	}

	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprint("text ", i)
	}
	call(t, cs, "ingest_dataset", map[string]any{"name": "notes", "source": map[string]any{"content": notes}})
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"search_vectors", map[string]any{"index": "raw", "query_text": "hello"}, "not from an embedding model"},
		{"search_vectors", map[string]any{"index": "raw", "query_vector": []float32{1, 2}}, "3"},
		{"search_vectors", map[string]any{"index": "nope", "query_text": "x"}, "raw"},
		{"search_vectors", map[string]any{"index": "raw"}, "query_text"},
		{"search_vectors", map[string]any{"index": "raw", "query_vector": []float32{1, 2, 3}, "k": 5000}, "1000"},
		{"search_vectors", map[string]any{"index": "raw", "query_vector": []float32{1, 2, 3}, "filter": map[string]any{"n": map[string]any{"about": 3}}}, "about"},
		{"upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{{"id": "x", "vector": []float32{1, 2}}}}, "2"},
		{"upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{{"id": "x"}}}, "neither text nor vector"},
		{"upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{{"id": strings.Repeat("i", 300), "vector": []float32{1, 2, 3}}}}, "256"},
		{"upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{}}, "empty"},
		{"create_index", map[string]any{"name": "raw"}, "already exists"},
		{"create_index", map[string]any{"name": "Bad-Name"}, "index name"},
		{"create_index", map[string]any{"name": "m", "metric": "manhattan"}, "unknown metric"},
		{"embed_text", map[string]any{"texts": many}, "at most 64"},
		{"embed_text", map[string]any{"texts": []string{}}, "empty"},
		{"index_dataset", map[string]any{"dataset": "notes", "text_column": "text", "id_column": "id"}, "id, lang, year, body"},
		{"index_dataset", map[string]any{"dataset": "missing", "text_column": "body", "id_column": "id"}, "notes"},
		{"index_dataset", map[string]any{"dataset": "notes", "text_column": "body", "id_column": "id", "where": "lang = "}, "syntax"},
		{"index_dataset", map[string]any{"dataset": "notes", "text_column": "body", "id_column": "id", "index": "raw"}, "not from an embedding model"},
		{"drop_index", map[string]any{"name": "nope"}, "not found"},
	} {
		if msg := callErr(t, cs, c.tool, c.args); !strings.Contains(msg, c.want) {
			t.Errorf("%s(%v) = %q, want it to mention %q", c.tool, c.args, msg, c.want)
		}
	}
	// After all that, the index is intact.
	if got := call(t, cs, "list_indexes", nil)["indexes"].([]any); len(got) != 1 || got[0].(map[string]any)["count"] != 2.0 {
		t.Errorf("indexes after bad input = %v", got)
	}

	// A text the embedder refuses names its item, and upserts nothing.
	call(t, cs, "create_index", map[string]any{"name": "words"})
	if msg := callErr(t, cs, "upsert_vectors", map[string]any{"index": "words", "items": []map[string]any{{"id": "ok", "text": "fine words"}, {"id": "dots", "text": "..."}}}); !strings.Contains(msg, `item 1 (id "dots")`) {
		t.Errorf("upsert of a wordless text: %q", msg)
	}
	// Long texts come back cut, unless more is asked for.
	long := strings.Repeat("lighthouse keeper logbook ", 120)
	call(t, cs, "upsert_vectors", map[string]any{"index": "words", "items": []map[string]any{{"id": "long", "text": long}}})
	hit := call(t, cs, "search_vectors", map[string]any{"index": "words", "query_text": "lighthouse logbook", "k": 1})["hits"].([]any)[0].(map[string]any)
	if text := hit["text"].(string); len(text) > 1000 || !strings.HasPrefix(long, strings.TrimSuffix(text, "…")) || hit["text_cut"] != true || hit["text_bytes"] != float64(len(long)) {
		t.Errorf("hit with a long text = %v", hit)
	}
	hit = call(t, cs, "search_vectors", map[string]any{"index": "words", "query_text": "lighthouse logbook", "k": 1, "max_text_bytes": 5000})["hits"].([]any)[0].(map[string]any)
	if hit["text"] != long || hit["text_cut"] != nil {
		t.Errorf("hit with max_text_bytes 5000: text of %d bytes, cut %v", len(hit["text"].(string)), hit["text_cut"])
	}
	hit = call(t, cs, "search_vectors", map[string]any{"index": "words", "query_text": "lighthouse logbook", "k": 1, "max_text_bytes": 2})["hits"].([]any)[0].(map[string]any)
	if hit["text"] != "li" {
		t.Errorf("hit with max_text_bytes 2: text %q", hit["text"])
	}
	if msg := callErr(t, cs, "search_vectors", map[string]any{"index": "words", "query_text": "x", "max_text_bytes": 1 << 20}); !strings.Contains(msg, "65536") {
		t.Errorf("max_text_bytes too large: %q", msg)
	}
	// index_dataset leaves such rows out and says which; repeated ids are refused.
	call(t, cs, "ingest_dataset", map[string]any{"name": "odd", "source": map[string]any{"content": "id,body\n1,the cat sat\n2,---\n3,dogs bark\n" + strings.Repeat("x", 300) + ",long id\n"}})
	odd := call(t, cs, "index_dataset", map[string]any{"dataset": "odd", "text_column": "body", "id_column": "id"})
	if odd["count"] != 2.0 || odd["refused"] != 1.0 || fmt.Sprint(odd["refused_ids"]) != "[2]" || odd["skipped"] != 1.0 {
		t.Errorf("index_dataset with odd rows = %v", odd)
	}
	// A row whose text loses its words leaves the index on the next run.
	call(t, cs, "ingest_dataset", map[string]any{"name": "odd", "mode": "replace", "source": map[string]any{"content": "id,body\n1,???\n3,dogs bark\n"}})
	odd = call(t, cs, "index_dataset", map[string]any{"dataset": "odd", "text_column": "body", "id_column": "id"})
	if odd["count"] != 1.0 || odd["refused"] != 1.0 || fmt.Sprint(odd["refused_ids"]) != "[1]" {
		t.Errorf("index_dataset after row 1 lost its words = %v", odd)
	}
	call(t, cs, "ingest_dataset", map[string]any{"name": "dup", "source": map[string]any{"content": "id,body\n1,one\n2,two\n2,again\n"}})
	if msg := callErr(t, cs, "index_dataset", map[string]any{"dataset": "dup", "text_column": "body", "id_column": "id"}); !strings.Contains(msg, `1 id repeats, e.g. "2" (2 rows)`) {
		t.Errorf("index_dataset with a repeated id: %q", msg)
	}
	if got := call(t, cs, "list_indexes", nil)["indexes"].([]any); len(got) != 3 {
		t.Errorf("indexes = %v, want raw, words and odd (none for dup)", got)
	}
	if d := call(t, cs, "drop_index", map[string]any{"name": "raw"}); d["dropped"] != true {
		t.Errorf("drop = %v", d)
	}
}
