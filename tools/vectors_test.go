package tools

import (
	"strings"
	"testing"
)

// TestListIndexes_Memory checks that list_indexes gives each index's
// memory as one number, in the table, and the total and its limit.
func TestListIndexes_Memory(t *testing.T) {
	cs := matrixSession(t)
	matrixCall(t, cs, "create_index", map[string]any{"name": "docs"}, false)
	matrixCall(t, cs, "upsert_vectors", map[string]any{"index": "docs", "items": []map[string]any{
		{"id": "1", "text": "bread and butter", "metadata": map[string]any{"lang": "en"}},
		{"id": "2", "text": "a loaf of rye"},
	}}, false)
	out, text := matrixCall(t, cs, "list_indexes", map[string]any{}, false)
	rows := out["indexes"].([]any)
	mem, ok := rows[0].(map[string]any)["memory"].(float64)
	if len(rows) != 1 || !ok || mem <= 0 {
		t.Fatalf("indexes = %v, want one index with its memory in bytes", rows)
	}
	if out["memory"] != mem {
		t.Errorf("memory = %v, want the one index's %v", out["memory"], mem)
	}
	if _, ok := out["max_memory"].(float64); !ok {
		t.Errorf("max_memory = %v, want a number", out["max_memory"])
	}
	if !strings.Contains(text, "| memory |") {
		t.Errorf("text has no memory column in a table:\n%s", text)
	}
}

// create_index takes quantization int8, which list_indexes and the
// searches' exact distances reflect; an unknown one is an error that
// names the choices.
func TestCreateIndex_Quantization(t *testing.T) {
	cs := matrixSession(t)
	out, _ := matrixCall(t, cs, "create_index", map[string]any{"name": "small", "quantization": "int8"}, false)
	if out["quantization"] != "int8" {
		t.Fatalf("create_index = %v, want quantization int8", out)
	}
	matrixCall(t, cs, "upsert_vectors", map[string]any{"index": "small", "items": []map[string]any{
		{"id": "1", "text": "bread and butter"},
		{"id": "2", "text": "a loaf of rye"},
	}}, false)
	res, _ := matrixCall(t, cs, "search_vectors", map[string]any{"index": "small", "query_text": "bread and butter", "k": 1}, false)
	if hits := hitsOf(res); len(hits) != 1 || hits[0]["id"] != "1" || hits[0]["distance"].(float64) > 1e-5 {
		t.Fatalf("search of an int8 index = %v, want item 1 at distance 0", hits)
	}
	list, _ := matrixCall(t, cs, "list_indexes", map[string]any{}, false)
	if row := list["indexes"].([]any)[0].(map[string]any); row["quantization"] != "int8" {
		t.Errorf("list_indexes row = %v, want quantization int8", row)
	}
	_, text := matrixCall(t, cs, "create_index", map[string]any{"name": "odd", "quantization": "pq"}, true)
	if !strings.Contains(text, `quantization "pq" is unknown; use int8`) {
		t.Errorf("create_index with pq: %s", text)
	}
}
