package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/embed"
	"lakehouse/backends/observer"
	"lakehouse/backends/vector"
)

// matrixTexts are three corpora of short texts, one topic each.
var matrixTexts = map[string][]string{
	"recipes": {
		"Bake the bread at 220 degrees until the crust turns golden brown",
		"Whisk the eggs with sugar before folding in the flour",
		"Simmer the tomato sauce for an hour with garlic and basil",
		"Knead the dough for ten minutes and let it rise overnight",
	},
	"travel": {
		"The night train to Vienna leaves the central station at ten",
		"Book the ferry to the islands early in the summer season",
		"The airport shuttle runs every twenty minutes from the hotel",
		"Our flight was delayed by volcanic ash over the north sea",
	},
	"software": {
		"The compiler reported a type error in the generic function signature",
		"Run the unit tests with the race detector before merging",
		"The database migration added an index on the orders table",
		"A nil pointer dereference crashed the server at start-up",
	},
}

// matrixSession serves the tool table over in-memory transports, on
// vector indexes in a temporary folder and the default embedder.
func matrixSession(t *testing.T) *mcp.ClientSession {
	t.Helper()
	vecs, err := vector.Open(t.TempDir(), vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vecs.Close() })
	emb, err := embed.New(embed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := observer.Open(t.TempDir(), observer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close() })
	return connect(t, All(&Backends{Vectors: vecs, Embed: emb, Observer: obs}), nil)
}

// matrixCall calls tool and returns its structured content and text, or,
// when wantErr, the text of the tool error it must return.
func matrixCall(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, wantErr bool) (map[string]any, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: transport error: %v", tool, err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if res.IsError != wantErr {
		t.Fatalf("%s(%v): error %v, want %v: %s", tool, args, res.IsError, wantErr, text)
	}
	var out map[string]any
	if !wantErr {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out, text
}

func hitsOf(out map[string]any) []map[string]any {
	var hits []map[string]any
	for _, h := range out["hits"].([]any) {
		hits = append(hits, h.(map[string]any))
	}
	return hits
}

