package tools

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callTool calls a tool and returns its structured result, failing the
// test on a transport error or, unless wantError, a tool error.
func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, wantError bool) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError != wantError {
		t.Fatalf("%s: isError %v, want %v: %v", name, res.IsError, wantError, toolText(res))
	}
	out, _ := res.StructuredContent.(map[string]any)
	return res, out
}

// toolText is the text content of a tool result.
func toolText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// putBinary stores b as an object through put_object.
func putBinary(t *testing.T, cs *mcp.ClientSession, key string, b []byte) {
	t.Helper()
	callTool(t, cs, "put_object", map[string]any{"key": key, "content": base64.StdEncoding.EncodeToString(b), "encoding": "base64"}, false)
}

// smallArrowFile is an Arrow IPC file of two rows: id BIGINT, name VARCHAR.
func smallArrowFile(t *testing.T) []byte {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"ann", "bob"}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ingest_dataset over MCP on the formats and types an agent now controls:
// mixed JSON types widened (and said so), Arrow IPC, a gzip CSV, and a PNG
// refused with a message that names it.
func TestIngestDataset_Formats(t *testing.T) {
	b := datasetBackends(t)
	cs := connect(t, append(append(datasetTools(b), objectTools(b)...), sqlTools(b)...), nil)
	testdata := filepath.Join("..", "testdata")
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	t.Run("mixed_json", func(t *testing.T) {
		_, out := callTool(t, cs, "ingest_dataset", map[string]any{
			"name": "movies", "source": map[string]any{"content": string(read("movies_mixed.json"))},
		}, false)
		if out["format"] != "json" || out["rows"] != 20.0 {
			t.Errorf("ingest_dataset = %v", out)
		}
		widened, _ := out["widened"].([]any)
		byColumn := map[string]map[string]any{}
		for _, w := range widened {
			w := w.(map[string]any)
			byColumn[w["column"].(string)] = w
		}
		if w := byColumn["Title"]; w == nil || w["from"] != "VARCHAR, BIGINT" || w["to"] != "VARCHAR" || !strings.Contains(w["reason"].(string), "9 BIGINT") {
			t.Errorf("Title widening %v (all: %v)", w, widened)
		}
		if w := byColumn["Info"]; w == nil || w["to"] != "JSON" {
			t.Errorf("Info widening %v", w)
		}
		_, q := callTool(t, cs, "query_sql", map[string]any{"sql": "SELECT Year FROM movies WHERE Title = 'Avatar'"}, false)
		if rows, _ := q["rows"].([]any); len(rows) != 1 || rows[0].([]any)[0] != 2009.0 {
			t.Errorf("WHERE Title = 'Avatar': %v", q)
		}
		_, q = callTool(t, cs, "query_sql", map[string]any{"sql": "SELECT Title FROM movies WHERE Year = 2006"}, false)
		if rows, _ := q["rows"].([]any); len(rows) != 1 || rows[0].([]any)[0] != "300" {
			t.Errorf("a number title: %v", q)
		}
		// Kept as JSON on request, Title compared with text fails, and the
		// error names the JSON columns and what to write instead.
		callTool(t, cs, "ingest_dataset", map[string]any{
			"name": "movies_json", "source": map[string]any{"content": string(read("movies_mixed.json"))},
			"options": map[string]any{"types": map[string]any{"Title": "JSON"}},
		}, false)
		res, _ := callTool(t, cs, "query_sql", map[string]any{"sql": "SELECT Year FROM movies_json WHERE Title = 'Avatar'"}, true)
		if text := toolText(res); !strings.Contains(text, "Malformed JSON") || !strings.Contains(text, `movies_json."Title"`) || !strings.Contains(text, "->>'$'") || !strings.Contains(text, "options.types") {
			t.Errorf("a JSON column compared with text: %s", text)
		}
		_, q = callTool(t, cs, "query_sql", map[string]any{"sql": "SELECT Year FROM movies_json WHERE Title->>'$' = 'Avatar'"}, false)
		if rows, _ := q["rows"].([]any); len(rows) != 1 || rows[0].([]any)[0] != 2009.0 {
			t.Errorf("the fix the error gives: %v", q)
		}
	})

	t.Run("options", func(t *testing.T) {
		_, out := callTool(t, cs, "ingest_dataset", map[string]any{
			"name": "titles", "source": map[string]any{"content": string(read("movies_mixed.json"))},
			"options": map[string]any{"columns": map[string]any{"Title": "title", "Released": "released"}, "date_format": "%b %d %Y"},
		}, false)
		cols, _ := out["columns"].([]any)
		if len(cols) != 2 || cols[0].(map[string]any)["name"] != "title" || cols[1].(map[string]any)["type"] != "DATE" {
			t.Errorf("columns %v", cols)
		}
		res, _ := callTool(t, cs, "ingest_dataset", map[string]any{
			"name": "bad_dates", "source": map[string]any{"content": string(read("movies_mixed.json"))},
			"options": map[string]any{"date_format": "MMM D YYYY"},
		}, true)
		if text := toolText(res); !strings.Contains(text, "options.date_format") || !strings.Contains(text, "%b %d %Y") {
			t.Errorf("bad date_format: %s", text)
		}
	})

	t.Run("arrow", func(t *testing.T) {
		putBinary(t, cs, "in/people.arrow", smallArrowFile(t))
		_, out := callTool(t, cs, "ingest_dataset", map[string]any{"name": "people", "source": map[string]any{"object_key": "in/people.arrow"}}, false)
		if out["format"] != "arrow" || out["rows"] != 2.0 {
			t.Errorf("ingest_dataset = %v", out)
		}
		_, q := callTool(t, cs, "query_sql", map[string]any{"sql": "SELECT name FROM people WHERE id = 2"}, false)
		if rows, _ := q["rows"].([]any); len(rows) != 1 || rows[0].([]any)[0] != "bob" {
			t.Errorf("query: %v", q)
		}
	})

	t.Run("gzip_csv", func(t *testing.T) {
		putBinary(t, cs, "in/sales-upload", read("sales.csv.gz")) // no extension: known by its bytes
		_, out := callTool(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"object_key": "in/sales-upload"}}, false)
		if out["format"] != "csv" || out["compression"] != "gzip" || out["rows"] != 8.0 {
			t.Errorf("ingest_dataset = %v", out)
		}
		if _, ok := out["widened"]; ok {
			t.Errorf("widened %v for a CSV with no mixed columns", out["widened"])
		}
	})

	t.Run("png_refused", func(t *testing.T) {
		putBinary(t, cs, "in/chart.png", read("tiny.png"))
		res, _ := callTool(t, cs, "ingest_dataset", map[string]any{"name": "chart", "source": map[string]any{"object_key": "in/chart.png"}}, true)
		text := toolText(res)
		for _, want := range []string{"unsupported format", "a PNG image", "csv, tsv, json, ndjson", "parquet and arrow"} {
			if !strings.Contains(text, want) {
				t.Errorf("refusal %q does not say %q", text, want)
			}
		}
	})
}
