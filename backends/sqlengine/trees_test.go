package sqlengine

import (
	"fmt"
	"strings"
	"testing"
)

// The cache keeps the latest max entries, refreshes an entry on use, and
// refuses entries over maxEntry bytes.
func TestTreeCache(t *testing.T) {
	c := treeCache{max: 2, maxEntry: 20}
	c.put("a", "tree a", "")
	c.put("b", "", "not a query")
	if tree, _, ok := c.get("a"); !ok || tree != "tree a" { // a is now the most recent
		t.Fatalf("get a = %q %v", tree, ok)
	}
	c.put("c", "tree c", "")
	if _, _, ok := c.get("b"); ok {
		t.Error("b outlived two newer entries")
	}
	for _, q := range []string{"a", "c"} {
		if _, _, ok := c.get(q); !ok {
			t.Errorf("%s was dropped", q)
		}
	}
	c.put("big", strings.Repeat("x", 20), "")
	if _, _, ok := c.get("big"); ok {
		t.Error("an entry over maxEntry was kept")
	}
}

// A remembered tree answers like a fresh one: the refusals, the row cap and
// the errors of statements that are not query nodes are the same the
// second time a text comes.
func TestTreeCache_SameAnswers(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	for _, q := range []string{
		fmt.Sprintf("SELECT * FROM range(%d)", 7),
		"SELECT read_text('/etc/passwd')",
		"CREATE TABLE x AS SELECT 1",
		"SELECT 1; SELECT 2",
	} {
		r1, err1 := e.Query(t.Context(), q, 5)
		r2, err2 := e.Query(t.Context(), q, 5)
		if fmt.Sprint(err1) != fmt.Sprint(err2) || (r1 == nil) != (r2 == nil) || r1 != nil && (r1.RowCount != r2.RowCount || r1.Truncated != r2.Truncated) {
			t.Errorf("%s: first %v %v, then %v %v", q, r1, err1, r2, err2)
		}
		if _, _, ok := trees.get(q); !ok && err1 == nil {
			t.Errorf("%s: not remembered", q)
		}
	}
}
