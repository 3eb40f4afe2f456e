package tools

import (
	"strings"
	"testing"

	"lakehouse/backends/sqlengine"
)

func TestCapBytes(t *testing.T) {
	r := &sqlengine.Result{Rows: [][]any{{"aaaa"}, {"bbbb"}, {"cccc"}}, RowCount: 3}
	capBytes(r, 20) // each row is 9 bytes of JSON (["aaaa"]) plus a separator
	if r.RowCount != 2 || len(r.Rows) != 2 || !r.Truncated {
		t.Errorf("capBytes kept %d rows (truncated %v), want 2 and true", r.RowCount, r.Truncated)
	}
	r = &sqlengine.Result{Rows: [][]any{{"a"}}, RowCount: 1}
	capBytes(r, 20)
	if r.RowCount != 1 || r.Truncated {
		t.Errorf("small result changed: %+v", r)
	}
}

func TestQueryText(t *testing.T) {
	r := &sqlengine.Result{
		Columns:   []sqlengine.Column{{Name: "name", Type: "VARCHAR"}, {Name: "tags", Type: "VARCHAR[]"}, {Name: "n", Type: "BIGINT"}},
		Rows:      [][]any{{"a|b", []any{"x", "y"}, 3.0}, {strings.Repeat("é", 100), nil, "9007199254740993"}},
		RowCount:  2,
		Truncated: true,
	}
	got := queryOut{r}.Text()
	want := "| name | tags | n |\n|---|---|---|\n| a\\|b | [\"x\",\"y\"] | 3 |\n| " + strings.Repeat("é", 79) + "… | NULL | 9007199254740993 |\n\n2 row(s), truncated: more rows exist (add LIMIT/OFFSET, select fewer or shorter columns, or aggregate), 0 ms"
	if got != want {
		t.Errorf("Text() =\n%s\nwant\n%s", got, want)
	}
}

func TestTrimPartialRune(t *testing.T) {
	cases := map[string]string{"abc": "abc", "ab\xc3": "ab", "a\xe2\x82": "a", "é": "é", "": ""}
	for in, want := range cases {
		if got := string(trimPartialRune([]byte(in))); got != want {
			t.Errorf("trimPartialRune(%q) = %q, want %q", in, got, want)
		}
	}
}
