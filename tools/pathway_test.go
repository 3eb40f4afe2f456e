package tools

import (
	"strings"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/pathway"
)

// TestSearchTracesSession drives search_traces' modes and min_score
// through an MCP client session.
func TestSearchTracesSession(t *testing.T) {
	emb, err := embed.New(embed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pathway.Open(t.TempDir(), emb, pathway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	cs := connect(t, All(&Backends{Pathway: pw, Embed: emb}), nil)

	uids := map[string]string{}
	for key, text := range map[string]string{
		"e0425": "rustc failed with error E0425: cannot find value in this scope",
		"e0308": "rustc failed with error E0308: mismatched types in this function",
		"fever": "the physician prescribed medicine for the fever",
	} {
		out, _ := matrixCall(t, cs, "add_trace", map[string]any{"content": map[string]any{"k": key}, "text": text, "tags": []string{"note"}}, false)
		uids[key] = out["uid"].(string)
	}
	found := func(args map[string]any) []string {
		t.Helper()
		out, _ := matrixCall(t, cs, "search_traces", args, false)
		var got []string
		for _, tr := range out["traces"].([]any) {
			got = append(got, tr.(map[string]any)["uid"].(string))
		}
		return got
	}
	if got := found(map[string]any{"query": "E0425", "mode": "lexical"}); len(got) != 1 || got[0] != uids["e0425"] {
		t.Errorf("lexical E0425 = %v; want %s alone", got, uids["e0425"])
	}
	if got := found(map[string]any{"query": "doctor gave drugs", "mode": "dense"}); len(got) == 0 || got[0] != uids["fever"] {
		t.Errorf("dense paraphrase = %v; want %s first", got, uids["fever"])
	}
	// The default, hybrid, finds both; min_score drops the weak hits.
	for q, want := range map[string]string{"E0425": uids["e0425"], "doctor gave drugs": uids["fever"]} {
		if got := found(map[string]any{"query": q}); len(got) != 3 || got[0] != want {
			t.Errorf("hybrid %q = %v; want all three, %s first", q, got, want)
		}
	}
	if got := found(map[string]any{"query": "E0425", "min_score": 0.2}); len(got) != 1 || got[0] != uids["e0425"] {
		t.Errorf("hybrid E0425, min_score 0.2 = %v; want %s alone", got, uids["e0425"])
	}
	if _, text := matrixCall(t, cs, "search_traces", map[string]any{"query": "E0425", "mode": "bm25"}, true); !strings.Contains(text, "unknown search mode") {
		t.Errorf("bad mode: %q", text)
	}
}
