package tools

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// derivedSession serves the dataset, derived and SQL tools over real
// engines.
func derivedSession(t *testing.T) *mcp.ClientSession {
	t.Helper()
	b := datasetBackends(t)
	tools := append(append(datasetTools(b), derivedTools(b)...), sqlTools(b)...)
	return connect(t, tools, nil)
}

// ingestCSV makes or changes dataset name from inline CSV.
func ingestCSV(t *testing.T, cs *mcp.ClientSession, name, mode, csv string) map[string]any {
	t.Helper()
	_, out := callTool(t, cs, "ingest_dataset", map[string]any{"name": name, "mode": mode, "format": "csv", "source": map[string]any{"content": csv}}, false)
	return out
}

// sqlRows runs query through query_sql and returns its rows.
func sqlRows(t *testing.T, cs *mcp.ClientSession, query string) []any {
	t.Helper()
	_, out := callTool(t, cs, "query_sql", map[string]any{"sql": query, "max_rows": 1000}, false)
	rows, _ := out["rows"].([]any)
	return rows
}

// lineageOf returns the lineage of get_manifest's output.
func lineageOf(t *testing.T, out map[string]any) (sql string, inputs []string) {
	t.Helper()
	l, ok := out["lineage"].(map[string]any)
	if !ok {
		t.Fatalf("no lineage in %v", out)
	}
	for _, in := range l["inputs"].([]any) {
		inputs = append(inputs, in.(string))
	}
	return l["sql"].(string), inputs
}

