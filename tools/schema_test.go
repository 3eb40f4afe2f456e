package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// TestMain makes every tool of these tests check its results against its
// output schema, as a strict client would.
func TestMain(m *testing.M) {
	checkOutputs = true
	os.Exit(m.Run())
}

// TestSchemas_Portable checks every tool's input and output schema as
// strict clients do (MCP Inspector's --strict, the OpenAPI subset of
// Gemini's): no list of types, no boolean schema where a schema of values
// belongs, and a keyword to check in every schema.
func TestSchemas_Portable(t *testing.T) {
	for _, tool := range All(nil) {
		for which, s := range map[string]any{"input": tool.InputSchema, "output": tool.OutputSchema} {
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			json.Unmarshal(b, &v)
			for _, p := range portabilityProblems(tool.Name+" "+which, v) {
				t.Error(p)
			}
		}
	}
}

// portabilityProblems lists what a strict client would refuse in schema v
// (decoded JSON) at path.
func portabilityProblems(path string, v any) []string {
	s, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: a boolean schema (%v)", path, v)}
	}
	var out []string
	if _, ok := s["type"].([]any); ok {
		out = append(out, fmt.Sprintf("%s: a list of types %v", path, s["type"]))
	}
	keyword := false
	for _, k := range []string{"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "not"} {
		if _, ok := s[k]; ok {
			keyword = true
		}
	}
	if !keyword {
		out = append(out, path+": no keyword that checks a value")
	}
	for k, sub := range s {
		switch k {
		case "properties", "$defs":
			for name, p := range sub.(map[string]any) {
				out = append(out, portabilityProblems(path+"."+name, p)...)
			}
		case "items":
			out = append(out, portabilityProblems(path+"[]", sub)...)
		case "additionalProperties":
			if sub != false {
				out = append(out, portabilityProblems(path+"{}", sub)...)
			}
		case "anyOf", "oneOf", "allOf", "prefixItems":
			for i, p := range sub.([]any) {
				out = append(out, portabilityProblems(fmt.Sprintf("%s.%s[%d]", path, k, i), p)...)
			}
		}
	}
	return out
}

// TestSchemas_OutputsChecked: with outputs checked, a result that breaks
// its schema (a nil list, null where the schema says array) is an error,
// so the tests catch any tool that would send one.
func TestSchemas_OutputsChecked(t *testing.T) {
	type listOut struct {
		Items []string `json:"items"`
	}
	tool := define("nil_list", "returns a nil list", readOnly("Nil list"), func(context.Context, struct{}) (listOut, error) {
		return listOut{}, nil
	})
	if got := tool.OutputSchema.Properties["items"].Type; got != "array" {
		t.Fatalf("items schema type %q, want array", got)
	}
	if _, err := tool.Invoke(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "does not match its output schema") {
		t.Errorf("a nil list where the schema says array: %v, want an output schema error", err)
	}
}

// TestArguments_Explained: the mistakes callers make most are told in the
// tool's words: the unknown argument with the ones the tool takes, the
// missing one, and the argument of the wrong type with the type wanted.
func TestArguments_Explained(t *testing.T) {
	tool := sqlTools(nil)[0]
	for _, c := range []struct {
		args, want string
	}{
		{`{"query": "SELECT 1"}`, `unknown argument "query"; this tool takes max_rows, sql, timeout_ms`},
		{`{}`, `missing argument "sql"; this tool takes max_rows, sql, timeout_ms (required: sql)`},
		{`{"sql": "SELECT 1", "max_rows": "ten"}`, `argument max_rows must be an integer, not a string`},
		{`{"sql": "SELECT 1", "max_rows": 2.5}`, `argument max_rows must be an integer, not a number`},
		{`{"sql": ["SELECT 1"]}`, `argument sql must be a string, not an array`},
		{`["SELECT 1"]`, `arguments must be a JSON object of named arguments, not an array`},
	} {
		_, err := tool.Invoke(context.Background(), json.RawMessage(c.args))
		if err == nil || err.Error() != c.want || !errors.Is(err, errs.Invalid) {
			t.Errorf("query_sql %s: %v, want %q", c.args, err, c.want)
		}
	}
}
