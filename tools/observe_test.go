package tools

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse/backends/observer"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
)

func TestSummaries(t *testing.T) {
	args := json.RawMessage(`{"key":"notes/a.txt","content":"top secret words","api_key":"sk-123","filter":{"lang":"en","auth_token":"x"},"query_vector":[0.1,0.2,0.3],"k":5}`)
	got := summarize(args)
	want := `api_key=[redacted] content=<16 bytes> filter={auth_token=[redacted] lang="en"} k=5 key="notes/a.txt" query_vector=<3 items>`
	if got != want {
		t.Errorf("summarize =\n%s\nwant\n%s", got, want)
	}
	if got := summarize(json.RawMessage(`{"sql":"` + strings.Repeat("x", 1000) + `"}`)); len(got) > observer.MaxSummary {
		t.Errorf("summary of %d bytes", len(got))
	}
	if got := summarize(json.RawMessage(`not json`)); got != "not json" {
		t.Errorf("summary of a non-object = %q", got)
	}

	out := summarizeOutput(&getObjectOut{Info: store.Info{Key: "a.txt", Size: 12}, Content: "private text"})
	if strings.Contains(out, "private") || !strings.Contains(out, "content=<12 bytes>") || !strings.Contains(out, `key="a.txt"`) {
		t.Errorf("summarizeOutput = %s", out)
	}
	if got := summarizeOutput(searchOut{Index: "i", Hits: make([]vector.Hit, 3)}); got != `hits=[3 items] index="i"` {
		t.Errorf("summarizeOutput of hits = %s", got)
	}
}