// TestMatrixSession drives list_corpora and matrix_search through an MCP
// client session over three corpora of texts and one of raw vectors.
func TestMatrixSession(t *testing.T) {
	cs := matrixSession(t)
	for name, texts := range matrixTexts {
		matrixCall(t, cs, "create_index", map[string]any{"name": name}, false)
		var items []map[string]any
		for i, text := range texts {
			items = append(items, map[string]any{"id": fmt.Sprint(i), "text": text, "metadata": map[string]any{"n": i}})
		}
		matrixCall(t, cs, "upsert_vectors", map[string]any{"index": name, "items": items}, false)
	}
	matrixCall(t, cs, "create_index", map[string]any{"name": "raw", "dims": 3}, false)
	matrixCall(t, cs, "upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{{"id": "r", "vector": []float32{1, 0, 0}}}}, false)

	out, text := matrixCall(t, cs, "list_corpora", nil, false)
	corpora := out["corpora"].([]any)
	if len(corpora) != 4 || !strings.Contains(text, "| raw | 1 | 3 | cosine |") {
		t.Fatalf("list_corpora = %v\n%s", out, text)
	}
	for _, c := range corpora {
		c := c.(map[string]any)
		if (c["name"] != "raw") != c["query_text"] || c["metric"] != "cosine" || c["engine"] != "flat" {
			t.Errorf("corpus %v", c)
		}
	}

	three := []string{"recipes", "software", "travel"}
	out, text = matrixCall(t, cs, "matrix_search", map[string]any{"query_text": "how long should bread bake in the oven", "corpora": three, "k": 6}, false)
	hits := hitsOf(out)
	if len(hits) != 6 || hits[0]["corpus"] != "recipes" || hits[0]["id"] != "0" || hits[0]["rank"] != 1.0 || out["merge"] != "distance" {
		t.Fatalf("matrix_search = %v", out)
	}
	if !strings.Contains(text, "| 1 | recipes | 0 |") || !strings.Contains(text, "merged by distance") || !strings.Contains(text, "- travel: ") {
		t.Errorf("text of matrix_search:\n%s", text)
	}
	if c := out["corpora"].([]any); len(c) != 3 || c[0].(map[string]any)["corpus"] != "recipes" || c[0].(map[string]any)["returned"] != 4.0 {
		t.Errorf("corpora of the result = %v", c)
	}

	// Seen hits left out, text cut, a filter, rrf.
	out, _ = matrixCall(t, cs, "matrix_search", map[string]any{
		"query_text": "how long should bread bake in the oven", "corpora": three, "k": 3, "merge": "rrf",
		"exclude_ids": []string{"recipes:0"}, "max_text_bytes": 10, "filter": map[string]any{"n": map[string]any{"gte": 1}},
	}, false)
	for _, h := range hitsOf(out) {
		if h["corpus"] == "recipes" && h["id"] == "0" || h["metadata"].(map[string]any)["n"] == 0.0 || h["text_cut"] != true || len(h["text"].(string)) > 10 {
			t.Errorf("hit %v", h)
		}
	}
	if hits := hitsOf(out); len(hits) != 3 || hits[0]["score"] != 1/61.0 || out["merge"] != "rrf" {
		t.Errorf("rrf result = %v", out)
	}

	// Every corpus by default: the raw one cannot take text.
	_, msg := matrixCall(t, cs, "matrix_search", map[string]any{"query_text": "bread"}, true)
	if !strings.Contains(msg, `corpus "raw"`) || !strings.Contains(msg, "query_vector") {
		t.Errorf("text over a raw corpus: %s", msg)
	}
	out, text = matrixCall(t, cs, "matrix_search", map[string]any{"query_text": "bread", "partial": true, "corpora": []string{"raw", "recipes", "gone"}}, false)
	if len(hitsOf(out)) != 4 || !strings.Contains(text, "- raw: 0 hit(s)") || !strings.Contains(text, `vector index "gone" not found`) {
		t.Errorf("partial search:\n%s", text)
	}

	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"query_text": "bread", "k": 5000}, "1 to 1000"},
		{map[string]any{"query_vector": []float32{1, 0}, "corpora": []string{"raw"}}, `corpus "raw"`},
		{map[string]any{"query_text": "bread", "corpora": []string{"nope"}}, "list_indexes shows 4 indexes"},
		{map[string]any{"query_text": "bread", "max_text_bytes": -1}, "max_text_bytes"},
		{map[string]any{"query_vector": []float32{1, 0, 0}, "corpora": []string{"raw", "recipes"}, "merge": "distance"}, "rrf"},
	} {
		if _, msg := matrixCall(t, cs, "matrix_search", c.args, true); !strings.Contains(msg, c.want) {
			t.Errorf("matrix_search(%v) = %q, want it to mention %q", c.args, msg, c.want)
		}
	}
}

// addMatrixTexts makes one index of each of matrixTexts, item ids "0"...
func addMatrixTexts(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	for name, texts := range matrixTexts {
		matrixCall(t, cs, "create_index", map[string]any{"name": name}, false)
		var items []map[string]any
		for i, text := range texts {
			items = append(items, map[string]any{"id": fmt.Sprint(i), "text": text, "metadata": map[string]any{"n": i}})
		}
		matrixCall(t, cs, "upsert_vectors", map[string]any{"index": name, "items": items}, false)
	}
}

// rankOf returns the rank of corpus:id in a matrix_search result and its
// playbook move, or 0 when it is not there.
func rankOf(out map[string]any, corpus, id string) (int, map[string]any) {
	for _, h := range hitsOf(out) {
		if h["corpus"] == corpus && h["id"] == id {
			mv, _ := h["playbook"].(map[string]any)
			return int(h["rank"].(float64)), mv
		}
	}
	return 0, nil
}

