package sqlengine

import (
	"encoding/json"
	"unicode/utf8"
)

// Caps on a result for a reader with little room, a model most often: long
// cells cut, and rows past a byte budget dropped. Whole values and whole
// results are what Export is for.

// CutCells cuts each cell of rows longer than max characters (a nested
// value by its JSON text) to its first max-1 characters and "…", so the cut
// is visible in the value itself. It returns how many cells it cut.
func CutCells(rows [][]any, max int) (cut int) {
	for _, row := range rows {
		for i, v := range row {
			var s string
			switch v := v.(type) {
			case string:
				s = v
			case map[string]any, []any:
				b, _ := json.Marshal(v)
				s = string(b)
			default:
				continue
			}
			if utf8.RuneCountInString(s) <= max {
				continue
			}
			row[i] = string([]rune(s)[:max-1]) + "…"
			cut++
		}
	}
	return cut
}

// CapBytes keeps the leading rows of r whose JSON fits in max bytes, and
// marks r truncated when it drops any.
func (r *Result) CapBytes(max int) {
	size := 0
	for i, row := range r.Rows {
		b, _ := json.Marshal(row)
		if size += len(b) + 1; size > max {
			r.Rows, r.RowCount, r.Truncated = r.Rows[:i], i, true
			return
		}
	}
}
