package tools

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An argCase decodes the arguments of one tool as its handler receives
// them (decodeArgs with the tool's input schema).
type argCase struct {
	tool   string
	fields []string // the input schema's property names
	// decode returns the decoded arguments encoded again, or the error.
	decode func(raw json.RawMessage) ([]byte, error)
}

func argCaseFor[In any](tool string) argCase {
	schema := schemaFor[In]()
	resolved, err := schema.Resolve(nil)
	if err != nil {
		panic(tool + ": " + err.Error())
	}
	return argCase{
		tool:   tool,
		fields: slices.Sorted(maps.Keys(schema.Properties)),
		decode: func(raw json.RawMessage) ([]byte, error) {
			in, _, err := decodeArgs[In](resolved, raw)
			if err != nil {
				return nil, err
			}
			return json.Marshal(in)
		},
	}
}

// argCases covers every tool of the table, each with its own In type.
var argCases = []argCase{
	argCaseFor[putObjectIn]("put_object"),
	argCaseFor[getObjectIn]("get_object"),
	argCaseFor[listObjectsIn]("list_objects"),
	argCaseFor[deleteObjectIn]("delete_object"),
	argCaseFor[ingestIn]("ingest_dataset"),
	argCaseFor[listDatasetsIn]("list_datasets"),
	argCaseFor[getManifestIn]("get_manifest"),
	argCaseFor[dropDatasetIn]("drop_dataset"),
	argCaseFor[refreshDatasetIn]("refresh_dataset"),
	argCaseFor[querySQLIn]("query_sql"),
	argCaseFor[exportQueryIn]("export_query"),
	argCaseFor[embedIn]("embed_text"),
	argCaseFor[createIndexIn]("create_index"),
	argCaseFor[struct{}]("list_indexes"),
	argCaseFor[indexNameIn]("drop_index"),
	argCaseFor[upsertIn]("upsert_vectors"),
	argCaseFor[deleteVectorsIn]("delete_vectors"),
	argCaseFor[searchIn]("search_vectors"),
	argCaseFor[matrixSearchIn]("matrix_search"),
	argCaseFor[struct{}]("list_corpora"),
	argCaseFor[recordPlaybookIn]("record_playbook"),
	argCaseFor[scoreRelevanceIn]("score_relevance"),
	argCaseFor[downgradeGateIn]("downgrade_gate"),
	argCaseFor[indexDatasetIn]("index_dataset"),
	argCaseFor[addTraceIn]("add_trace"),
	argCaseFor[updateTraceIn]("update_trace"),
	argCaseFor[reviseTraceIn]("revise_trace"),
	argCaseFor[retireTraceIn]("retire_trace"),
	argCaseFor[traceIn]("get_trace"),
	argCaseFor[traceIn]("trace_history"),
	argCaseFor[searchTracesIn]("search_traces"),
	argCaseFor[struct{}]("pathway_stats"),
	argCaseFor[recordEventIn]("record_event"),
	argCaseFor[statsIn]("observer_stats"),
	argCaseFor[listEventsIn]("list_events"),
}

// goTypeNames are signs of Go's own type names in an error message, which
// mean nothing to an agent.
var goTypeNames = []string{"Go struct field", "Go value of type", "tools.", "[]float32", "[]string", "map[string]", "json.RawMessage", "interface {}", "*bool", "*string", "goroutine ", ".go:"}