// TestPlaybookSession drives the learning loop through an MCP client
// session over three corpora: a search, record_playbook of an answer it
// ranked low, the same search with use_playbook ranking it first, an
// outcome reported with record_event moving it too, and the mistakes an
// agent can make.
func TestPlaybookSession(t *testing.T) {
	cs := matrixSession(t)
	addMatrixTexts(t, cs)
	const question = "how long should bread bake in the oven"
	search := map[string]any{"query_text": question, "k": 6, "use_playbook": true}

	out, text := matrixCall(t, cs, "matrix_search", search, false)
	before, _ := rankOf(out, "recipes", "3")
	if before < 2 || !strings.Contains(text, "does not exist yet") {
		t.Fatalf("before recording: recipes:3 at rank %d\n%s", before, text)
	}

	out, _ = matrixCall(t, cs, "record_playbook", map[string]any{"query_text": question, "answer_id": "3", "answer_corpus": "recipes", "score": 1, "tags": []string{"dough"}}, false)
	entries := out["entries"].([]any)
	entry := entries[0].(map[string]any)
	if out["recorded"] != 1.0 || entry["playbook_corpus"] != "playbook_memory" || entry["score"] != 1.0 || entry["previous_score"] != nil {
		t.Fatalf("record_playbook = %v", out)
	}

	out, text = matrixCall(t, cs, "matrix_search", search, false)
	rank, mv := rankOf(out, "recipes", "3")
	if rank != 1 || mv == nil || mv["entry"] != entry["entry"] || mv["factor"] != 0.5 || mv["rank_was"] != float64(before) || mv["query"] != question {
		t.Fatalf("with the playbook: recipes:3 at rank %d, move %v\n%s", rank, mv, text)
	}
	if p := out["playbook"].(map[string]any); p["near"] != 1.0 || p["boosted"] != 1.0 || !strings.Contains(text, "playbook playbook_memory: 1 entries near, 1 hit(s) boosted") {
		t.Errorf("playbook of the result = %v\n%s", p, text)
	}
	if plain, _ := matrixCall(t, cs, "matrix_search", map[string]any{"query_text": question, "k": 6}, false); plain["playbook"] != nil {
		t.Errorf("without use_playbook: %v", plain)
	} else if r, mv := rankOf(plain, "recipes", "3"); r != before || mv != nil {
		t.Errorf("without use_playbook: recipes:3 at rank %d, move %v", r, mv)
	}

	// The playbook is no user corpus, but list_corpora shows it.
	out, text = matrixCall(t, cs, "list_corpora", nil, false)
	if len(out["corpora"].([]any)) != 4 || !strings.Contains(text, "| playbook_memory (playbook) | 1 |") {
		t.Errorf("list_corpora:\n%s", text)
	}
	out, _ = matrixCall(t, cs, "matrix_search", map[string]any{"query_text": question, "k": 20}, false)
	for _, c := range out["corpora"].([]any) {
		if c.(map[string]any)["corpus"] == "playbook_memory" {
			t.Errorf("a search of every corpus searched the playbook: %v", out["corpora"])
		}
	}

	// Outcomes reported with record_event: one success, one failure.
	event := func(ok bool) map[string]any {
		out, _ := matrixCall(t, cs, "record_event", map[string]any{
			"endpoint": "answer", "success": ok,
			"fields": map[string]any{"query_text": "when is the bread done", "answer_id": "0", "answer_corpus": "recipes"},
		}, false)
		return out
	}
	event(true)
	out = event(false)
	if p := out["playbook"].(map[string]any); p["score"] != 0.5 || p["reports"] != 2.0 || out["endpoint"] != "answer" {
		t.Errorf("record_event = %v, want score 0.5 over 2 reports", out)
	}
	out, _ = matrixCall(t, cs, "matrix_search", map[string]any{"query_text": "when is the bread done", "corpora": []string{"recipes"}, "use_playbook": true}, false)
	if _, mv := rankOf(out, "recipes", "0"); mv == nil || mv["score"] != 0.5 || mv["factor"] != 0.75 {
		t.Errorf("after two reports: move %v", mv)
	}
	// An event that cannot teach the playbook is still recorded.
	out, _ = matrixCall(t, cs, "record_event", map[string]any{"endpoint": "answer", "fields": map[string]any{"query_text": "q", "answer_id": "0", "answer_corpus": "nope"}}, false)
	if p := out["playbook"].(map[string]any); !strings.Contains(p["error"].(string), `"nope" not found`) || out["id"] == "" {
		t.Errorf("event naming an unknown corpus = %v", out)
	}
	if out, _ := matrixCall(t, cs, "record_event", map[string]any{"endpoint": "answer"}, false); out["playbook"] != nil {
		t.Errorf("event without outcome fields = %v", out)
	}

	// Several entries, each with its result; re-recording updates.
	out, _ = matrixCall(t, cs, "record_playbook", map[string]any{"entries": []map[string]any{
		{"query_text": question, "answer_id": "3", "answer_corpus": "recipes", "score": 0.4},
		{"query_text": question, "answer_id": "3", "answer_corpus": "recipes", "score": 1.5},
		{"query_text": question, "answer_id": "3", "answer_corpus": "recipes"},
	}}, false)
	entries = out["entries"].([]any)
	if out["recorded"] != 1.0 || out["failed"] != 2.0 || entries[0].(map[string]any)["previous_score"] != 1.0 ||
		!strings.Contains(entries[1].(map[string]any)["error"].(string), "score = 1.5") || !strings.Contains(entries[2].(map[string]any)["error"].(string), "score is required") {
		t.Errorf("entries = %v", out)
	}

	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"query_text": question, "answer_id": "3", "answer_corpus": "recipes", "score": -1}, "score = -1"},
		{map[string]any{"query_text": question, "answer_id": "3", "answer_corpus": "recipes"}, "score is required"},
		{map[string]any{"query_text": question, "answer_id": "3", "answer_corpus": "nope", "score": 1}, "list_indexes shows"},
		{map[string]any{"query_text": "", "answer_id": "3", "answer_corpus": "recipes", "score": 1}, "query_text is empty"},
		{map[string]any{"query_text": question, "answer_id": "9", "answer_corpus": "recipes", "score": 1}, `holds no item "9"`},
		{map[string]any{"query_text": question, "answer_id": "3", "answer_corpus": "recipes", "score": 1, "playbook_corpus": "mine"}, "playbook_"},
		{map[string]any{"query_text": question, "entries": []map[string]any{{"query_text": question}}}, "not both"},
	} {
		if _, msg := matrixCall(t, cs, "record_playbook", c.args, true); !strings.Contains(msg, c.want) {
			t.Errorf("record_playbook(%v) = %q, want it to mention %q", c.args, msg, c.want)
		}
	}
	if _, msg := matrixCall(t, cs, "matrix_search", map[string]any{"query_text": question, "playbook_corpus": "playbook_memory"}, true); !strings.Contains(msg, "use_playbook") {
		t.Errorf("playbook_corpus without use_playbook: %s", msg)
	}

	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		if a := tool.Annotations; tool.Name == "record_playbook" && (a.ReadOnlyHint || !a.IdempotentHint || a.DestructiveHint == nil || !*a.DestructiveHint || tool.OutputSchema == nil) {
			t.Errorf("record_playbook annotations %+v", a)
		}
	}
}

