package tools

import (
	"strings"
	"testing"

	"lakehouse/backends/sqlengine"
)

func TestQueryText(t *testing.T) {
	r := &sqlengine.Result{
		Columns:   []sqlengine.Column{{Name: "name", Type: "VARCHAR"}, {Name: "tags", Type: "VARCHAR[]"}, {Name: "n", Type: "BIGINT"}},
		Rows:      [][]any{{"a|b", []any{"x", "y"}, 3.0}, {strings.Repeat("é", 300), nil, "9007199254740993"}},
		RowCount:  2,
		Truncated: true,
	}
	got := capResult(r).Text()
	want := "| name | tags | n |\n|---|---|---|\n| a\\|b | [\"x\",\"y\"] | 3 |\n| " + strings.Repeat("é", MaxCell-1) + "… | NULL | 9007199254740993 |\n\n2 row(s), 1 cell(s) cut at 200 characters (…): substr() or export_query has the rest, truncated: more rows exist (add LIMIT/OFFSET, select fewer or shorter columns, or aggregate), 0 ms"
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