// FuzzDecodeArgs checks how every tool decodes its arguments, feeding the
// same raw bytes to each tool's decodeArgs (the path a call takes before its
// handler). For garbage it returns an error that becomes a tool error
// (isError, the message as its text) naming no Go types, carrying no stack
// and not calling valid JSON "not JSON"; it never panics. What it accepts is nothing, null or a JSON object
// whose every property is one the tool's input schema names, exactly as
// spelled (encoding/json would otherwise fold the case of names); and it
// round-trips: the decoded arguments, encoded again, decode without error to
// the same value.
func FuzzDecodeArgs(f *testing.F) {
	var names []string
	for _, t := range All(nil) {
		names = append(names, t.Name)
	}
	var covered []string
	for _, c := range argCases {
		covered = append(covered, c.tool)
	}
	slices.Sort(names)
	slices.Sort(covered)
	if !slices.Equal(names, covered) {
		f.Fatalf("argCases covers %v, the tool table has %v: add a case for each new tool", covered, names)
	}

	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `1`, `true`, `{`, `{"key": }`, "\xff",
		`{"key": "notes/a.md", "content": "hello", "encoding": "utf8"}`,
		`{"key": "bin", "content": "AAEC", "encoding": "base64", "content_type": "application/octet-stream"}`,
		`{"key": "a", "max_bytes": 9223372036854775807}`,
		`{"key": "a", "max_bytes": 9223372036854775808}`,
		`{"prefix": "rep", "cursor": "c", "limit": 1000}`,
		`{"limit": 1.0}`, `{"limit": 1.5}`, `{"limit": -1e300}`, `{"limit": "10"}`,
		`{"name": "sales", "source": {"content": "a,b\n1,2\n"}, "format": "csv", "mode": "append", "options": {"delimiter": ";", "header": true, "null_strings": ["NA"], "types": {"zip": "VARCHAR"}}}`,
		`{"name": "sales", "source": {"object_key": "raw/s.csv"}, "options": {"header": "yes"}}`,
		`{"name": "sales", "version": 2, "sample_rows": 20}`,
		`{"sql": "SELECT 1", "max_rows": 10000, "timeout_ms": 600000}`,
		`{"sql": null}`, `{"SQL": "SELECT 1"}`, `{"sql": "SELECT 1", "Sql": "DROP TABLE t"}`,
		`{"sql": "a", "sql": "b"}`, `{"sql": "\ud800"}`, `{"sql": "\u0000"}`,
		`{"texts": ["a", "b"]}`, `{"texts": [1]}`,
		`{"name": "docs", "dims": 384, "metric": "cosine"}`,
		`{"index": "docs", "items": [{"id": "1", "text": "t", "metadata": {"lang": "en", "n": 1e308}}, {"id": "2", "vector": [0.1, -2, 3e38]}]}`,
		`{"index": "docs", "items": [{"id": "2", "vector": [1e39]}]}`,
		`{"index": "docs", "items": [{"id": "2", "vector": [1e-50, -0]}]}`,
		`{"index": "docs", "items": null}`,
		`{"index": "docs", "ids": ["1", "2"]}`,
		`{"index": "docs", "query_text": "q", "query_vector": [1, 2], "k": 5, "ef": 64, "filter": {"lang": ["en"], "year": {"gte": 2020}}, "include_vectors": true, "max_text_bytes": 65536}`,
		`{"query_text": "q", "corpora": ["a", "b"], "k": 5, "per_corpus_k": 10, "merge": "weighted", "weights": {"a": 2.5}, "exclude_ids": ["a:1"], "min_score": -0.5, "partial": true}`,
		`{"query_text": "E0425", "mode": "lexical", "rerank": {"relevance": {"focus": {"path": "a/b.go", "content": "package b", "defined_symbols": ["F"], "imported_symbols": []}, "threshold": 0.3}}}`,
		`{"query_vector": [1], "mode": "hybrid", "rerank": {"relevance": null}}`,
		`{"focus": {"path": "a/b.go", "content": "package b", "defined_symbols": ["F"]}, "chunks": [{"source": "a/b.go", "doc_id": "1", "text": "F", "score": 0.5}], "threshold": -0.5}`,
		`{"mode": "codereview_lakehouse", "model": "qwen3:latest", "forced_mode": ""}`,
		`{"query_text": "q", "answer_id": "1", "answer_corpus": "docs", "score": 0.5, "tags": ["t"], "playbook_corpus": "playbook_x", "entries": [{"query_text": "q", "score": 2}]}`,
		`{"dataset": "d", "text_column": "t", "id_column": "id", "metadata_columns": ["a"], "where": "a > 1", "index": "i"}`,
		`{"dataset": "d", "text_columns": ["t", "u"], "metadata_columns": ["a"]}`,
		`{"dataset": "d", "text_template": "{Title} ({Major Genre}, {{x}})", "text_columns": "t"}`,
		`{"content": {"tried": "x", "big": 123456789012345678901234567890}, "text": "t", "tags": ["a"], "uid": "u1"}`,
		`{"content": [1, {"a": null}], "uid": "u"}`, `{"content": "\u00e9"}`,
		`{"uid": "u", "content": null, "text": null, "tags": null}`,
		`{"uid": "u", "text": ""}`,
		`{"predecessor_uid": "u", "content": true, "text": "t", "tags": []}`,
		`{"uid": "u", "reason": "obsolete"}`,
		`{"query": "q", "tags_all": ["a"], "tags_any": ["b"], "include_retired": true, "include_superseded": false, "created_after": "2026-01-01", "created_before": "2026-12-02T10:00:00Z", "limit": 200, "cursor": "c"}`,
		`{"query": "E0425", "mode": "lexical", "min_score": -0.5}`, `{"query": "q", "mode": "bm25", "min_score": "high"}`,
		`{"id": "e", "endpoint": "scenario", "source": "agent", "success": false, "duration_ms": 1.5, "error": "boom", "tags": ["t"], "fields": {"a": [1, {"b": 2}]}, "timestamp": "2026-01-01"}`,
		`{"endpoint": "x", "success": null}`,
		`{"since": "2026-01-01"}`,
		`{"tool": "query_sql", "source": "mcp", "success": true, "limit": 10}`,
		`{"a": {"b": {"c": {"d": {"e": [[[[[[[[[[1]]]]]]]]]]}}}}}`,
		strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000),
		`{"key": "` + strings.Repeat("k", 2000) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, c := range argCases {
			enc, err := c.decode(json.RawMessage(raw))
			if err != nil {
				checkToolError(t, c.tool, raw, err)
				continue
			}
			// Accepted: nothing, null or an object of known properties.
			if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && string(trimmed) != "null" {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(raw, &obj); err != nil {
					t.Fatalf("%s accepted %q, which is not a JSON object: %v", c.tool, raw, err)
				}
				for k := range obj {
					if _, ok := slices.BinarySearch(c.fields, k); !ok {
						t.Fatalf("%s accepted %q with the property %q, which its schema does not name (it has %v)", c.tool, raw, k, c.fields)
					}
				}
			}
			// And it round-trips.
			again, err := c.decode(enc)
			if err != nil {
				t.Fatalf("%s accepted %q, but not its own encoding %s: %v", c.tool, raw, enc, err)
			}
			if !bytes.Equal(again, enc) {
				t.Fatalf("%s: %q decoded to %s, which decodes to %s", c.tool, raw, enc, again)
			}
		}
	})
}

// checkToolError checks the error that decoding raw for tool returned: as
// define's handler returns it, it is a tool error whose text is the
// error's message, and that message is for an agent.
func checkToolError(t *testing.T, tool string, raw []byte, err error) {
	t.Helper()
	res := errorResult(err)
	if !res.IsError || len(res.Content) != 1 {
		t.Fatalf("%s(%q): error %v gives no tool error: %+v", tool, raw, err, res)
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok || text.Text != err.Error() || text.Text == "" {
		t.Fatalf("%s(%q): tool error content %+v, want the message %q", tool, raw, res.Content[0], err.Error())
	}
	if strings.Contains(text.Text, "not JSON") && json.Valid(raw) {
		t.Fatalf("%s(%q): error %q calls valid JSON not JSON", tool, raw, text.Text)
	}
	for _, s := range goTypeNames {
		if strings.Contains(text.Text, s) {
			t.Fatalf("%s(%q): error %q speaks of Go (%q)", tool, raw, text.Text, s)
		}
	}
}
