package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func traceUIDs(out map[string]any) []string {
	var uids []string
	for _, t := range out["traces"].([]any) {
		uids = append(uids, t.(map[string]any)["uid"].(string))
	}
	return uids
}

func TestPathwayMemory(t *testing.T) {
	dataDir := t.TempDir()
	cfg := testConfig(t, dataDir)
	cfg.Pathway.MaxContentBytes = 1000
	cfg.Pathway.CompactBytes = 2 << 10 // the restart opens a snapshot and the log after it
	cs, closeSession := session(t, cfg, nil)

	first := call(t, cs, "add_trace", map[string]any{
		"content": map[string]any{"tried": "retry the upload with exponential backoff", "result": "still timed out"},
		"text":    "uploads to the archive time out; backoff did not help", "tags": []string{"upload", "archive"},
	})
	uid := first["uid"].(string)
	if first["replayed"] != false || first["replay_count"] != nil || len(uid) == 0 {
		t.Errorf("add_trace = %v", first)
	}
	call(t, cs, "add_trace", map[string]any{"content": "the nightly report job needs the sales dataset", "text": "nightly report depends on sales data", "tags": []string{"reports"}, "uid": "report-1"})
	again := call(t, cs, "add_trace", map[string]any{"content": "something else", "uid": "report-1"})
	if again["replayed"] != true || again["replay_count"] != 1.0 || again["content"] != "the nightly report job needs the sales dataset" {
		t.Errorf("replay = %v", again)
	}

	// Content comes back byte for byte: big integers exact, keys in order.
	exact := json.RawMessage(`{"id":9007199254740993,"b":1,"a":[0.1,"x"]}`)
	kept := call(t, cs, "add_trace", map[string]any{"content": exact})
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_trace", Arguments: map[string]any{"uid": kept["uid"]}})
	if err != nil || !strings.Contains(contentText(res), "content:\n  id: 9007199254740993\n  b: 1\n  a: 0.1, x\n") {
		t.Errorf("get_trace = %s, %v; want content %s in its text, every digit, keys in order", contentText(res), err, exact)
	}

	// Revise twice, then read the chain from its middle.
	second := call(t, cs, "revise_trace", map[string]any{"predecessor_uid": uid, "content": map[string]any{"tried": "split uploads into 8 MiB parts", "result": "works"}, "text": "uploads to the archive work when split into parts"})
	third := call(t, cs, "revise_trace", map[string]any{"predecessor_uid": second["uid"], "content": map[string]any{"tried": "parts of 16 MiB", "result": "faster"}})
	if third["text"] != "uploads to the archive work when split into parts" || third["predecessor_uid"] != second["uid"] {
		t.Errorf("revision = %v", third)
	}
	hist := call(t, cs, "trace_history", map[string]any{"uid": second["uid"]})
	if c := hist["traces"].([]any)[0].(map[string]any); c["content_bytes"] != nil || c["content"] == nil || c["content_omitted"] != nil {
		t.Errorf("history entry = %v, want its small content, and no size (only an omitted content's)", c)
	}
	chain := hist["traces"].([]any)
	if len(chain) != 3 || chain[0].(map[string]any)["uid"] != uid || chain[1].(map[string]any)["asked"] != true || hist["tip_uid"] != third["uid"] {
		t.Errorf("history = %v", hist)
	}
	if msg := callErr(t, cs, "revise_trace", map[string]any{"predecessor_uid": uid, "content": "again"}); !strings.Contains(msg, second["uid"].(string)) {
		t.Errorf("revising a superseded trace: %q, want it to name the successor", msg)
	}

	// Search by words of the text finds the latest revision only.
	found := call(t, cs, "search_traces", map[string]any{"query": "archive upload split into parts"})
	if got := traceUIDs(found); len(got) == 0 || got[0] != third["uid"] {
		t.Errorf("search = %v, want %s first", got, third["uid"])
	}
	for _, u := range traceUIDs(found) {
		if u == uid || u == second["uid"] {
			t.Errorf("superseded trace %s in search results", u)
		}
	}
	if got := traceUIDs(call(t, cs, "search_traces", map[string]any{"query": "archive uploads", "include_superseded": true})); len(got) < 3 {
		t.Errorf("search with superseded = %v", got)
	}

	// Retired traces leave search but stay readable.
	call(t, cs, "retire_trace", map[string]any{"uid": "report-1", "reason": "the report was discontinued"})
	if got := traceUIDs(call(t, cs, "search_traces", map[string]any{"tags_any": []string{"reports"}})); len(got) != 0 {
		t.Errorf("retired trace found: %v", got)
	}
	if got := traceUIDs(call(t, cs, "search_traces", map[string]any{"tags_any": []string{"reports"}, "include_retired": true})); len(got) != 1 {
		t.Errorf("include_retired = %v", got)
	}
	if got := call(t, cs, "get_trace", map[string]any{"uid": "report-1"}); got["retired"] != true || got["retired_reason"] != "the report was discontinued" {
		t.Errorf("get retired = %v", got)
	}
	if msg := callErr(t, cs, "update_trace", map[string]any{"uid": "report-1", "text": "x"}); !strings.Contains(msg, "retired") {
		t.Errorf("update of a retired trace: %q", msg)
	}

	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"add_trace", map[string]any{"text": "no content"}, `missing argument "content"`},
		{"search_traces", map[string]any{"query": "???"}, "give words"},
		{"add_trace", map[string]any{"content": nil}, "content is required"},
		{"add_trace", map[string]any{"content": strings.Repeat("x", 2000)}, "1000"},
		{"add_trace", map[string]any{"content": 1, "tags": make([]string, 40)}, "32"},
		{"add_trace", map[string]any{"content": 1, "tags": []string{strings.Repeat("t", 65)}}, "64"},
		{"get_trace", map[string]any{"uid": "nope"}, "nope"},
		{"update_trace", map[string]any{"uid": "nope", "text": "x"}, "nope"},
		{"revise_trace", map[string]any{"predecessor_uid": "", "content": 1}, "predecessor_uid"},
		{"trace_history", map[string]any{"uid": "nope"}, "nope"},
		{"search_traces", map[string]any{"cursor": "garbage"}, "cursor"},
	} {
		if msg := callErr(t, cs, c.tool, c.args); !strings.Contains(msg, c.want) {
			t.Errorf("%s(%v) = %q, want it to mention %q", c.tool, c.args, msg, c.want)
		}
	}

	check := func(st map[string]any) {
		t.Helper()
		if st["total"] != 5.0 || st["active"] != 2.0 || st["retired"] != 1.0 || st["superseded"] != 2.0 {
			t.Errorf("pathway_stats = %v", st)
		}
	}
	check(call(t, cs, "pathway_stats", nil))
	closeSession()
	if _, err := os.Stat(filepath.Join(dataDir, "pathway", "pathway.snap")); err != nil {
		t.Errorf("no snapshot of the trace memory: %v", err)
	}
	cs, _ = session(t, cfg, nil)
	check(call(t, cs, "pathway_stats", nil))
	if got := call(t, cs, "get_trace", map[string]any{"uid": "report-1"}); got["replay_count"] != 1.0 || got["retired"] != true {
		t.Errorf("after restart, report-1 = %v, want it replayed once and retired", got)
	}
	if got := traceUIDs(call(t, cs, "search_traces", map[string]any{"query": "split uploads"})); len(got) == 0 || got[0] != third["uid"] {
		t.Errorf("search after restart = %v", got)
	}
	// The observer saw the pathway calls too.
	ev := call(t, cs, "list_events", map[string]any{"tool": "add_trace", "success": false})
	if n := len(ev["events"].([]any)); n != 5 {
		t.Errorf("failed add_trace events = %d, want 5", n)
	}
}