// A dataset derived from a JOIN of two others records the versions it
// read; refresh_dataset follows a changed input, then finds nothing new;
// dropping an input is refused, naming the derived dataset, unless forced.
func TestDerived_Session(t *testing.T) {
	cs := derivedSession(t)
	ingestCSV(t, cs, "customers", "", "id,name\n1,ada\n2,bob\n")
	ingestCSV(t, cs, "orders", "", "id,customer_id,amount\n10,1,5\n11,1,7\n12,2,1\n")
	ingestCSV(t, cs, "orders", "append", "id,customer_id,amount\n13,2,2\n")

	const spend = "SELECT c.name, sum(o.amount) AS total, count(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.name"
	_, out := callTool(t, cs, "ingest_dataset", map[string]any{"name": "spend", "source": map[string]any{"sql": spend}}, false)
	if out["version"] != 1.0 || out["rows"] != 2.0 || out["lineage"] == nil {
		t.Errorf("ingest_dataset source.sql = %v", out)
	}
	// A second dataset appends the rows of another statement to the first.
	_, out = callTool(t, cs, "ingest_dataset", map[string]any{"name": "spend", "mode": "append", "source": map[string]any{"sql": `SELECT 'zed' AS name, 0::HUGEINT AS total, 0::BIGINT AS n FROM "customers@v1" LIMIT 1`}}, false)
	if out["version"] != 2.0 || out["rows"] != 3.0 {
		t.Errorf("append from sql = %v", out)
	}
	// Re-running only the appended statement would lose the rows before it.
	res, _ := callTool(t, cs, "refresh_dataset", map[string]any{"name": "spend"}, true)
	if !strings.Contains(toolText(res), "appended") {
		t.Errorf("refresh of an append: %s", toolText(res))
	}
	_, out = callTool(t, cs, "ingest_dataset", map[string]any{"name": "spend", "mode": "replace", "source": map[string]any{"sql": spend}}, false)
	if out["version"] != 3.0 || out["rows"] != 2.0 {
		t.Errorf("replace from sql = %v", out)
	}

	_, man := callTool(t, cs, "get_manifest", map[string]any{"name": "spend"}, false)
	sql, inputs := lineageOf(t, man)
	if sql != spend || !slices.Equal(inputs, []string{"customers@v1", "orders@v2"}) {
		t.Errorf("lineage = %q %v, want the statement and [customers@v1 orders@v2]", sql, inputs)
	}
	versions := man["versions"].([]any)
	if v1 := versions[0].(map[string]any); v1["source"] != "sql" || v1["lineage"] == nil {
		t.Errorf("version 1 = %v", v1)
	}
	if got := sqlRows(t, cs, "SELECT name, total, n FROM spend ORDER BY name"); fmt.Sprint(got) != "[[ada 12 2] [bob 3 2]]" {
		t.Errorf("spend = %v", got)
	}

	// One input changes: the refresh reads its new version.
	ingestCSV(t, cs, "orders", "append", "id,customer_id,amount\n14,2,100\n")
	_, out = callTool(t, cs, "refresh_dataset", map[string]any{"name": "spend"}, false)
	if out["version"] != 4.0 || out["unchanged"] != false || out["mode"] != "replace" {
		t.Errorf("refresh = %v", out)
	}
	if got := sqlRows(t, cs, "SELECT name, total, n FROM spend ORDER BY name"); fmt.Sprint(got) != "[[ada 12 2] [bob 103 3]]" {
		t.Errorf("spend after refresh = %v", got)
	}
	_, man = callTool(t, cs, "get_manifest", map[string]any{"name": "spend"}, false)
	if _, inputs := lineageOf(t, man); !slices.Equal(inputs, []string{"customers@v1", "orders@v3"}) {
		t.Errorf("inputs after refresh = %v", inputs)
	}
	_, out = callTool(t, cs, "refresh_dataset", map[string]any{"name": "spend"}, false)
	if out["version"] != 4.0 || out["unchanged"] != true {
		t.Errorf("second refresh = %v", out)
	}

	// A version named in the statement stays that version.
	_, out = callTool(t, cs, "ingest_dataset", map[string]any{"name": "early", "source": map[string]any{"sql": `SELECT count(*) AS n FROM "orders@v1" JOIN orders USING (id)`}}, false)
	_, man = callTool(t, cs, "get_manifest", map[string]any{"name": "early"}, false)
	if _, inputs := lineageOf(t, man); !slices.Equal(inputs, []string{"orders@v1", "orders@v3"}) {
		t.Errorf("inputs of early = %v", inputs)
	}

	res, _ = callTool(t, cs, "drop_dataset", map[string]any{"name": "orders"}, true)
	if text := toolText(res); !strings.Contains(text, `"early" and "spend"`) || !strings.Contains(text, "force") {
		t.Errorf("drop of an input: %s", text)
	}
	res, _ = callTool(t, cs, "drop_dataset", map[string]any{"name": "customers"}, true)
	if text := toolText(res); !strings.Contains(text, `"spend"`) || strings.Contains(text, "early") {
		t.Errorf("drop of an input: %s", text)
	}
	_, out = callTool(t, cs, "drop_dataset", map[string]any{"name": "orders", "force": true}, false)
	if out["dropped"] != true {
		t.Errorf("forced drop = %v", out)
	}
	if got := sqlRows(t, cs, "SELECT count(*) FROM spend"); fmt.Sprint(got) != "[[2]]" {
		t.Errorf("spend after its input was dropped = %v", got)
	}
	res, _ = callTool(t, cs, "refresh_dataset", map[string]any{"name": "spend"}, true)
	if text := toolText(res); !strings.Contains(text, "orders") {
		t.Errorf("refresh without its input: %s", text)
	}
}