// TestMatrixSession_ModeAndRerank drives matrix_search's mode and rerank
// through an MCP client session: lexical search by an exact identifier
// over corpora of texts and of raw vectors, what it refuses, and a rerank
// by relevance to a file under review.
func TestMatrixSession_ModeAndRerank(t *testing.T) {
	cs := matrixSession(t)
	addMatrixTexts(t, cs)
	matrixCall(t, cs, "create_index", map[string]any{"name": "code"}, false)
	matrixCall(t, cs, "upsert_vectors", map[string]any{"index": "code", "items": []map[string]any{
		{"id": "gate-1", "text": "func NewGate(cfg GateConfig) (*Gate, error) builds the review mode gate", "metadata": map[string]any{"path": "backends/matrix/gate.go"}},
		{"id": "gate-2", "text": "the review mode a model runs in is decided before the review starts", "metadata": map[string]any{"path": "docs/review.md"}},
		{"id": "err-1", "text": "error E0425 unresolved name in the rust build", "metadata": map[string]any{"path": "docs/errors.md"}},
	}}, false)
	matrixCall(t, cs, "create_index", map[string]any{"name": "raw", "dims": 3}, false)
	matrixCall(t, cs, "upsert_vectors", map[string]any{"index": "raw", "items": []map[string]any{{"id": "r", "vector": []float32{1, 0, 0}, "text": "E0425 again, in a corpus of own vectors"}}}, false)

	out, text := matrixCall(t, cs, "matrix_search", map[string]any{"query_text": "E0425", "mode": "lexical"}, false)
	if got := hitsOf(out); out["mode"] != "lexical" || out["merge"] != "rrf" || len(got) != 2 || got[0]["corpus"] != "code" || got[0]["id"] != "err-1" || got[1]["corpus"] != "raw" || got[0]["lexical"].(float64) <= 0 {
		t.Errorf("lexical search:\n%s", text)
	}
	if !strings.Contains(text, "mode lexical, merged by rrf") {
		t.Errorf("text of a lexical search:\n%s", text)
	}
	// Each mode ranks one corpus as search_vectors does.
	for _, mode := range []string{"hybrid", "lexical", "dense"} {
		alone, _ := matrixCall(t, cs, "search_vectors", map[string]any{"index": "code", "query_text": "review mode gate", "mode": mode, "k": 3}, false)
		out, _ := matrixCall(t, cs, "matrix_search", map[string]any{"corpora": []string{"code"}, "query_text": "review mode gate", "mode": mode, "k": 3, "merge": "rrf"}, false)
		want, got := hitsOf(alone), hitsOf(out)
		if len(got) != len(want) || len(got) == 0 || out["mode"] != mode {
			t.Fatalf("mode %s: matrix_search %v, search_vectors %v", mode, got, want)
		}
		for i := range want {
			if got[i]["id"] != want[i]["id"] || got[i]["distance"] != want[i]["distance"] || got[i]["lexical"] != want[i]["lexical"] {
				t.Errorf("mode %s, hit %d: matrix_search %v, search_vectors %v", mode, i, got[i], want[i])
			}
		}
	}
	min := 100.0
	if out, _ := matrixCall(t, cs, "matrix_search", map[string]any{"query_text": "E0425", "mode": "lexical", "min_score": min}, false); len(hitsOf(out)) != 0 {
		t.Errorf("lexical min_score %v: %v", min, hitsOf(out))
	}

	// A rerank for the file under review: the hit from its path first, the
	// others only if relevant, each with reasons.
	out, text = matrixCall(t, cs, "matrix_search", map[string]any{
		"query_text": "how is the review mode decided", "corpora": []string{"code", "software", "recipes"}, "k": 3,
		"rerank": map[string]any{"relevance": map[string]any{"focus": map[string]any{
			"path": "backends/matrix/gate.go", "content": "package matrix\n\n// NewGate builds the review mode gate.\nfunc NewGate(cfg GateConfig) (*Gate, error) { return nil, nil }\n",
		}}},
	}, false)
	hits := hitsOf(out)
	if len(hits) == 0 || hits[0]["id"] != "gate-1" || hits[0]["relevance"].(float64) < 1.6 || hits[0]["rank"] != 1.0 {
		t.Fatalf("reranked:\n%s", text)
	}
	reasons := hits[0]["reasons"].([]any)
	if first := reasons[0].(map[string]any); first["signal"] != "names_path" || !strings.Contains(first["detail"].(string), "source backends/matrix/gate.go") {
		t.Errorf("reasons of gate-1: %v", reasons)
	}
	for _, h := range hits {
		if h["relevance"].(float64) < 0.3 {
			t.Errorf("hit under the threshold kept: %v", h)
		}
	}
	if r := out["rerank"].(map[string]any); r["threshold"] != 0.3 || r["dropped"].(float64) < 1 || r["candidates"].(float64) != r["dropped"].(float64)+float64(len(hits)) {
		t.Errorf("rerank of the result = %v", r)
	}
	if !strings.Contains(text, "| relevance | reasons |") || !strings.Contains(text, "names_path +1") || !strings.Contains(text, "reranked by relevance") {
		t.Errorf("text of a reranked search:\n%s", text)
	}

	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"query_text": "E0425", "corpora": []string{"raw"}}, "mode lexical"},
		{map[string]any{"query_text": "E0425", "mode": "lexical", "merge": "distance"}, "rrf"},
		{map[string]any{"query_text": "E0425", "mode": "fuzzy"}, "dense"},
		{map[string]any{"query_vector": []float32{1, 0, 0}, "corpora": []string{"raw"}, "mode": "lexical"}, "query_text"},
		{map[string]any{"query_text": "E0425", "rerank": map[string]any{}}, "names no reranker"},
		{map[string]any{"query_text": "E0425", "rerank": map[string]any{"relevance": map[string]any{"focus": map[string]any{"path": ""}}}}, "focus.path is required"},
		{map[string]any{"query_text": "E0425", "rerank": map[string]any{"relevance": map[string]any{"focus": map[string]any{"path": "a.go"}, "threshold": 9}}}, "threshold = 9"},
	} {
		if _, msg := matrixCall(t, cs, "matrix_search", c.args, true); !strings.Contains(msg, c.want) {
			t.Errorf("matrix_search(%v) = %q, want it to mention %q", c.args, msg, c.want)
		}
	}
}
