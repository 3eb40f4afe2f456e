package sqlengine

import "testing"

func TestExplainTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"EXPLAIN SELECT 1", "SELECT 1", true},
		{"  explain\n analyze SELECT 1", "SELECT 1", true},
		{"EXPLAIN ANALYSE VERBOSE SELECT 1", "SELECT 1", true},
		{"-- c\nEXPLAIN /* a */ ANALYZE /* b */ CREATE TABLE z AS SELECT 1", "CREATE TABLE z AS SELECT 1", true},
		{"EXPLAIN (FORMAT JSON) SELECT 1", "SELECT 1", true},
		{"EXPLAIN (ANALYZE, FORMAT 'a)b') INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)", true},
		{"EXPLAIN ANALYZE (SELECT 1)", "(SELECT 1)", true},
		{"EXPLAIN ( select 1)", "( select 1)", true},
		{"EXPLAIN (FORMAT JSON", "", false},
		{"SELECT 1", "", false},
		{"EXPLAINX SELECT 1", "", false},
	} {
		got, ok := explainTarget(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("explainTarget(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIsBlank(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{" \t\r\n", true},
		{";", true},
		{"-- x", true},
		{"-- x\n;\n-- y\n", true},
		{"/* x */", true},
		{"/* a /* b */ c */ ;", true},
		{"/* unterminated", true},
		{"SELECT 1", false},
		{"/* x */ SELECT 1", false},
		{"-- x\nSELECT 1", false},
		{"; SELECT 1", false},
		{"/* a /* b */ c */ x", false},
	} {
		if got := isBlank(tc.in); got != tc.want {
			t.Errorf("isBlank(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"sales":      "sales",
		"sales@v2":   "sales",
		"sales@v12":  "sales",
		"sales@v":    "sales@v",
		"sales@vx":   "sales@vx",
		"@v1":        "@v1",
		"a@v1@v2":    "a@v1",
		"mail@video": "mail@video",
	} {
		if got := baseName(in); got != want {
			t.Errorf("baseName(%q) = %q, want %q", in, got, want)
		}
	}
}
