package sqlengine

import (
	"strings"
	"testing"
)

func TestCapBytes(t *testing.T) {
	r := &Result{Rows: [][]any{{"aaaa"}, {"bbbb"}, {"cccc"}}, RowCount: 3}
	r.CapBytes(20) // each row is 9 bytes of JSON (["aaaa"]) plus a separator
	if r.RowCount != 2 || len(r.Rows) != 2 || !r.Truncated {
		t.Errorf("CapBytes kept %d rows (truncated %v), want 2 and true", r.RowCount, r.Truncated)
	}
	r = &Result{Rows: [][]any{{"a"}}, RowCount: 1}
	r.CapBytes(20)
	if r.RowCount != 1 || r.Truncated {
		t.Errorf("small result changed: %+v", r)
	}
}

func TestCutCells(t *testing.T) {
	long := strings.Repeat("é", 12)
	r := &Result{Rows: [][]any{
		{long, "short", 12345678901234.0, nil},
		{[]any{"a", "b", "c"}, map[string]any{"k": "0123456789"}, true, strings.Repeat("x", 10)},
	}}
	if cut := CutCells(r.Rows, 10); cut != 3 {
		t.Errorf("cut %d cells, want 3: %v", cut, r.Rows)
	}
	want := [][]any{
		{strings.Repeat("é", 9) + "…", "short", 12345678901234.0, nil},
		{`["a","b",…`, `{"k":"012…`, true, strings.Repeat("x", 10)},
	}
	for i := range want {
		for j := range want[i] {
			if r.Rows[i][j] != want[i][j] {
				t.Errorf("cell %d,%d = %#v, want %#v", i, j, r.Rows[i][j], want[i][j])
			}
		}
	}
}
