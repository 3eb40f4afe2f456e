package tools

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/matrix"
)

// reviewSession serves the code-review tools of b to an in-memory client.
func reviewSession(t *testing.T, b *Backends) *mcp.ClientSession {
	t.Helper()
	return connect(t, reviewTools(b), nil)
}

// reviewCall calls tool with args and returns its structured content as an
// Out, its text, and whether it was a tool error.
func reviewCall[Out any](t *testing.T, cs *mcp.ClientSession, tool string, args any) (Out, string, bool) {
	t.Helper()
	var out Out
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: transport error: %v", tool, err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: structured content %s: %v", tool, b, err)
		}
	}
	return out, text, res.IsError
}

const reviewFocus = `package matrix

import "encoding/json"

// Decide picks a review mode.
func Decide(mode string) string { return mode }
`

// TestReviewTools_Session lists and calls score_relevance and
// downgrade_gate through an MCP client: annotations, schemas, structured
// and text results, and tool errors for bad input.
func TestReviewTools_Session(t *testing.T) {
	cs := reviewSession(t, nil)
	ctx := context.Background()

	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		a := tool.Annotations
		if a == nil || !a.ReadOnlyHint || !a.IdempotentHint || a.OpenWorldHint == nil || *a.OpenWorldHint || tool.OutputSchema == nil {
			t.Errorf("%s: annotations %+v, output schema %v: want read-only, idempotent, closed world", tool.Name, a, tool.OutputSchema)
		}
		required := map[string]string{"score_relevance": `"required":["focus","chunks"]`, "downgrade_gate": `"required":["mode","model"]`}[tool.Name]
		if schema, _ := json.Marshal(tool.InputSchema); !strings.Contains(string(schema), required) {
			t.Errorf("%s: input schema %s lacks %s", tool.Name, schema, required)
		}
	}
	if !slices.Equal(names, []string{"downgrade_gate", "score_relevance"}) { // listed by name
		t.Errorf("tools = %v", names)
	}

	args := map[string]any{
		"focus": map[string]any{"path": "backends/matrix/gate.go", "content": reviewFocus},
		"chunks": []map[string]any{
			{"source": "docs", "doc_id": "faq#1", "text": "json.Marshal writes JSON", "score": 0.9},            // imports only: dropped
			{"source": "backends/matrix/gate.go", "doc_id": "gate.go#2", "text": "Decide picks a review mode"}, // the focus
			{"source": "backends/matrix/merge.go", "doc_id": "merge.go|1", "text": "merges hits"},              // a neighbour
		},
	}
	out, text, isErr := reviewCall[scoreRelevanceOut](t, cs, "score_relevance", args)
	if isErr {
		t.Fatalf("score_relevance: %s", text)
	}
	// The focus's words are {matrix, encoding, json, decide, picks, review,
	// mode}; the second chunk's {decide, picks, review, mode} share 4 of 7.
	if len(out.Kept) != 2 || out.Dropped != 1 || out.Threshold != matrix.DefaultThreshold ||
		out.Kept[0].Index != 1 || out.Kept[0].Relevance != 1.8286 || out.Kept[1].Index != 2 || out.Kept[1].Relevance != 0.3 {
		t.Errorf("score_relevance = %+v", out)
	}
	if f := out.Focus; f.Language != "go" || f.DefinedSymbols != 1 || f.ImportedSymbols != 2 {
		t.Errorf("focus = %+v", f)
	}
	wantText := "| index | source | doc_id | relevance | reasons |\n|---|---|---|---|---|\n" +
		"| 1 | backends/matrix/gate.go | gate.go#2 | 1.829 | names_path +1: source backends/matrix/gate.go names the focus path; defines_symbol +0.6: mentions Decide; token_overlap +0.2286: shares 4 word(s) with the focus (jaccard 0.571): decide, mode, picks and 1 more |\n" +
		"| 2 | backends/matrix/merge.go | merge.go\\|1 | 0.3 | same_area +0.3: source backends/matrix/merge.go is under backends/matrix, like the focus |\n\n" +
		"2 chunk(s) kept, 1 dropped below 0.3; focus backends/matrix/gate.go (go) with 1 defined and 2 imported symbols"
	if text != wantText {
		t.Errorf("text =\n%s\nwant\n%s", text, wantText)
	}

	args["threshold"] = -0.5
	if out, _, _ := reviewCall[scoreRelevanceOut](t, cs, "score_relevance", args); len(out.Kept) != 3 || out.Kept[2].Score == nil || *out.Kept[2].Score != 0.9 {
		t.Errorf("threshold -0.5: %+v", out)
	}

	d, text, isErr := reviewCall[downgradeGateOut](t, cs, "downgrade_gate", map[string]any{"mode": "codereview_lakehouse", "model": "claude-opus-4"})
	if isErr || d.Mode != "codereview_isolation" || d.DowngradedFrom != "codereview_lakehouse" || d.Rule != matrix.RuleStrongModel ||
		!strings.HasPrefix(text, "mode codereview_isolation (downgraded from codereview_lakehouse; rule strong_model): claude-opus-4 is a strong model") {
		t.Errorf("downgrade_gate(strong) = %+v, %q", d, text)
	}
	d, text, _ = reviewCall[downgradeGateOut](t, cs, "downgrade_gate", map[string]any{"mode": "codereview_lakehouse", "model": "qwen3:latest"})
	if d.Mode != "codereview_lakehouse" || d.DowngradedFrom != "" || !strings.HasPrefix(text, "mode codereview_lakehouse (rule weak_model): ") {
		t.Errorf("downgrade_gate(weak) = %+v, %q", d, text)
	}

	for _, c := range []struct {
		tool string
		args any
		want string
	}{
		{"score_relevance", map[string]any{"chunks": []any{}}, "focus"},
		{"score_relevance", map[string]any{"focus": map[string]any{"path": ""}, "chunks": []map[string]any{{"source": "s", "doc_id": "d", "text": "t"}}}, "focus.path is required"},
		{"score_relevance", map[string]any{"focus": map[string]any{"path": "a.go"}, "chunks": []any{}}, "chunks is empty"},
		{"score_relevance", map[string]any{"focus": map[string]any{"path": "a.go"}, "chunks": []map[string]any{{"source": "s", "text": "t"}}}, "doc_id"},
		{"score_relevance", map[string]any{"focus": map[string]any{"path": "a.go"}, "chunks": slices.Repeat([]map[string]any{{"source": "s", "doc_id": "d", "text": "t"}}, 1001)}, "1001 chunks; the limit is 1000"},
		{"score_relevance", map[string]any{"focus": map[string]any{"path": "a.go"}, "chunks": []map[string]any{{"source": "s", "doc_id": "d", "text": "t"}}, "threshold": 5}, "threshold = 5: must be between -0.5 and 2.6"},
		{"downgrade_gate", map[string]any{"mode": "", "model": "gpt-5"}, "mode is required"},
		{"downgrade_gate", map[string]any{"mode": "codereview_fast", "model": "gpt-5"}, `mode "codereview_fast" is not a review mode of this server; use one of codereview_lakehouse, codereview_isolation`},
		{"downgrade_gate", map[string]any{"mode": "codereview_lakehouse"}, "model"},
	} {
		if _, text, isErr := reviewCall[struct{}](t, cs, c.tool, c.args); !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s(%.80v) = %q (error %v), want a tool error mentioning %q", c.tool, c.args, text, isErr, c.want)
		}
	}
}

// TestDowngradeGate_Configured serves a gate of other rules: its
// description names its modes, and its weak list and forcing apply.
func TestDowngradeGate_Configured(t *testing.T) {
	g, err := matrix.NewGate(matrix.GateConfig{FullMode: "rich", IsolationMode: "lean", Modes: []string{"rich", "lean"}, WeakModels: []string{"tiny"}, ForceFull: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range reviewTools(&Backends{Gate: g}) {
		if tool.Name == "downgrade_gate" && (!strings.Contains(tool.Description, "asking for rich") || !strings.Contains(tool.Description, "switched to lean") || !strings.Contains(tool.Description, "Modes: rich, lean.")) {
			t.Errorf("description = %s", tool.Description)
		}
	}
	cs := reviewSession(t, &Backends{Gate: g})
	d, text, isErr := reviewCall[downgradeGateOut](t, cs, "downgrade_gate", map[string]any{"mode": "rich", "model": "claude-opus-4"})
	if isErr || d.Mode != "rich" || d.Rule != matrix.RuleForceFull {
		t.Errorf("forced full enrichment: %+v %s", d, text)
	}
}
