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