// A statement that may not run is a tool error, and makes no dataset; so
// is a refresh of a dataset that was not made from SQL.
func TestDerived_Refused(t *testing.T) {
	cs := derivedSession(t)
	ingestCSV(t, cs, "t", "", "a\n1\n")
	for _, c := range []struct {
		source map[string]any
		extra  map[string]any
		part   string
	}{
		{map[string]any{"sql": "CREATE TABLE x AS SELECT * FROM t"}, nil, "CREATE statements are not allowed"},
		{map[string]any{"sql": "DROP VIEW t"}, nil, "DROP statements are not allowed"},
		{map[string]any{"sql": "SELECT 1; SELECT 2"}, nil, "one statement"},
		{map[string]any{"sql": "SELECT * FROM duckdb_settings()"}, nil, "not allowed"},
		{map[string]any{"sql": "SELECT * FROM nosuch"}, nil, "nosuch"},
		{map[string]any{"sql": "SELECT 1", "content": "a\n1\n"}, nil, "exactly one source"},
		{map[string]any{"sql": "SELECT 1"}, map[string]any{"options": map[string]any{"header": true}}, "options do not apply"},
	} {
		args := map[string]any{"name": "d", "source": c.source}
		for k, v := range c.extra {
			args[k] = v
		}
		res, _ := callTool(t, cs, "ingest_dataset", args, true)
		if !strings.Contains(toolText(res), c.part) {
			t.Errorf("%v: %s, want %q", c.source, toolText(res), c.part)
		}
	}
	callTool(t, cs, "get_manifest", map[string]any{"name": "d"}, true)
	// The mode is checked before the statement runs.
	res, _ := callTool(t, cs, "ingest_dataset", map[string]any{"name": "t", "source": map[string]any{"sql": "SELECT 2 AS a"}}, true)
	if !strings.Contains(toolText(res), "already exists") {
		t.Errorf("create over a dataset: %s", toolText(res))
	}
	res, _ = callTool(t, cs, "ingest_dataset", map[string]any{"name": "u", "mode": "append", "source": map[string]any{"sql": "SELECT 2 AS a"}}, true)
	if !strings.Contains(toolText(res), "does not exist") {
		t.Errorf("append to no dataset: %s", toolText(res))
	}
	res, _ = callTool(t, cs, "refresh_dataset", map[string]any{"name": "t"}, true)
	if !strings.Contains(toolText(res), "not made from SQL") {
		t.Errorf("refresh of a CSV dataset: %s", toolText(res))
	}
	res, _ = callTool(t, cs, "refresh_dataset", map[string]any{"name": "nope"}, true)
	if !strings.Contains(toolText(res), "not found") {
		t.Errorf("refresh of a missing dataset: %s", toolText(res))
	}
}

// get_manifest's random sample draws rows from the whole version: other
// rows than the first ones, each of them a row of the dataset.
func TestGetManifest_RandomSample(t *testing.T) {
	cs := derivedSession(t)
	// A table function is no dataset: the lineage has no inputs.
	_, out := callTool(t, cs, "ingest_dataset", map[string]any{"name": "big", "source": map[string]any{"sql": "SELECT range AS i, range * 2 AS j FROM range(100000)"}}, false)
	if out["rows"] != 100000.0 {
		t.Fatalf("ingest = %v", out)
	}
	if l := out["lineage"].(map[string]any); len(l["inputs"].([]any)) != 0 {
		t.Errorf("inputs of a table function = %v", l["inputs"])
	}
	sample := func(kind string) [][2]float64 {
		_, man := callTool(t, cs, "get_manifest", map[string]any{"name": "big", "sample_rows": 20, "sample": kind}, false)
		var rows [][2]float64
		for _, r := range man["sample"].(map[string]any)["rows"].([]any) {
			r := r.([]any)
			rows = append(rows, [2]float64{r[0].(float64), r[1].(float64)})
		}
		if len(rows) != 20 {
			t.Fatalf("%s sample has %d rows", kind, len(rows))
		}
		return rows
	}
	first := sample("")
	for i, r := range first {
		if r != [2]float64{float64(i), float64(2 * i)} {
			t.Fatalf("first rows = %v", first)
		}
	}
	a, b := sample("random"), sample("random")
	if fmt.Sprint(a) == fmt.Sprint(first) || fmt.Sprint(a) == fmt.Sprint(b) {
		t.Errorf("random samples %v and %v, first rows %v", a, b, first)
	}
	for _, r := range append(a, b...) {
		if r[0] < 0 || r[0] >= 100000 || r[1] != 2*r[0] {
			t.Errorf("random sample row %v is not a row of the dataset", r)
		}
	}
	res, _ := callTool(t, cs, "get_manifest", map[string]any{"name": "big", "sample_rows": 3, "sample": "last"}, true)
	if !strings.Contains(toolText(res), "first") {
		t.Errorf("unknown sample kind: %s", toolText(res))
	}
}

// refresh_dataset adds a version and keeps the one before: additive, not
// destructive; a repeated call on unchanged inputs adds nothing.
func TestRefreshDataset_Annotations(t *testing.T) {
	for _, tool := range All(nil) {
		if tool.Name != "refresh_dataset" {
			continue
		}
		a := tool.Annotations
		if a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint || !a.IdempotentHint || a.OpenWorldHint == nil || *a.OpenWorldHint {
			t.Errorf("refresh_dataset annotations = %+v", a)
		}
		return
	}
	t.Fatal("refresh_dataset is not in All")
}
